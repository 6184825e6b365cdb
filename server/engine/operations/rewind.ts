import type { EventKind } from '../../protocol';
import { changesBeforeStop, cloneInto, dropVolume, dropVolumes } from '../data';
import { log, type Engine, type OpContext, type Progress } from '../engine';
import { EngineError } from '../errors';
import { faultPoint } from '../faults';
import type { ChangesSoFar } from '../postgres/walSummaries';
import { newId } from '../ids';
import { activeBranch } from '../lookup';
import type { JournalRecord } from '../journal';
import type { ContainerRecord, EventRecord } from '../records';
import type { Recover } from './operation';
import { abandonSpanIn, beginSpanIn, currentSpan, flushWal, spanDir } from '../spans';
import { shellWord } from '../startFailure';
import { writeRecoverySignal, type Recovery } from '../postgres/walArchive';

type RewindOp = 'restore' | 'reset' | 'refresh';
type Rewind = JournalRecord<RewindOp>;

/**
 * Replace the active branch's data with a snapshot: the shared core of restore
 * (a bookmark's), reset (the last operation's) and refresh (the template's
 * latest). The snapshot is cloned into a new volume while the old database
 * still runs; then the old database stops at once (its data is being
 * discarded), the branch points at the new volume and its database starts:
 * the downtime is about one start. The old volume goes last. A ready spare of the snapshot
 * (spares.ts) is taken instead of the clone, which makes the rewind a swap; the spare is
 * rebuilt in the background afterwards.
 *
 * A driver whose new volume would be a full copy (blocks) restores in place instead: the
 * database stops first, and its own volume is rewritten where it differs from the snapshot,
 * which the WAL says page by page (volumes/blocks.ts). The journal then names the same
 * volume as old and new. The data being replaced is gone once writing starts, so a start
 * that fails cannot go back to it.
 */
export interface RewindPlan {
  op: RewindOp;
  event: EventKind;
  snapshotId: string;
  extra?: Pick<EventRecord, 'bookmark' | 'detail'>;
  /** refresh moves the container to this template version. */
  templateVersion?: number;
  /** A point-in-time restore: the snapshot is an anchor of this span, whose WAL is replayed on
   *  it up to `moment` before the database opens (spans.ts, postgres/walArchive.ts). */
  replay?: { spanId: string; moment: string };
}

/**
 * Journal steps, and what recovery does at each:
 *   begin     the new volume may be half-made: build it again and go on (drop it if that fails);
 *             a spare (fromSpare) is complete and was never started: go on with it
 *   switched  the branch points at the new volume: start its database, record the result
 *   committed the result is recorded: delete the old volume
 * So a crash loses nothing and leaves no volume that no record names.
 */
export async function rewind(ctx: OpContext, c: ContainerRecord, plan: RewindPlan): Promise<void> {
  const { engine, caller, progress } = ctx;
  const branch = activeBranch(engine, c);
  const spare = branch.spare?.snapshotId === plan.snapshotId ? branch.spare : undefined;
  const rewrite = !spare && engine.driver.restoresInPlace;
  if (rewrite) progress.report('finding the pages changed since the last capture');
  const changes = rewrite ? await changesBeforeStop(engine, c, branch.volumeId) : undefined;
  const journal = engine.store.tx(() => {
    // A spare taken moves from the branch record to the journal entry in one transaction.
    if (spare) engine.store.putBranch({ ...branch, spare: undefined });
    return engine.journalBeginIn(plan.op, {
      containerId: c.id, branchId: branch.id, snapshotId: plan.snapshotId, event: plan.event,
      oldVolumeId: branch.volumeId, newVolumeId: spare?.volumeId ?? (rewrite ? branch.volumeId : newId('vol')), fromSpare: Boolean(spare),
      templateVersion: plan.templateVersion, detail: plan.extra?.detail,
      bookmarkId: plan.extra?.bookmark?.id, bookmarkName: plan.extra?.bookmark?.name,
      newSpanId: newId('span'), replaySpanId: plan.replay?.spanId, moment: plan.replay?.moment,
    });
  });
  try {
    await build(engine, journal, progress, changes);
  } catch (err) {
    throw await failed(engine, journal, err);
  }
  await swap(engine, journal, progress, caller.name);
  engine.spares.schedule(branch.id); // taken, or its snapshot is the new base: build the next one
}

/** The volume is rewritten where it is, not replaced. */
function inPlace(journal: Rewind): boolean {
  return journal.data.oldVolumeId === journal.data.newVolumeId;
}

/** Clone the snapshot into the new volume; the old database keeps serving meanwhile. A spare
 *  already holds it. In place, the database stops first. */
async function build(engine: Engine, journal: Rewind, progress: Progress, changes?: ChangesSoFar): Promise<void> {
  const c = engine.store.container(journal.data.containerId)!;
  if (journal.data.fromSpare) {
    progress.report('swapping in the ready spare');
    log(`container ${c.owner}/${c.name}: ${journal.op} swaps in the ready spare ${journal.data.newVolumeId}`);
    await faultPoint('spare:before-swap');
    return replayOnStart(engine, c, journal);
  }
  if (inPlace(journal)) {
    progress.report('archiving the WAL written so far');
    await flushWal(engine, c, journal.data.oldVolumeId);
    progress.report('stopping the database');
    await engine.stopDatabase(c, { volumeId: journal.data.oldVolumeId, immediate: true });
    await engine.checkpoints.written(journal.data.oldVolumeId); // no background checkpoint of it may still run
  }
  await cloneInto(engine, c, journal.data.newVolumeId, journal.data.snapshotId, progress, changes);
  await faultPoint('rewind:after-clone');
  await replayOnStart(engine, c, journal);
}

/** A point-in-time restore's new volume replays the span's WAL at its first start. */
async function replayOnStart(engine: Engine, c: ContainerRecord, journal: Rewind): Promise<void> {
  if (journal.data.replaySpanId) await writeRecoverySignal(engine.driver.volumePath(journal.data.newVolumeId), engine.ownerOf(c));
}

/** What the first start of the new volume replays, for a point-in-time restore. */
function replayOf(engine: Engine, journal: Rewind): Recovery | undefined {
  const { replaySpanId, moment } = journal.data;
  return replaySpanId && moment ? { fromDir: spanDir(engine, replaySpanId), target: moment } : undefined;
}

/** Stop the old database, point the branch at the new volume, start it, record, clean up.
 *  A start that fails goes back to the old volume, unless the engine is stopping: then
 *  the next start finishes from the journal. */
async function swap(engine: Engine, journal: Rewind, progress: Progress, user: string): Promise<void> {
  const c = engine.store.container(journal.data.containerId)!;
  if (!inPlace(journal)) {
    progress.report('archiving the WAL written so far');
    await flushWal(engine, c, journal.data.oldVolumeId);
  }
  progress.report('stopping the database');
  // Its data is being thrown away, so no shutdown checkpoint; this also ends the tenant's programs.
  await engine.stopDatabase(c, { volumeId: journal.data.oldVolumeId, immediate: true });
  pointBranchAt(engine, journal, 'newVolumeId', 'switched');
  await faultPoint('load:before-start');
  progress.report(journal.data.moment ? `replaying the WAL up to ${journal.data.moment} and starting the database on port ${c.port}`
    : `starting the database on port ${c.port}`);
  try {
    await engine.startDatabase(c, undefined, replayOf(engine, journal));
  } catch (err) {
    if (engine.stopping) throw err;
    progress.report('that failed; putting the previous data back');
    throw await failed(engine, journal, err);
  }
  await commit(engine, journal, user);
  // The database runs on the new data and the result is recorded: answer now. Deleting the
  // old volume (seconds for a large one on blocks) goes on behind; its journal entry keeps
  // naming it, so an engine stop or a crash meanwhile leaves it for the next start.
  const what = inPlace(journal) ? `ending the ${journal.op}` : `deleting the old volume ${journal.data.oldVolumeId}`;
  engine.background(what, () => cleanUp(engine, journal));
}

/** Point the active branch at one of the journal's two volumes, with the journal's step. */
function pointBranchAt(engine: Engine, journal: Rewind, which: 'oldVolumeId' | 'newVolumeId', step: Rewind['step']): void {
  engine.store.tx(() => {
    const branch = engine.store.branch(journal.data.branchId)!;
    engine.store.putBranch({ ...branch, volumeId: journal.data[which] });
    const spanId = journal.data.newSpanId;
    // The new data begins a span: from the snapshot, or (a point-in-time restore) from the
    // capture the operation takes once the replay is done.
    if (spanId && which === 'newVolumeId') beginSpanIn(engine.store, branch, spanId, journal.data.replaySpanId ? undefined : { snapshotId: journal.data.snapshotId });
    if (spanId && which === 'oldVolumeId') abandonSpanIn(engine.store, spanId);
    engine.journalStepIn(journal, step);
  });
}

/** Roll back after `err`; returns what to throw. In place, the previous data survives only
 *  when writing had not begun: then its database starts again. */
async function failed(engine: Engine, journal: Rewind, err: unknown): Promise<unknown> {
  const restarted = await rollBack(engine, journal).then(() => true, () => false);
  if (restarted || !inPlace(journal)) return err;
  const message = `${(err as Error).message}. The ${journal.op} was rewriting the branch's data in place, so its previous data is gone `
    + `and its database cannot start on what is there now: ${wayBack(engine, journal)}`;
  return new EngineError(err instanceof EngineError ? err.code : 'VolumeFailed', message);
}

/** What brings the branch's data back after an in-place rewind failed. Its old history's WAL was
 *  flushed to the archive before the rewrite (rollBack made that span current again), so a
 *  restore to the moment of that flush rebuilds the data as it was. A flush older than this
 *  operation (this one's failed) would miss what came after it: then only the general advice. */
function wayBack(engine: Engine, journal: Rewind): string {
  const c = engine.store.container(journal.data.containerId);
  const flushedAt = c && currentSpan(engine.store, journal.data.branchId)?.flushedAt;
  if (!c || !flushedAt || flushedAt < journal.startedAt) return 'run the restore again, or restore another bookmark';
  return `its history up to ${flushedAt} is still archived, so \`slipstream restore --at ${flushedAt} --container ${shellWord(c.name)}\` `
    + 'brings back the data it had; or restore a bookmark';
}

/** Drop the new volume and run the old one: the rewind never happened. */
async function rollBack(engine: Engine, journal: Rewind): Promise<void> {
  const c = engine.store.container(journal.data.containerId)!;
  const newVolumeId = journal.data.newVolumeId;
  await engine.stopDatabase(c, { volumeId: newVolumeId, immediate: true });
  journal.data = { ...journal.data, fromSpare: false }; // it may have been started: never reuse it as a spare
  pointBranchAt(engine, journal, 'oldVolumeId', 'begin');
  if (!inPlace(journal)) await dropVolume(engine, c, newVolumeId);
  engine.store.tx(() => engine.journalEnd(journal));
  await engine.startDatabase(engine.store.container(c.id)!);
}

/** Record the result; the journal ends only once cleanUp has deleted the old volume. */
async function commit(engine: Engine, journal: Rewind, user: string): Promise<void> {
  const d = journal.data;
  let oldBase = '';
  const event = engine.store.tx(() => {
    const c = engine.store.container(d.containerId)!;
    const branch = engine.store.branch(d.branchId)!;
    oldBase = branch.baseSnapshotId;
    engine.store.putBranch({ ...branch, baseSnapshotId: d.snapshotId, rewound: true });
    if (typeof d.templateVersion === 'number') engine.store.putContainer({ ...c, templateVersion: d.templateVersion });
    engine.journalStepIn(journal, 'committed', { oldBaseId: oldBase });
    const bookmark = d.bookmarkId ? { id: d.bookmarkId, name: d.bookmarkName ?? '' } : undefined;
    return engine.appendEvent(c, user, d.event, branch.name, { bookmark, detail: d.detail, ...(d.moment ? { moment: d.moment } : {}) });
  });
  engine.notify('branch', engine.store.container(d.containerId), event);
  await faultPoint('rewind:after-commit');
}

/** Delete the old volume, then end the entry. The container may have been deleted since the
 *  commit (this runs after the lock is released): its volume is still this entry's to delete. */
async function cleanUp(engine: Engine, journal: Rewind): Promise<void> {
  if (!inPlace(journal)) await dropVolumes(engine, journal.data.containerId, [journal.data.oldVolumeId]);
  engine.store.tx(() => engine.journalEnd(journal));
  // Set at `committed`, which every way here passes.
  if (journal.data.oldBaseId) await engine.releaseSnapshots([journal.data.oldBaseId]);
}

const quiet: Progress = { report: () => undefined };

export const recoverRewind: Recover<RewindOp> = async (engine, journal) => {
  if (journal.step === 'committed') return cleanUp(engine, journal);
  const c = engine.store.container(journal.data.containerId);
  if (!c || !engine.store.branch(journal.data.branchId)) {
    return engine.store.tx(() => engine.journalEnd(journal));
  }
  const user = 'engine (recovery)';
  if (journal.step === 'switched') {
    // The old database was stopped before the switch was recorded; make sure, then go on.
    await engine.stopDatabase(c, { volumeId: journal.data.oldVolumeId, immediate: true });
    await engine.startDatabase(c, undefined, replayOf(engine, journal));
    await commit(engine, journal, user);
    return cleanUp(engine, journal);
  }
  try {
    await build(engine, journal, quiet); // a restore into a half-made volume finishes it
  } catch (err) {
    await rollBack(engine, journal);
    throw err;
  }
  await swap(engine, journal, quiet, user);
};
