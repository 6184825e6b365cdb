import { dropReady, markActivated, materialise } from '../coldBranches';
import type { Engine, OpContext } from '../engine';
import { changesBeforeStop } from '../data';
import { faultPoint } from '../faults';
import { activeBranch } from '../lookup';
import type { JournalRecord } from '../journal';
import type { BranchRecord, ContainerRecord } from '../records';
import type { Recover } from './operation';

type Activate = JournalRecord<'activate'>;
/** Work an activation leaves to run in the background once it has answered. */
type Behind = Array<{ what: string; fn: () => Promise<void> }>;

/**
 * Make `target` the container's active branch. Every branch owns its volume, so
 * nothing is captured or copied: stop the active branch's database, record the
 * target as active, start its database from its own volume on the same port.
 * A cold branch (coldBranches.ts) is materialised first, while the old database serves.
 * Callers hold the container's lock.
 *
 * The old database stops at once: its shutdown checkpoint would write every page its last
 * changes dirtied, a cost that grows with the data, while its WAL already holds them.
 * That checkpoint is written after the switch, in the background (checkpoints.ts).
 *
 * Journal steps: `begin` (the old database may be down) rolls back to the old
 * branch; `switched` (the target is recorded active) rolls forward.
 */
export async function activateBranch(ctx: OpContext, c: ContainerRecord, wanted: BranchRecord): Promise<void> {
  const { engine } = ctx;
  const from = activeBranch(engine, c);
  if (from.id === wanted.id) return;
  // Deletions (a victim's spare, a ready snapshot) sweep the chunk store: they go after the
  // switch, not beside the start the user waits for.
  const behind: Behind = [];
  try {
    await activate(ctx, c, from, wanted, behind);
  } finally {
    for (const { what, fn } of behind) engine.background(what, fn);
  }
}

async function activate(ctx: OpContext, c: ContainerRecord, from: BranchRecord, wanted: BranchRecord,
  behind: Behind): Promise<void> {
  const { engine, progress, caller } = ctx;
  const { branch: target, finish } = await materialise(ctx, c, wanted); // the same record when it has its volume
  if (finish) behind.push({ what: 'ending a materialisation', fn: finish });
  await engine.checkpoints.written(target.volumeId); // left by a switch moments ago: still checkpointing
  let ready: string | undefined;
  const journal = engine.store.tx(() => {
    ready = dropReady(engine, target.id);
    return engine.journalBeginIn('activate', { containerId: c.id, fromId: from.id, toId: target.id });
  });
  if (ready) behind.push({ what: `releasing the ready snapshot of branch ${target.name}`, fn: () => engine.releaseSnapshots([ready!]) });
  // Blocks: what the database says of its changed pages while it runs, noted after the stop, so
  // that the capture ahead of the branch it leaves reads only those (coldBranches.ts).
  const changes = engine.driver.noteStopped ? await changesBeforeStop(engine, c, from.volumeId) : undefined;
  progress.report(`stopping branch "${from.name}"`, 10);
  try {
    await engine.stopDatabase(c, { volumeId: from.volumeId, immediate: true });
  } catch (err) {
    await rollBack(engine, journal);
    throw err;
  }
  switchTo(engine, journal, target.id);
  await faultPoint('activate:after-stop');
  progress.report(`starting branch "${target.name}" on port ${c.port}`, 50);
  try {
    await engine.startDatabase(engine.store.container(c.id)!);
  } catch (err) {
    if (engine.stopping) throw err; // the next engine start rolls forward
    progress.report(`that failed; starting branch "${from.name}" again`);
    await rollBack(engine, journal).catch(() => undefined);
    throw err;
  }
  await faultPoint('activate:after-start');
  engine.notify('branch', c, commit(engine, journal, caller.name));
  engine.checkpoints.schedule(c, from.volumeId, changes);
  engine.spares.schedule(target.id); // a no-op when its spare is ready
  engine.cold.schedule(c.id); // the branch left may now be one too many to keep materialised
}

/** Record `branchId` as active, in the transaction that moves the journal to `switched`
 *  (or back to `begin`, when it is the old branch again). */
function switchTo(engine: Engine, journal: Activate, branchId: string): void {
  engine.store.tx(() => {
    const c = engine.store.container(journal.data.containerId)!;
    engine.store.putContainer({ ...c, activeBranchId: branchId });
    engine.journalStepIn(journal, branchId === journal.data.toId ? 'switched' : 'begin');
  });
}

function commit(engine: Engine, journal: Activate, user: string) {
  return engine.store.tx(() => {
    const c = engine.store.container(journal.data.containerId)!;
    const to = engine.store.branch(journal.data.toId)!;
    markActivated(engine, [journal.data.fromId, to.id]);
    engine.journalEnd(journal);
    return engine.appendEvent(c, user, 'branch-activated', to.name);
  });
}

/** Back to the old branch: the target's database is down (stopped if it came up), the old
 *  branch is recorded active and its database runs. */
async function rollBack(engine: Engine, journal: Activate): Promise<void> {
  const c = engine.store.container(journal.data.containerId)!;
  const to = engine.store.branch(journal.data.toId);
  if (to) await engine.stopDatabase(c, { volumeId: to.volumeId });
  switchTo(engine, journal, journal.data.fromId);
  engine.store.tx(() => engine.journalEnd(journal));
  await engine.startDatabase(engine.store.container(c.id)!);
}

/** Before the switch was recorded: the old branch stays active. After: make sure the old
 *  database is down (two postmasters cannot share the port) and finish on the target. */
export const recoverActivate: Recover<'activate'> = async (engine, journal) => {
  const c = engine.store.container(journal.data.containerId);
  if (!c) return engine.store.tx(() => engine.journalEnd(journal));
  if (journal.step !== 'switched') return rollBack(engine, journal);
  const from = engine.store.branch(journal.data.fromId);
  if (from) await engine.stopDatabase(c, { volumeId: from.volumeId });
  await engine.startDatabase(c);
  commit(engine, journal, 'engine (recovery)');
};
