import { captureVolume, loadSnapshot, loadSnapshotOrFallBack } from '../data';
import type { Engine, OpContext } from '../engine';
import { faultPoint } from '../faults';
import { newId } from '../ids';
import { activeBranch } from '../lookup';
import type { BranchRecord, ContainerRecord, JournalRecord } from '../records';
import type { Recover } from './operation';

/**
 * Make `target` the container's active branch: stop the database, capture the
 * current branch's data as its head, load the target's head into the same
 * volume and start the database again on the same port. Callers hold the
 * container's lock.
 */
export async function activateBranch(ctx: OpContext, c: ContainerRecord, target: BranchRecord): Promise<void> {
  const { engine, progress, caller } = ctx;
  const from = activeBranch(engine, c);
  if (from.id === target.id) return;
  const captureId = newId('snap');
  const journal = engine.journalBegin('activate', { containerId: c.id, fromId: from.id, toId: target.id, captureId });
  progress.report(`saving branch "${from.name}"`, 10);
  try {
    await captureVolume(engine, c, captureId, progress, true);
  } catch (err) {
    await recoverActivate(engine, journal);
    throw err;
  }
  const oldSnaps = [from.headSnapshotId, from.baseSnapshotId];
  engine.store.tx(() => {
    engine.store.branches.putSync(from.id, { ...from, headSnapshotId: captureId, baseSnapshotId: captureId });
    journal.step = 'captured';
    engine.store.journal.putSync(journal.id, journal);
  });
  await faultPoint('activate:after-capture');
  progress.report(`loading branch "${target.name}"`, 40);
  await loadSnapshotOrFallBack(engine, c, target.headSnapshotId, captureId, progress)
    .catch((err) => { engine.store.tx(() => engine.journalEnd(journal)); throw err; });
  await faultPoint('activate:after-load');
  const event = commit(engine, journal, caller.name);
  await engine.releaseSnapshots(oldSnaps);
  engine.notify('branch', c, event);
}

function commit(engine: Engine, journal: JournalRecord, user: string) {
  return engine.store.tx(() => {
    const c = engine.store.containers.get(String(journal.data.containerId))!;
    const to = engine.store.branches.get(String(journal.data.toId))!;
    engine.store.containers.putSync(c.id, { ...c, activeBranchId: to.id });
    engine.store.branches.putSync(to.id, { ...to, baseSnapshotId: to.headSnapshotId });
    engine.journalEnd(journal);
    return engine.appendEvent(c, user, 'branch-activated', to.name);
  });
}

/** Before the capture was recorded: the volume still holds the old branch, so drop the
 *  capture and start the database. After: finish the switch. */
export const recoverActivate: Recover = async (engine, journal) => {
  const c = engine.store.containers.get(String(journal.data.containerId));
  if (!c) return engine.store.tx(() => engine.journalEnd(journal));
  if (journal.step !== 'captured') {
    engine.store.tx(() => engine.journalEnd(journal));
    await engine.releaseSnapshots([String(journal.data.captureId)]);
    await engine.startDatabase(c);
    return;
  }
  const to = engine.store.branches.get(String(journal.data.toId))!;
  await loadSnapshot(engine, c, to.headSnapshotId, { report: () => undefined });
  commit(engine, journal, 'engine (recovery)');
};
