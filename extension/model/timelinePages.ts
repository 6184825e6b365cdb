/**
 * The pages of one container's timeline that the panel has read from the
 * engine. The newest page is read again at every change; the older pages the
 * user asked for stay, so a live update adds new events at the top without
 * dropping what was loaded. Pure (no vscode), so node:test checks it.
 */
import type { TimelineEvent, TimelinePage } from '../../server/protocol';

export class TimelinePages {
  private containerId: string | undefined;
  private readonly bySeq = new Map<number, TimelineEvent>();
  /** The `before` for the next older page; undefined once the oldest event is loaded. */
  private cursor: number | undefined;

  /** The container whose events these are (its id: a container deleted and made again under
   *  the same name starts a new timeline). */
  get container(): string | undefined {
    return this.containerId;
  }

  /** Every event loaded, newest first. */
  get events(): TimelineEvent[] {
    return [...this.bySeq.values()].sort((a, b) => b.seq - a.seq);
  }

  /** The `before` to ask for the next older page with, when older events are left. */
  get older(): number | undefined {
    return this.cursor;
  }

  /**
   * Where to read next so that freshly read newest pages (newest first, in the order read)
   * join the events already loaded: the `before` of the last page, while it has not yet
   * reached the newest event kept; undefined when nothing more is needed.
   */
  gap(containerId: string, pages: readonly TimelinePage[]): number | undefined {
    if (containerId !== this.containerId || this.bySeq.size === 0) return undefined;
    const last = pages[pages.length - 1];
    if (last?.before === undefined) return undefined;
    const keptNewest = Math.max(...this.bySeq.keys());
    return last.before > keptNewest ? last.before : undefined;
  }

  /** Take the newest pages just read (see gap). Another container's pages replace what was loaded. */
  takeNewest(containerId: string, pages: readonly TimelinePage[]): void {
    if (containerId !== this.containerId) {
      this.containerId = containerId;
      this.bySeq.clear();
      this.cursor = pages[pages.length - 1]?.before;
    }
    // Same container: the older pages loaded stay, and so does the cursor below them.
    for (const page of pages) this.add(page.events);
  }

  /** Take an older page read with `before: older`. False (and nothing taken) when it is stale:
   *  read for another container, or for a cursor that has moved on meanwhile. */
  takeOlder(containerId: string, before: number, page: TimelinePage): boolean {
    if (containerId !== this.containerId || before !== this.cursor) return false;
    this.add(page.events);
    this.cursor = page.before;
    return true;
  }

  private add(events: readonly TimelineEvent[]): void {
    for (const e of events) this.bySeq.set(e.seq, e);
  }
}
