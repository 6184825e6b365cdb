import { BranchActivateRequest, BranchDeleteRequest, BranchListRequest, type BranchParams, type ContainerParams } from '../../protocol';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { findBranch, findContainer } from '../lookup';
import { branchInfo } from '../views';
import { containerRef, existingName, object, optStr } from '../validate';
import { activateBranch } from './activate';
import { operation } from './operation';

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
    await activateBranch(ctx, engine.store.containers.get(c.id)!, engine.store.branches.get(target.id)!);
    return branchInfo(engine.store, engine.store.branches.get(target.id)!);
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
    if (engine.store.containers.get(c.id)!.activeBranchId === b.id) {
      throw new EngineError('InUse', `branch "${b.name}" is the active branch of "${c.name}". Activate another branch first.`);
    }
    const info = branchInfo(engine.store, b);
    const event = engine.store.tx(() => {
      engine.store.branches.removeSync(b.id);
      return engine.appendEvent(c, caller.name, 'branch-deleted', b.name);
    });
    await engine.releaseSnapshots([b.headSnapshotId, b.baseSnapshotId]);
    engine.notify('branch', c, event);
    return info;
  });
});
