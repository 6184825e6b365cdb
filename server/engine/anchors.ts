import { captureVolume } from './data';
import { log, type Engine } from './engine';
import { newId } from './ids';
import { activeBranch } from './lookup';
import { recoverBookmarkCreate } from './operations/bookmarkCreate';
import * as cluster from './postgres/cluster';
import { isLsn, lsnValue } from './postgres/walSummaries';
import type { ContainerRecord } from './records';
import { Rounds } from './rounds';
import { addAnchorIn, anchorsOf, currentSpan } from './spans';

/**
 * The anchors the engine captures by itself (spans.ts): snapshots a point-in-time restore can
 * start its replay from, besides each span's first snapshot and the user's bookmarks.
 * - After a point-in-time restore, the rebuilt data: the new span's first anchor and the
 *   branch's reset point (restoreToMoment.ts).
 * - Every SLIPSTREAM_WAL_CAPTURE_SECONDS, each running active branch whose newest anchor is
 *   older than that and that wrote WAL since: a replay then never starts further back than
 *   the interval, and retention (walRetention.ts) can cut a long-lived span there instead of
 *   keeping its WAL from the start. A span with no anchor at all (over the cap, its archive
 *   was cleared) gets one at the next round, which makes it restorable again.
 */

/** Less new WAL than this replays in a moment: a capture would only cost a snapshot. */
const MIN_NEW_WAL = 1 << 20;

/** Capture the active branch's data as an anchor of its current span, under the container's
 *  lock (the caller holds it). Journaled as a bookmark's capture: a crash before it is
 *  recorded drops the snapshot. A failure is logged: the data itself is safe either way. */
export async function captureAnchor(engine: Engine, containerId: string, opts: { resetPoint: boolean; why: string }): Promise<void> {
  const c = engine.store.container(containerId);
  if (!c) return;
  const branch = activeBranch(engine, c);
  const span = currentSpan(engine.store, branch.id);
  if (!span || branch.cold) return;
  const snapshotId = newId('snap');
  const journal = engine.journalBegin('bookmark-create', { containerId: c.id, snapshotId });
  let captured;
  try {
    captured = await captureVolume(engine, c, snapshotId, { report: () => undefined });
  } catch (err) {
    await recoverBookmarkCreate(engine, journal).catch(() => undefined);
    log(`container ${c.name}: the capture ${opts.why} failed; its history is restorable from its previous anchor or its next bookmark: ${(err as Error).message}`);
    return;
  }
  const oldBase = branch.baseSnapshotId;
  engine.store.tx(() => {
    addAnchorIn(engine.store, span.id, { snapshotId, at: captured.asOf, ...(captured.lsn ? { lsn: captured.lsn } : {}) });
    if (opts.resetPoint) engine.store.putBranch({ ...engine.store.branch(branch.id)!, baseSnapshotId: snapshotId });
    engine.journalEnd(journal);
  });
  log(`container ${c.name}: captured an anchor ${opts.why} (${captured.consistency}, as of ${captured.asOf})`);
  if (opts.resetPoint) {
    await engine.releaseSnapshots([oldBase]);
    engine.spares.schedule(branch.id);
  }
}

/** Seconds between the engine's own captures of a running branch; 0: none. */
export class IntervalCapture extends Rounds {
  /** Per current span: its newest anchor when first looked at, and the WAL position then. */
  private readonly seen = new Map<string, { snapshotId: string; lsn: bigint }>();

  constructor(engine: Engine) {
    super(engine, 'the engine\'s capture round');
  }

  start(): void {
    const seconds = this.engine.config.wal.captureSeconds;
    // Look twice per interval (at most once a minute): an anchor is at most 1.5 intervals old.
    if (seconds) this.every(Math.min(seconds * 500, 60_000));
  }

  protected async round(): Promise<void> {
    this.forgetEnded();
    for (const c of this.engine.store.allContainers()) {
      if (this.engine.stopping) return;
      const why = await this.due(c);
      if (!why) continue;
      // Checked again after the await: a user's operation that took the lock meanwhile goes
      // first, and this container waits for the next round. Held by background work, the
      // lock makes an operation wait for the capture rather than answer Busy.
      const key = `container:${c.id}`;
      if (this.engine.locks.isHeld(key)) continue;
      await this.engine.locks.background(key, `container "${c.name}"`, 'capture for point-in-time restores',
        () => captureAnchor(this.engine, c.id, { resetPoint: false, why }));
    }
    this.engine.walRetention.schedule(); // a new anchor may let a span be cut
  }

  /**
   * Why the active branch is due, or undefined: it runs, its newest anchor is older than the
   * interval, and it wrote WAL since. "Since" counts from the first look after that anchor,
   * not from the anchor's own position: an online capture ends by switching to a new WAL
   * segment, which moves the position by up to 16 MiB with nothing written.
   */
  private async due(c: ContainerRecord): Promise<string | undefined> {
    if (this.engine.locks.isHeld(`container:${c.id}`) || c.failure) return undefined;
    const branch = this.engine.store.branch(c.activeBranchId);
    const span = branch && !branch.cold ? currentSpan(this.engine.store, branch.id) : undefined;
    if (!span) return undefined;
    const spec = this.engine.clusterOf(c);
    if (!(await cluster.isRunning(spec))) return undefined; // a stopped database writes no WAL
    const newest = anchorsOf(this.engine.store, span).pop();
    if (!newest) return 'its history has no anchor';
    const lsn = await cluster.withLocalClient(spec, async (client) =>
      String((await client.query('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn)).catch(() => undefined);
    if (lsn === undefined || !isLsn(lsn)) return undefined;
    const seen = this.seen.get(span.id);
    if (seen?.snapshotId !== newest.snapshotId) {
      this.seen.set(span.id, { snapshotId: newest.snapshotId, lsn: lsnValue(lsn) });
      return undefined;
    }
    if (Date.now() - Date.parse(newest.at) < this.engine.config.wal.captureSeconds * 1000) return undefined;
    const since = lsnValue(lsn) - seen.lsn;
    return since >= BigInt(MIN_NEW_WAL) ? `at its interval, ${(Number(since) / 1048576).toFixed(1)} MiB of WAL after the last` : undefined;
  }

  /** Forget the spans no longer current (replaced or dropped). */
  private forgetEnded(): void {
    for (const id of this.seen.keys()) {
      const span = this.engine.store.span(id);
      if (!span || span.endedAt) this.seen.delete(id);
    }
  }
}
