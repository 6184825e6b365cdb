import { BranchActivateRequest, BranchDeleteRequest, BranchListRequest, type BranchParams, type ContainerParams } from '../../protocol';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { findBranch, findContainer } from '../lookup';
import { branchInfo } from '../views';
import { containerRef, existingName, object, optStr } from '../validate';
import { activateBranch } from './activate';
import { operation, type Recover } from './operation';
import { dropVolumes } from '../data';
import type { JournalRecord } from '../journal';
import { dropSpansIn, sweepArchives } from '../spans';

function parseBranch(raw: unknown): BranchParams {
  const o = object(raw);
  return { container: containerRef(o, 'container'), name: existingName(o, 'name', 'branch'), workDoneToken: optStr(o, 'workDoneToken') };
}

/** branch activate NAME --container C */
export const branchActivate = operation(BranchActivateRequest.type, parseBranch, async (ctx: OpContext, p: BranchParams) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.container);
  const target = findBranch(engine, c, p.name);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'branch activate', async () => {
    await activateBranch(ctx, engine.store.container(c.id)!, engine.store.branch(target.id)!);
    return branchInfo(engine.store, engine.store.branch(target.id)!);
  });
});

/** branch list --container C */
export const branchList = operation(BranchListRequest.type,
  (raw): ContainerParams => ({ container: existingName(object(raw), 'container', 'container') }),
  async ({ engine, caller }: OpContext, p: ContainerParams) => {
    const c = findContainer(engine, caller, p.container);
    return engine.store.branchesOf(c.id).map((b) => branchInfo(engine.store, b));
  });

/** branch delete NAME --container C: never the active branch. Its bookmarks stay. */
export const branchDelete = operation(BranchDeleteRequest.type, parseBranch, async (ctx: OpContext, p: BranchParams) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.container);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'branch delete', async () => {
    const b = findBranch(engine, c, p.name);
    if (engine.store.container(c.id)!.activeBranchId === b.id) {
      throw new EngineError('InUse', `branch "${b.name}" is the active branch of "${c.name}". Activate another branch first.`);
    }
    const info = branchInfo(engine.store, b);
    const anchors = engine.store.spansOf(b.id).flatMap((s) => s.anchors.map((a) => a.snapshotId));
    let journal!: JournalRecord<'branch-delete'>;
    const event = engine.store.tx(() => {
      engine.store.removeBranch(b.id);
      dropSpansIn(engine.store, [b.id]); // their anchors go as the journal's release finds them unnamed
      // In the same transaction: once no record names the volume, the journal does, till it is gone.
      journal = engine.journalBeginIn('branch-delete', {
        containerId: c.id, volumeId: b.volumeId, baseSnapshotId: b.baseSnapshotId,
        spareVolumeId: b.spare?.volumeId, spareSnapshotId: b.spare?.snapshotId, coldSnapshotId: b.cold?.snapshotId,
        readySnapshotId: b.ready?.snapshotId,
      });
      return engine.appendEvent(c, caller.name, 'branch-deleted', b.name);
    });
    engine.notify('branch', c, event);
    await recoverBranchDelete(engine, journal);
    await engine.releaseSnapshots(anchors);
    engine.background('deleting the branch\'s WAL archive', () => sweepArchives(engine));
    return info;
  });
});

/** A deleted branch's volume and its spare's go, then its reset point, the spare's snapshot and
 *  a cold branch's snapshot (its volume is gone already) if nothing else uses them. upgrade.ts
 *  uses this too, for the volume of a 0.1 container that no branch took over. (A spare still
 *  being built sees the branch gone and drops its own.) */
export const recoverBranchDelete: Recover<'branch-delete'> = async (engine, journal) => {
  await dropVolumes(engine, journal.data.containerId, [journal.data.volumeId, journal.data.spareVolumeId]);
  engine.store.tx(() => engine.journalEnd(journal));
  const snaps = [journal.data.baseSnapshotId, journal.data.spareSnapshotId, journal.data.coldSnapshotId, journal.data.readySnapshotId].filter((s): s is string => Boolean(s));
  if (snaps.length) await engine.releaseSnapshots(snaps);
};
