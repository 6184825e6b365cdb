import { BranchCreateRequest, type BranchCreateParams, type BranchOrigin } from '../../protocol';
import { captureVolume } from '../data';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { faultPoint } from '../faults';
import { newId, now } from '../ids';
import { findBookmark, findBranch, findContainer } from '../lookup';
import type { BranchRecord, ContainerRecord } from '../records';
import { branchInfo } from '../views';
import { containerRef, existingName, name, object, optBool, optStr, str } from '../validate';
import { activateBranch } from './activate';
import { operation, type Recover } from './operation';

/** branch create NAME --container C [--from-bookmark B | --from-branch NAME] [--activate]
 *  A new branch starts by pointing at an existing snapshot: no data is copied
 *  until it is activated, and then only as the driver's copy-on-write allows. */
export const branchCreate = operation(BranchCreateRequest.type, parse, async (ctx: OpContext, p: BranchCreateParams) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.container);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'branch create', async () => {
    if (engine.store.branchesOf(c.id).some((b) => b.name === p.name)) {
      throw new EngineError('NameTaken', `container "${c.name}" already has a branch named "${p.name}". Pick another name.`);
    }
    const { snapshotId, origin } = await startingPoint(ctx, c, p.from);
    const branch: BranchRecord = {
      id: newId('br'), containerId: c.id, name: p.name, origin, createdAt: now(),
      headSnapshotId: snapshotId, baseSnapshotId: snapshotId,
    };
    const event = engine.store.tx(() => {
      engine.store.branches.putSync(branch.id, branch);
      return engine.appendEvent(c, caller.name, 'branch-created', branch.name, originDetail(origin));
    });
    engine.notify('branch', c, event);
    if (p.activate) await activateBranch(ctx, engine.store.containers.get(c.id)!, branch);
    return branchInfo(engine.store, engine.store.branches.get(branch.id)!);
  });
});

async function startingPoint(ctx: OpContext, c: ContainerRecord, from: BranchCreateParams['from'])
  : Promise<{ snapshotId: string; origin: BranchOrigin }> {
  const { engine } = ctx;
  const template = engine.store.templates.get(c.templateId)!;
  if (from.kind === 'template') {
    const v = template.versions[template.versions.length - 1];
    return { snapshotId: v.snapshotId, origin: { kind: 'template', template: template.name, version: v.version } };
  }
  if (from.kind === 'bookmark') {
    const bm = findBookmark(engine, ctx.caller, from.bookmark);
    if (bm.templateId !== c.templateId) {
      throw new EngineError('InvalidArgument', `bookmark "${bm.name}" comes from template "${engine.store.templates.get(bm.templateId)?.name}", but container "${c.name}" is made from "${template.name}". Branch it into a container made from the same template.`);
    }
    return { snapshotId: bm.snapshotId, origin: { kind: 'bookmark', bookmarkId: bm.id, bookmark: bm.name } };
  }
  const source = findBranch(engine, c, from.branch);
  if (source.id !== c.activeBranchId) return { snapshotId: source.headSnapshotId, origin: { kind: 'branch', branch: source.name } };
  // The source is live in the volume: take its current state.
  const snapshotId = newId('snap');
  const journal = engine.journalBegin('branch-snapshot', { containerId: c.id, snapshotId });
  try {
    await captureVolume(engine, c, snapshotId, ctx.progress);
    await faultPoint('branch-snapshot:after-capture');
  } finally {
    engine.store.tx(() => engine.journalEnd(journal));
  }
  return { snapshotId, origin: { kind: 'branch', branch: source.name } };
}

function originDetail(origin: BranchOrigin) {
  switch (origin.kind) {
    case 'template': return { detail: `from template ${origin.template} v${origin.version}` };
    case 'bookmark': return { detail: `from bookmark ${origin.bookmark}`, bookmark: { id: origin.bookmarkId, name: origin.bookmark } };
    case 'branch': return { detail: `from branch ${origin.branch}` };
  }
}

function parse(raw: unknown): BranchCreateParams {
  const o = object(raw);
  const f = object(o.from ?? { kind: 'template' });
  const kind = str(f, 'kind');
  let from: BranchCreateParams['from'];
  if (kind === 'template') from = { kind };
  else if (kind === 'bookmark') from = { kind, bookmark: str(f, 'bookmark', 256) };
  else if (kind === 'branch') from = { kind, branch: existingName(f, 'branch', 'branch') };
  else throw new EngineError('InvalidArgument', `"from.kind" must be template, bookmark or branch, not "${kind}".`);
  return {
    container: containerRef(o, 'container'), name: name(o, 'name', 'branch'), from,
    activate: optBool(o, 'activate'), workDoneToken: optStr(o, 'workDoneToken'),
  };
}

/** A capture for a new branch that never got its branch record: drop it, keep the database up. */
export const recoverBranchSnapshot: Recover = async (engine, journal) => {
  engine.store.tx(() => engine.journalEnd(journal));
  await engine.releaseSnapshots([String(journal.data.snapshotId)]);
  const c = engine.store.containers.get(String(journal.data.containerId));
  if (c) await engine.startDatabase(c);
};
