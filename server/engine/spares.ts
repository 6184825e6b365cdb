import * as path from 'path';
import { cloneInto, dropVolume, poolFreeBytes, ROOM_FOR_CAPTURE } from './data';
import type { Engine, Progress } from './engine';
import { log } from './engine';
import { choiceSetting } from './envSetting';
import { faultPoint } from './faults';
import { newId } from './ids';
import { removeRunDir } from './postgres/runDir';
import { allocatedBytes } from './volumes/volumeFiles';
import type { JournalRecord } from './journal';
import type { BranchRecord, ContainerRecord } from './records';

/**
 * A ready spare of a branch's reset point (`baseSnapshotId`: its latest bookmark, restore,
 * refresh or reset), built in the background, so that restoring it again (story 1: bookmark,
 * break things, restore, break, restore...) or a reset is a swap: rewind.ts takes the spare's
 * volume instead of cloning.
 *
 * Which branches get one is a per-engine setting (SLIPSTREAM_SPARES, `sparesSetting`). Where a
 * spare is copy-on-write (btrfs, reflink) it costs almost nothing, and every branch that was
 * bookmarked, restored or activated gets one (`on`). On blocks a spare is a full copy of the
 * branch, and a restore without one rewrites the volume in place, by the pages that changed
 * (rewind.ts); so there only a branch that has been restored, reset or refreshed gets one
 * (`restored`): story 1's loop swaps from its second restore on, and a branch that is only
 * bookmarked, switched to or left alone costs no second copy (tracker issue 12's storage).
 *
 * A build holds the container's lock only for its two short, synchronous metadata steps, not
 * for the clone: locks refuse rather than queue, so a lock held for a whole clone would turn
 * the user's next operation into Busy. The clone writes a volume that only the build's journal
 * entry names, so nothing else touches it; the entry also keeps its snapshot from being released.
 *
 * Journal steps (`spare-build`), and what recovery does at each:
 *   begin  the new volume may be half-made and no record names it: delete it
 *   ready  the branch names the new spare: delete the spare it replaced
 * In both, `dropVolumeId` is the volume to delete, so recovery is one step.
 */
export type SparesSetting = 'on' | 'restored' | 'off';

/** SLIPSTREAM_SPARES from the engine's environment; unset: the driver decides (`Spares.wanted`). */
export function sparesSetting(raw: string | undefined): SparesSetting | undefined {
  return choiceSetting('SLIPSTREAM_SPARES', raw, ['on', 'restored', 'off'] as const,
    'which branches keep a ready copy of their latest bookmark: every one, those restored at least once, or none');
}

export class Spares {
  private readonly builds = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(private readonly engine: Engine) {}

  /** Build (or rebuild) the branch's spare in the background, if the engine keeps spares.
   *  Failures are logged, never surfaced: a missing spare only makes a restore clone. */
  schedule(branchId: string): void {
    if (!this.wanted(branchId) || this.engine.stopping) return;
    if (this.builds.has(branchId)) {
      this.again.add(branchId); // the running build may be for an older reset point
      return;
    }
    const job = build(this.engine, branchId)
      .catch((err: Error) => log(`spare of branch ${branchId}: not built: ${err.message}`))
      .finally(() => {
        this.builds.delete(branchId);
        if (this.again.delete(branchId)) this.schedule(branchId);
      });
    this.builds.set(branchId, job);
  }

  /** At engine start: build the spare of every container's active branch that has none of its
   *  reset point (recovery deletes a half-made one). Inactive branches get theirs when used. */
  scheduleActive(): void {
    const s = this.engine.store;
    for (const c of s.allContainers()) {
      const b = s.branch(c.activeBranchId);
      if (b && b.spare?.snapshotId !== b.baseSnapshotId) this.schedule(b.id);
    }
  }

  /** Whether the branch should have a spare, by the engine's setting and its driver. */
  private wanted(branchId: string): boolean {
    const setting = this.engine.config.spares ?? (this.engine.driver.copyOnWrite ? 'on' : 'restored');
    if (setting !== 'restored') return setting === 'on';
    return this.engine.store.branch(branchId)?.rewound === true;
  }

  /** How many builds are under way. */
  get running(): number {
    return this.builds.size;
  }
}

const quiet: Progress = { report: () => undefined };

async function build(engine: Engine, branchId: string): Promise<void> {
  const journal = await whenUnlocked(engine, branchId, (c, b) => {
    if (b.spare?.snapshotId === b.baseSnapshotId) return undefined; // ready already
    const volumeId = newId('vol');
    return engine.journalBegin('spare-build', {
      containerId: c.id, branchId: b.id, snapshotId: b.baseSnapshotId, volumeId, dropVolumeId: volumeId,
    });
  });
  if (!journal) return;
  const volumeId = journal.data.volumeId;
  const snapshotId = journal.data.snapshotId;
  try {
    const c = engine.store.container(journal.data.containerId);
    if (!c) throw new Error('its container is gone');
    await checkRoom(engine, c, branchId);
    await cloneInto(engine, c, volumeId, snapshotId, quiet); // marks foreign data, as for any volume
    await faultPoint('spare:after-clone');
    // A branch dehydrated meanwhile (coldBranches.ts) has no volume for a spare to serve.
    const kept = await whenUnlocked(engine, branchId, (_c, b) => b.baseSnapshotId === snapshotId && !b.cold && keep(engine, journal, b));
    if (!kept) throw new Error('its reset point moved on, or it was dehydrated or deleted, while the spare was built');
  } catch (err) {
    await finishSpareBuild(engine, journal);
    throw err;
  }
  log(`spare of branch ${branchId}: ready (${volumeId}, snapshot ${snapshotId})`);
  await finishSpareBuild(engine, journal);
}

/**
 * A spare is a convenience: it must never take the room a restore, a bookmark or the
 * database itself needs. Where clones are full copies (blocks), build it only if the pool
 * keeps room for one more copy of the branch after it, so a restore that cannot use the
 * spare still fits.
 */
async function checkRoom(engine: Engine, c: ContainerRecord, branchId: string): Promise<void> {
  const b = engine.store.branch(branchId);
  const copy = engine.driver.copyOnWrite || !b ? 0 : await allocatedBytes(engine.driver.volumePath(b.volumeId));
  const free = await poolFreeBytes(engine);
  const needed = 2 * copy + ROOM_FOR_CAPTURE;
  if (free >= needed) return;
  const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
  throw new Error(`the pool has ${mib(free)} free, and a spare of container "${c.name}" needs ${mib(needed)} (itself, and room for one more copy)`);
}

/** Record the new spare on the branch; the journal now names the spare it replaced, to delete. */
function keep(engine: Engine, journal: JournalRecord<'spare-build'>, b: BranchRecord): boolean {
  const old = b.spare;
  engine.store.tx(() => {
    engine.store.putBranch({ ...b, spare: { volumeId: journal.data.volumeId, snapshotId: journal.data.snapshotId } });
    engine.journalStepIn(journal, 'ready', { dropVolumeId: old?.volumeId, dropSnapshotId: old?.snapshotId });
  });
  return true;
}

/** Run `fn` holding the container's lock, once no operation holds it. `fn` is synchronous, so
 *  nothing else runs meanwhile. Undefined when the branch or container is gone or the engine stops. */
async function whenUnlocked<T>(engine: Engine, branchId: string, fn: (c: ContainerRecord, b: BranchRecord) => T): Promise<T | undefined> {
  for (;;) {
    if (engine.stopping) throw new Error('the engine is stopping');
    const b = engine.store.branch(branchId);
    const c = b && engine.store.container(b.containerId);
    if (!b || !c) return undefined;
    const key = `container:${c.id}`;
    if (!engine.locks.isHeld(key)) {
      const release = engine.locks.acquire(key, `container "${c.name}"`, 'spare build');
      try {
        return fn(c, b);
      } finally {
        release();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Delete the volume the journal says to (a half-made or replaced spare), end the entry, and
 *  release the replaced spare's snapshot if nothing else uses it. Idempotent: recovery runs it. */
export async function finishSpareBuild(engine: Engine, journal: JournalRecord<'spare-build'>): Promise<void> {
  const drop = journal.data.dropVolumeId;
  if (drop) {
    const c = engine.store.container(journal.data.containerId);
    if (c) await dropVolume(engine, c, drop);
    else {
      // Its container went while the spare was built; a marker written meanwhile may have
      // made its runtime directory again.
      await engine.driver.deleteVolume(drop);
      await removeRunDir({ runDir: path.join(engine.config.runRoot, journal.data.containerId) });
    }
  }
  engine.store.tx(() => engine.journalEnd(journal));
  if (journal.data.dropSnapshotId) await engine.releaseSnapshots([journal.data.dropSnapshotId]);
}
