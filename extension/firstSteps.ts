/**
 * What the user has done of the first-run walkthrough's later steps: made a
 * bookmark, restored one, shared one. Read from the engine (the user's
 * bookmarks, and the timelines of the user's containers), never kept by the
 * extension, so a step done from a terminal counts too. A fact once seen stays
 * true in this window, as a walkthrough step stays done; once all are true the
 * engine is not asked again. No `vscode`: tested under node:test.
 */
import { BookmarkListRequest, ContainerListRequest, TimelineRequest, type BookmarkInfo, type TimelineEvent } from '../server/protocol';
import { Disposable } from './util/disposable';
import { coalesce, debounce, Emitter } from './util/event';
import type { EngineFeed } from './workspace';

export interface FirstStepFacts {
  bookmarked: boolean;
  restored: boolean;
  sharedBookmark: boolean;
}

const NONE: FirstStepFacts = { bookmarked: false, restored: false, sharedBookmark: false };

/** How far back each container's timeline is read: a restore older than this was seen long ago. */
const TIMELINE_LIMIT = 500;

/** The facts in `user`'s bookmarks and in the timelines of `user`'s containers. */
export function firstStepsFrom(user: string, bookmarks: readonly BookmarkInfo[], events: readonly TimelineEvent[]): FirstStepFacts {
  const mine = bookmarks.filter((b) => b.owner === user);
  const did = (kind: TimelineEvent['kind']) => events.some((e) => e.kind === kind && e.user === user);
  return {
    bookmarked: mine.length > 0 || did('bookmark-created'),
    restored: did('restored'),
    sharedBookmark: mine.some((b) => b.shared) || did('bookmark-shared'),
  };
}

export class FirstSteps extends Disposable {
  private current: FirstStepFacts = NONE;
  private readonly emitter = this.register(new Emitter<FirstStepFacts>());
  private readonly reloadSoon = debounce(() => void this.reload(), 100);
  private readonly reloadNow = coalesce(() => this.load());
  readonly onDidChange = this.emitter.event;

  constructor(private readonly engine: EngineFeed, private readonly log: (line: string) => void = () => undefined) {
    super();
    this.register(engine.onDidChangeState(() => this.reloadSoon()));
    this.register(engine.onChanged(() => this.reloadSoon()));
    this.register({ dispose: () => this.reloadSoon.cancel() });
  }

  get facts(): FirstStepFacts {
    return this.current;
  }

  /** Reloads now unless every fact is already known; concurrent calls coalesce into one more load. */
  reload(): Promise<void> {
    return this.reloadNow();
  }

  private async load(): Promise<void> {
    const state = this.engine.state;
    if (state.kind !== 'connected' || Object.values(this.current).every(Boolean)) return;
    const user = state.status.user;
    try {
      const [bookmarks, containers] = await Promise.all([
        // Shared ones only: on a team engine "all" can be 10,000 bookmarks at every change, and a
        // bookmark made is in its container's timeline anyway.
        this.engine.request(BookmarkListRequest.type, { shared: true }),
        this.engine.request(ContainerListRequest.type, {}),
      ]);
      const timelines = await Promise.all(containers.filter((c) => c.owner === user)
        .map((c) => this.engine.request(TimelineRequest.type, { container: c.name, limit: TIMELINE_LIMIT })
          .then((page) => page.events, (): TimelineEvent[] => []))); // deleted meanwhile: its facts go with it
      const seen = firstStepsFrom(user, bookmarks, timelines.flat());
      const next = { bookmarked: this.current.bookmarked || seen.bookmarked, restored: this.current.restored || seen.restored,
        sharedBookmark: this.current.sharedBookmark || seen.sharedBookmark };
      if (JSON.stringify(next) === JSON.stringify(this.current)) return;
      this.current = next;
      this.emitter.fire(next);
    } catch (err) {
      this.log(`could not read the first steps done: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
