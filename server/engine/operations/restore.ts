import { RestoreRequest, type RestoreParams } from '../../protocol';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { findBookmark, findContainer } from '../lookup';
import { branchInfo } from '../views';
import { containerRef, object, optStr, str } from '../validate';
import { operation } from './operation';
import { rewind } from './rewind';

/** restore B --container C: rewind the active branch to a bookmark, byte for byte. */
export const restore = operation(RestoreRequest.type, (raw): RestoreParams => {
  const o = object(raw);
  return { container: containerRef(o, 'container'), bookmark: str(o, 'bookmark', 256), workDoneToken: optStr(o, 'workDoneToken') };
}, async (ctx: OpContext, p: RestoreParams) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.container);
  const mine = engine.store.bookmarksOf(c.id).filter((b) => b.id === p.bookmark || b.name === p.bookmark);
  const bm = mine.length === 1 ? mine[0] : findBookmark(engine, caller, p.bookmark);
  if (bm.templateId !== c.templateId) {
    throw new EngineError('InvalidArgument', `bookmark "${bm.name}" comes from another template than container "${c.name}"; it cannot be restored there. Branch from it in a container made from its template.`);
  }
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'restore', async () => {
    const current = engine.store.container(c.id)!;
    await rewind(ctx, current, { op: 'restore', event: 'restored', snapshotId: bm.snapshotId, extra: { bookmark: { id: bm.id, name: bm.name } } });
    return branchInfo(engine.store, engine.store.branch(current.activeBranchId)!);
  });
});
