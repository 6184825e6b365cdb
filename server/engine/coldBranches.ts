import { captureIdleVolume, cloneInto, dropVolumes } from './data';
import type { Engine, OpContext, Progress } from './engine';
import { log } from './engine';
import { wholeNumberSetting } from './envSetting';
import { faultPoint } from './faults';
import { newId, now } from './ids';
import * as cluster from './postgres/cluster';
import type { JournalRecord } from './journal';
import type { BranchRecord, ContainerRecord } from './records';

/**
 * Cold branches (tracker issue 11). On a driver whose volumes are full copies (blocks), every
 * branch would cost a whole data directory on disk, so only the K most recently active branches
 * of a container stay materialised (`EngineConfig.warmBranches`, the active one included). The
 * others are dehydrated: captured into the chunk store with their database down, then their
 * volume and spare are deleted. Activating a cold branch materialises it first, a clone into a
 * new volume while the active database still serves, so the switch's downtime stays one stop
 * and one start. Switching between the two most recent branches (K >= 2) clones nothing.
 *
 * Dehydration runs in the background after a branch create or an activation, as spares.ts does
 * its builds: the container's lock is held only for two short synchronous steps (choose and
 * journal; record the branch cold), never for the capture, so the user's next operation is not
 * refused with Busy. An activation of the branch being captured makes it give up (`settle`).
 *
 * Ahead: when a container has K branches materialised, the least recently active inactive one
 * is the next to go cold, so the same job captures it as soon as its database is down and
 * records the capture as the branch's `ready` snapshot; the branch stays warm. Its dehydration
 * is then only a record and a deletion, and a cold branch being activated takes its volume
 * instead of a new one: the volume is rewritten in place where the two differ (blocks writes
 * only the chunks that differ), not copied whole. A branch drops its ready snapshot when it is
 * activated, since its database then changes its volume. A branch create on such a driver
 * records the new branch cold (its data is the starting snapshot), so create and activate is
 * one materialisation.
 *
 * Journal steps (`dehydrate`), and what recovery does at each:
 *   begin  the snapshot may be half-made and no branch names it: delete it (a ready one stays,
 *          the branch names it)
 *   cold   the branch names its snapshot: delete its old volume and spare
 * and (`materialise`): begin  the new volume (or the one taken from the victim, cold since the
 *                       entry began) may be half-made, the branch is still cold: delete it
 *                 warm   the branch has its volume; what is left is deleting the victim's spare
 */
export const DEFAULT_WARM_BRANCHES = 2;

/** K from the engine's environment (SLIPSTREAM_WARM_BRANCHES): a whole number, at least 1. */
export function warmBranches(raw: string | undefined): number {
  return wholeNumberSetting('SLIPSTREAM_WARM_BRANCHES', raw, {
    fallback: DEFAULT_WARM_BRANCHES, min: 1, kind: 'a whole number of at least 1',
    what: 'how many branches of a container stay materialised on the blocks driver',
  });
}

export class ColdBranches {
  /** Container id → its dehydration job, which works through the surplus one branch at a time. */
  private readonly jobs = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  /** Branch id → the end of its dehydration under way; set in the same locked step that journals it. */
  private readonly current = new Map<string, Promise<void>>();
  private readonly cancelled = new Set<string>();

  constructor(private readonly engine: Engine) {}

  /** Dehydrate the container's branches beyond the warm ones, in the background. Failures are
   *  logged, never surfaced: a branch left materialised only costs disk. */
  schedule(containerId: string): void {
    if (this.engine.driver.copyOnWrite || this.engine.stopping) return;
    if (this.jobs.has(containerId)) {
      this.again.add(containerId); // the running job may have decided before this change
      return;
    }
    const job = this.drain(containerId)
      .catch((err: Error) => log(`container ${containerId}: dehydration stopped: ${err.message}`))
      .finally(() => {
        this.jobs.delete(containerId);
        if (this.again.delete(containerId)) this.schedule(containerId);
      });
    this.jobs.set(containerId, job);
  }

  /** At engine start: K may have changed, and a crash may have cut a dehydration short. */
  scheduleAll(): void {
    for (const c of this.engine.store.allContainers()) this.schedule(c.id);
  }

  /** How many containers have a dehydration job (engine status). */
  get running(): number {
    return this.jobs.size;
  }

  /** Before `branchId` is activated (the caller holds the container's lock): a dehydration of it
   *  under way gives up, and this waits until it has. A capture cannot be cut short. */
  async settle(branchId: string): Promise<void> {
    const done = this.current.get(branchId);
    if (!done) return;
    this.cancelled.add(branchId);
    await done;
  }

  private async drain(containerId: string): Promise<void> {
    while (await this.dehydrateNext(containerId)) { /* one branch at a time, until none is surplus */ }
  }

  /** Dehydrate the least recently active surplus branch. False when there is none. */
  private async dehydrateNext(containerId: string): Promise<boolean> {
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const journal = await underLock(this.engine, containerId, () => false, (c) => {
      const j = begin(this.engine, c);
      if (j) this.current.set(String(j.data.branchId), done);
      return j;
    });
    if (!journal) return false;
    const branchId = String(journal.data.branchId);
    try {
      await dehydrate(this.engine, journal, () => this.cancelled.has(branchId));
    } catch (err) {
      // Stop here rather than choose the same branch again; the next change schedules a new try.
      log(`branch ${branchId}: not dehydrated: ${(err as Error).message}`);
      return false;
    } finally {
      this.current.delete(branchId);
      this.cancelled.delete(branchId);
      finished();
    }
    return true;
  }
}

const quiet: Progress = { report: () => undefined };

type Dehydration = JournalRecord<'dehydrate'>;

/** What recency means: when the branch last stopped being active (or was created). */
const recency = (b: BranchRecord): string => b.lastActiveAt ?? b.createdAt;

/** The materialised inactive branches beyond the K warm ones, least recently active first. */
export function surplus(engine: Engine, c: ContainerRecord): BranchRecord[] {
  const warm = engine.store.branchesOf(c.id)
    .filter((b) => !b.cold && b.id !== c.activeBranchId)
    .sort((a, b) => recency(b).localeCompare(recency(a)));
  return warm.slice(Math.max(0, engine.config.warmBranches - 1)).reverse();
}

/** Choose the branch and journal its dehydration, or its capture ahead (synchronous, under the
 *  container's lock). */
function begin(engine: Engine, c: ContainerRecord): Dehydration | undefined {
  const b = surplus(engine, c)[0];
  if (b) {
    return engine.journalBegin('dehydrate', {
      containerId: c.id, branchId: b.id, volumeId: b.volumeId, snapshotId: b.ready?.snapshotId ?? newId('snap'), lastActiveAt: b.lastActiveAt,
    });
  }
  const next = nextToGo(engine, c);
  if (!next || next.ready) return undefined;
  return engine.journalBegin('dehydrate', {
    containerId: c.id, branchId: next.id, volumeId: next.volumeId, snapshotId: newId('snap'), lastActiveAt: next.lastActiveAt, ahead: true,
  });
}

/** Warm inactive branches, most recently active first. */
function warmInactive(engine: Engine, c: ContainerRecord, except?: string): BranchRecord[] {
  return engine.store.branchesOf(c.id)
    .filter((b) => !b.cold && b.id !== c.activeBranchId && b.id !== except)
    .sort((a, b) => recency(b).localeCompare(recency(a)));
}

/** With K branches materialised, the one the next activation of a cold branch makes surplus. */
function nextToGo(engine: Engine, c: ContainerRecord): BranchRecord | undefined {
  const warm = warmInactive(engine, c);
  const k = engine.config.warmBranches;
  return k > 1 && warm.length === k - 1 ? warm[warm.length - 1] : undefined;
}

/** The branch whose volume a cold branch being activated can take: of those the activation makes
 *  surplus (the active branch becomes the most recent inactive one), the least recently active
 *  that is ready. */
function victimFor(engine: Engine, c: ContainerRecord, target: BranchRecord): BranchRecord | undefined {
  const leaving = warmInactive(engine, c, target.id).slice(Math.max(0, engine.config.warmBranches - 2));
  return leaving.reverse().find((b) => b.ready);
}

/** Capture the idle volume (unless the branch is ready), then record the branch cold and delete its
 *  volume and spare; or, ahead, record the capture as the branch's ready snapshot. */
async function dehydrate(engine: Engine, journal: Dehydration, cancelled: () => boolean): Promise<void> {
  const { containerId, branchId } = journal.data;
  try {
    const c = engine.store.container(containerId);
    if (!c) throw new Error('its container is gone');
    if (cancelled()) throw new Error('it is being activated');
    const { volumeId, snapshotId } = journal.data;
    if (engine.store.branch(branchId)?.ready?.snapshotId !== snapshotId) {
      // Inactive branches' databases are down (activate stops them, and its checkpoint behind ends);
      // a copy of a running one would not be clean.
      await engine.checkpoints.written(volumeId);
      if (await cluster.isRunning(engine.clusterOf(c, volumeId))) throw new Error('its database is running');
      await captureIdleVolume(engine, c, volumeId, snapshotId, quiet);
    }
    await faultPoint('dehydrate:after-capture');
    const record = journal.data.ahead ? recordReady : recordCold;
    const kept = await underLock(engine, containerId, cancelled, () => record(engine, journal));
    if (!kept) throw new Error('it was activated, changed or deleted while it was captured');
  } catch (err) {
    await finishDehydrate(engine, journal);
    throw err;
  }
  if (journal.data.ahead) {
    log(`branch ${branchId} of container ${containerId}: captured ahead (snapshot ${journal.data.snapshotId}); it can go cold, or give its volume, at once`);
    return;
  }
  await faultPoint('dehydrate:after-commit');
  log(`branch ${branchId} of container ${containerId}: cold now (snapshot ${journal.data.snapshotId}); its volume is deleted`);
  await finishDehydrate(engine, journal);
}

/** Whether the branch is still as it was when its capture was journaled: warm, inactive, unmoved. */
function unmoved(engine: Engine, journal: Dehydration): BranchRecord | undefined {
  const b = engine.store.branch(journal.data.branchId);
  const c = b && engine.store.container(b.containerId);
  if (!b || !c || b.cold || c.activeBranchId === b.id || b.volumeId !== journal.data.volumeId
    || b.lastActiveAt !== journal.data.lastActiveAt) return undefined;
  return b;
}

/** Ahead: the branch records the capture as its ready snapshot, and the entry ends, in one
 *  transaction. Refused if the branch moved on while it was captured. Synchronous, under the lock. */
function recordReady(engine: Engine, journal: Dehydration): boolean {
  const b = unmoved(engine, journal);
  if (!b || b.ready) return false;
  engine.store.tx(() => {
    engine.store.putBranch({ ...b, ready: { snapshotId: journal.data.snapshotId } });
    engine.journalEnd(journal);
  });
  return true;
}

/** The branch records its cold snapshot and loses its spare; the journal now names both volumes to
 *  delete. Refused if the branch moved on while it was captured. Synchronous, under the lock. */
function recordCold(engine: Engine, journal: Dehydration): boolean {
  const b = unmoved(engine, journal);
  if (!b) return false;
  const { spare, ready: _ready, ...rest } = b;
  engine.store.tx(() => {
    engine.store.putBranch({ ...rest, cold: { snapshotId: journal.data.snapshotId } });
    engine.journalStepIn(journal, 'cold', { spareVolumeId: spare?.volumeId, spareSnapshotId: spare?.snapshotId });
  });
  engine.notify('branch', engine.store.container(b.containerId));
  return true;
}

/** Finish (step `cold`: delete the old volume and spare) or roll back (before: delete the half-made
 *  snapshot) a dehydration, and end its entry. Idempotent: recovery runs it. */
export async function finishDehydrate(engine: Engine, journal: Dehydration): Promise<void> {
  if (journal.step !== 'cold') {
    engine.store.tx(() => engine.journalEnd(journal));
    await engine.releaseSnapshots([journal.data.snapshotId]);
    return;
  }
  await dropVolumes(engine, journal.data.containerId, [journal.data.volumeId, journal.data.spareVolumeId]);
  engine.store.tx(() => engine.journalEnd(journal));
  if (journal.data.spareSnapshotId) await engine.releaseSnapshots([journal.data.spareSnapshotId]);
}

/**
 * Give a cold branch a volume again before it is activated, while the active database still
 * serves: the volume of a ready branch the activation makes surplus (that branch goes cold on its
 * ready snapshot), rewritten in place; else a new volume, a clone. Returns the branch as it is
 * now (materialised), and what is left to do, for the caller to run behind its answer: delete
 * the victim's spare and end the entry. The caller holds the container's lock.
 */
export async function materialise(ctx: OpContext, c: ContainerRecord, target: BranchRecord):
  Promise<{ branch: BranchRecord; finish?: () => Promise<void> }> {
  const { engine, progress } = ctx;
  await engine.cold.settle(target.id);
  const b = engine.store.branch(target.id) ?? target;
  if (!b.cold) return { branch: b };
  const snapshotId = b.cold.snapshotId;
  const victim = await takeable(engine, c, b);
  const journal = victim ? takeVolume(engine, c, b, victim)
    : engine.journalBegin('materialise', { containerId: c.id, branchId: b.id, volumeId: newId('vol'), snapshotId });
  const { volumeId } = journal.data;
  const from = victim ? ` in the volume of branch ${victim.name}, cold now` : '';
  progress.report(`materialising branch "${b.name}"${victim ? ` in the volume of branch "${victim.name}"` : ''}`, 5);
  log(`container ${c.owner}/${c.name}: materialising branch ${b.name} from snapshot ${snapshotId}${from}`);
  try {
    await engine.checkpoints.written(volumeId);
    await cloneInto(engine, c, volumeId, snapshotId, progress);
    await faultPoint('materialise:after-clone');
  } catch (err) {
    await recoverMaterialise(engine, journal).catch(() => undefined);
    throw err;
  }
  const { cold: _cold, ...rest } = b;
  const warm: BranchRecord = { ...rest, volumeId };
  engine.store.tx(() => {
    engine.store.putBranch(warm);
    engine.journalStepIn(journal, 'warm');
  });
  // Until the victim's spare is gone the entry names it.
  return { branch: warm, finish: () => recoverMaterialise(engine, journal) };
}

/** The victim, once no dehydration of it runs, if it still is one. */
async function takeable(engine: Engine, c: ContainerRecord, target: BranchRecord): Promise<BranchRecord | undefined> {
  const first = victimFor(engine, c, target);
  if (!first) return undefined;
  await engine.cold.settle(first.id);
  const now = engine.store.branch(first.id);
  return now && victimFor(engine, engine.store.container(c.id)!, target)?.id === now.id ? now : undefined;
}

/** The victim goes cold on its ready snapshot, and the journal takes its volume and spare, in one
 *  transaction. The victim's record then names a volume never made (a cold branch has none). */
function takeVolume(engine: Engine, c: ContainerRecord, b: BranchRecord, victim: BranchRecord): JournalRecord<'materialise'> {
  const { spare, ready, ...rest } = victim;
  return engine.store.tx(() => {
    engine.store.putBranch({ ...rest, volumeId: newId('vol'), cold: { snapshotId: ready!.snapshotId } });
    return engine.journalBeginIn('materialise', {
      containerId: c.id, branchId: b.id, volumeId: victim.volumeId, snapshotId: b.cold!.snapshotId,
      victimId: victim.id, spareVolumeId: spare?.volumeId, spareSnapshotId: spare?.snapshotId,
    });
  });
}

/** Before `warm` the branch is still cold (or gone): delete the half-made volume. Either way the
 *  victim's spare goes, then the entry ends and the snapshots it held are released. */
export async function recoverMaterialise(engine: Engine, journal: JournalRecord<'materialise'>): Promise<void> {
  const { containerId, volumeId, spareVolumeId, snapshotId, spareSnapshotId } = journal.data;
  await dropVolumes(engine, containerId, [journal.step === 'warm' ? undefined : volumeId, spareVolumeId]);
  engine.store.tx(() => engine.journalEnd(journal));
  await engine.releaseSnapshots([snapshotId, spareSnapshotId].filter((s): s is string => Boolean(s)));
}

/** In the transaction that begins an activation: the branch's database is about to change its
 *  volume, so its ready snapshot no longer describes it. Returns the snapshot to release. */
export function dropReady(engine: Engine, branchId: string): string | undefined {
  const b = engine.store.branch(branchId);
  if (!b?.ready) return undefined;
  const { ready, ...rest } = b;
  engine.store.putBranch(rest);
  return ready.snapshotId;
}

/** Call inside the transaction that records an activation: the branch left and the branch
 *  activated are now the most recently active. */
export function markActivated(engine: Engine, branchIds: string[]): void {
  const at = now();
  for (const id of branchIds) {
    const b = engine.store.branch(id);
    if (b) engine.store.putBranch({ ...b, lastActiveAt: at });
  }
}

/** Run `fn` holding the container's lock, once no operation holds it. `fn` is synchronous, so
 *  nothing else runs meanwhile. Undefined when the container is gone or `giveUp` says so. */
async function underLock<T>(engine: Engine, containerId: string, giveUp: () => boolean,
  fn: (c: ContainerRecord) => T): Promise<T | undefined> {
  for (;;) {
    if (engine.stopping) throw new Error('the engine is stopping');
    const c = engine.store.container(containerId);
    if (!c || giveUp()) return undefined;
    const key = `container:${c.id}`;
    if (!engine.locks.isHeld(key)) {
      const release = engine.locks.acquire(key, `container "${c.name}"`, 'dehydrate');
      try {
        return fn(c);
      } finally {
        release();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
