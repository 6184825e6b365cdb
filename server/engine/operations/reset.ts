import { ResetRequest, type ContainerOpParams } from '../../protocol';
import type { OpContext } from '../engine';
import { activeBranch, findContainer } from '../lookup';
import { branchInfo } from '../views';
import { containerRef, object, optStr } from '../validate';
import { operation } from './operation';
import { rewind } from './rewind';

export function parseContainerOp(raw: unknown): ContainerOpParams {
  const o = object(raw);
  return { container: containerRef(o, 'container'), workDoneToken: optStr(o, 'workDoneToken') };
}

/** reset --container C: discard the active branch's changes since its last restore,
 *  refresh or bookmark, or since it was made. A switch is no reset point: it captures nothing. */
export const reset = operation(ResetRequest.type, parseContainerOp, async (ctx: OpContext, p: ContainerOpParams) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.container);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'reset', async () => {
    const current = engine.store.container(c.id)!;
    const branch = activeBranch(engine, current);
    await rewind(ctx, current, { op: 'reset', event: 'reset', snapshotId: branch.baseSnapshotId });
    return branchInfo(engine.store, engine.store.branch(branch.id)!);
  });
});
