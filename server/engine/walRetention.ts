import * as fs from 'fs';
import * as path from 'path';
import type { Engine } from './engine';
import { log } from './engine';
import { wholeNumberSetting } from './envSetting';
import type { SpanRecord } from './records';
import { Rounds } from './rounds';
import { anchorsOf, spanDir, sweepArchives } from './spans';

/**
 * How long, and how much, WAL is kept for point-in-time restores (spans.ts). Every few
 * minutes, and after each point-in-time restore, the engine drops:
 * - spans that ended before the retention window;
 * - inside a span, the anchors and archived segments older than its newest anchor at or
 *   before the window's start (replay starts there, so nothing older is read again);
 * - then, while a container's archives exceed the cap, its oldest history: ended spans first,
 *   then the current span up to its next anchor, and at last the current span's whole
 *   archive (it is restorable again from its next bookmark, restore or interval capture).
 * Bookmarks never depend on the archive: each holds the WAL it needs, so pruning never breaks
 * one. Anchors are released through Engine.releaseSnapshots, which keeps any snapshot a
 * bookmark, a branch or a journal entry still names.
 */

export interface WalLimits {
  retentionHours: number;
  /** Per container, in MiB; 0: no cap. */
  capMb: number;
  /** How often the engine captures an anchor of a running branch that wrote WAL (anchors.ts); 0: never. */
  captureSeconds: number;
}

export function walLimits(env: NodeJS.ProcessEnv): WalLimits {
  return {
    retentionHours: wholeNumberSetting('SLIPSTREAM_WAL_RETENTION_HOURS', env.SLIPSTREAM_WAL_RETENTION_HOURS, {
      fallback: 168, min: 1, kind: 'a whole number of hours, at least 1', what: 'how long a branch\'s WAL is kept for point-in-time restores',
    }),
    capMb: wholeNumberSetting('SLIPSTREAM_WAL_CAP_MB', env.SLIPSTREAM_WAL_CAP_MB, {
      fallback: 4096, min: 0, kind: 'a whole number of MiB', what: 'the most WAL kept per container for point-in-time restores; 0 no cap',
    }),
    captureSeconds: wholeNumberSetting('SLIPSTREAM_WAL_CAPTURE_SECONDS', env.SLIPSTREAM_WAL_CAPTURE_SECONDS, {
      fallback: 3600, min: 0, kind: 'a whole number of seconds', what: 'how often a running branch that wrote WAL is captured, so a point-in-time restore replays at most that much; 0 never',
    }),
  };
}

/** Archived segments this much older than the anchor replay starts from are surely not read. */
const MARGIN_MS = 60_000;
const EVERY_MS = 5 * 60_000;

export class WalRetention extends Rounds {
  constructor(engine: Engine) {
    super(engine, 'pruning WAL archives');
  }

  start(): void {
    this.every(EVERY_MS);
    this.schedule();
  }

  protected async round(): Promise<void> {
    for (const c of this.engine.store.allContainers()) {
      if (this.engine.stopping) return;
      // Not while an operation runs on it (a restore may be reading its archive); the next round
      // takes it. Its lock is not taken, so pruning never makes a user's operation Busy.
      if (!this.engine.locks.isHeld(`container:${c.id}`)) await this.prune(c.id, c.name);
    }
    await sweepArchives(this.engine);
  }

  private async prune(containerId: string, name: string): Promise<void> {
    const { retentionHours, capMb } = this.engine.config.wal;
    const cutoff = new Date(Date.now() - retentionHours * 3_600_000).toISOString();
    const spans = () => this.engine.store.allSpans().filter((s) => s.containerId === containerId)
      .sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1));
    for (const s of spans()) {
      if (s.endedAt && (s.flushedAt ?? s.endedAt) < cutoff) await this.drop(s);
      else await this.cut(s, cutoff);
    }
    if (capMb === 0) return;
    const cap = capMb * 1048576;
    for (let bytes = await this.bytesOf(spans()); bytes > cap; bytes = await this.bytesOf(spans())) {
      const [oldest, ...rest] = spans();
      const next = anchorsOf(this.engine.store, oldest)[1];
      if (oldest.endedAt && rest.length) await this.drop(oldest);
      else if (next) await this.cut(oldest, next.at);
      else {
        log(`container ${name}: its WAL archive (${(bytes / 1048576).toFixed(0)} MiB) is over the cap of ${capMb} MiB with nothing older to drop; `
          + 'the current history is restorable again from its next bookmark, restore or the engine\'s next capture of it');
        await this.clear(oldest);
        return;
      }
    }
  }

  /** Archive folder sizes of the spans, in bytes. */
  async bytesOf(spans: SpanRecord[]): Promise<number> {
    let total = 0;
    for (const s of spans) total += await archiveBytes(spanDir(this.engine, s.id));
    return total;
  }

  /** Forget a span and its anchors; its folder goes with the sweep. */
  private async drop(s: SpanRecord): Promise<void> {
    this.engine.store.tx(() => this.engine.store.removeSpan(s.id));
    await this.engine.releaseSnapshots(s.anchors.map((a) => a.snapshotId));
  }

  /** Keep the span from its newest anchor at or before `at`: older anchors and segments go. */
  private async cut(s: SpanRecord, at: string): Promise<void> {
    const from = anchorsOf(this.engine.store, s).filter((a) => a.at <= at).pop();
    if (!from) return;
    const old = s.anchors.filter((a) => a.at < from.at);
    if (old.length) {
      this.engine.store.tx(() => {
        const now = this.engine.store.span(s.id);
        if (now) this.engine.store.putSpan({ ...now, anchors: now.anchors.filter((a) => a.at >= from.at) });
      });
      await this.engine.releaseSnapshots(old.map((a) => a.snapshotId));
    }
    await removeSegments(spanDir(this.engine, s.id), Date.parse(from.at) - MARGIN_MS);
  }

  /** The span keeps going, with no anchor and no archive: restorable from its next one. */
  private async clear(s: SpanRecord): Promise<void> {
    this.engine.store.tx(() => {
      const now = this.engine.store.span(s.id);
      if (now) this.engine.store.putSpan({ ...now, anchors: [], startedAt: new Date().toISOString() });
    });
    await this.engine.releaseSnapshots(s.anchors.map((a) => a.snapshotId));
    await removeSegments(spanDir(this.engine, s.id), Date.now());
  }
}

/** The folder is the tenant's: its entries are only measured with lstat and unlinked, never followed. */
async function archiveBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
    total += await fs.promises.lstat(path.join(dir, name)).then((st) => st.size, () => 0);
  }
  return total;
}

/** Delete archived WAL segments last written before `beforeMs` (timeline history files stay: replay reads them). */
async function removeSegments(dir: string, beforeMs: number): Promise<void> {
  for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
    if (name.endsWith('.history')) continue;
    const file = path.join(dir, name);
    const st = await fs.promises.lstat(file).catch(() => undefined);
    if (st && st.mtimeMs < beforeMs) await fs.promises.unlink(file).catch(() => undefined);
  }
}

export { archiveBytes };
