import { BranchCreateRequest, type BranchCreateParams, type BranchFrom, type BranchOrigin } from '../../protocol';
import { captureFailed, captureIdleVolume, captureVolume, cloneInto, dropVolume } from '../data';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { faultPoint } from '../faults';
import { beginSpanIn, flushWal, planMoment, spanDir } from '../spans';
import { parseMoment } from '../../common/moments';
import * as cluster from '../postgres/cluster';
import { prepareArchiveDir, writeRecoverySignal } from '../postgres/walArchive';
import { newId, now } from '../ids';
import { activeBranch, findBookmark, findBranch, findContainer } from '../lookup';
import type { BranchRecord, ContainerRecord } from '../records';
import { branchInfo } from '../views';
import { containerRef, existingName, name, object, optBool, optStr, str } from '../validate';
import { activateBranch } from './activate';
import { operation, type Recover } from './operation';

/** branch create NAME --container C [--from-bookmark B | --from-branch NAME | --from-template] [--activate]
 *  The starting point's snapshot (the template's latest, a bookmark's, or a capture of a
 *  branch's current state) becomes the new branch's own volume, a copy-on-write clone where
 *  the driver can; activating it then only stops one database and starts another. Where a
 *  volume would be a full copy (blocks), the branch starts cold instead: its data is that
 *  snapshot, and activating it materialises it (coldBranches.ts), in the volume of a branch
 *  that goes cold when there is one. Without `from` the new branch starts from the active
 *  branch's current data (as `git branch NAME` starts from HEAD), resolved under the lock. */
export const branchCreate = operation(BranchCreateRequest.type, parse, async (ctx: OpContext, p: BranchCreateParams) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.container);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'branch create', async () => {
    if (engine.store.branchesOf(c.id).some((b) => b.name === p.name)) {
      throw new EngineError('NameTaken', `container "${c.name}" already has a branch named "${p.name}". Pick another name.`);
    }
    const current = engine.store.container(c.id)!;
    const from: BranchFrom = p.from ?? { kind: 'branch', branch: activeBranch(engine, current).name };
    const branch = await create(ctx, current, { ...p, from });
    if (p.activate) await activateBranch(ctx, engine.store.container(c.id)!, branch);
    else engine.cold.schedule(c.id); // one more materialised branch (activate schedules it too)
    return branchInfo(engine.store, engine.store.branch(branch.id)!);
  });
});

/** Journal, capture if the starting point is a branch, clone into the new volume (or start
 *  cold), record. Until the record is written, recovery drops the volume and the capture. */
async function create(ctx: OpContext, c: ContainerRecord, p: BranchCreateParams & { from: BranchFrom }): Promise<BranchRecord> {
  const { engine, caller, progress } = ctx;
  const volumeId = newId('vol');
  const cold = !engine.driver.copyOnWrite;
  const capture = p.from.kind === 'branch' || p.from.kind === 'moment' ? newId('snap') : undefined;
  const spanId = newId('span');
  const journal = engine.journalBegin('branch-create', { containerId: c.id, volumeId, snapshotId: capture });
  let start: { snapshotId: string; origin: BranchOrigin };
  try {
    const from = p.from;
    start = from.kind === 'moment' ? await fromMoment(ctx, c, from, { volumeId, snapshotId: capture!, spanId }) : await startingPoint(ctx, c, from, capture);
    if (!cold && from.kind !== 'moment') {
      progress.report(`making the volume of branch "${p.name}"`);
      await cloneInto(engine, c, volumeId, start.snapshotId, progress);
    }
    await faultPoint('branch-create:after-clone');
  } catch (err) {
    await recoverBranchCreate(engine, journal).catch(() => undefined);
    throw await captureFailed(engine, c, `branch "${p.name}" was not created`, 'create the branch again', err);
  }
  const branch: BranchRecord = {
    id: newId('br'), containerId: c.id, name: p.name, origin: start.origin, createdAt: now(),
    volumeId, baseSnapshotId: start.snapshotId, ...(cold && p.from.kind !== 'moment' ? { cold: { snapshotId: start.snapshotId } } : {}),
  };
  const event = engine.store.tx(() => {
    engine.store.putBranch(branch);
    beginSpanIn(engine.store, branch, spanId, { snapshotId: start.snapshotId });
    engine.journalEnd(journal);
    return engine.appendEvent(c, caller.name, 'branch-created', branch.name, originDetail(start.origin));
  });
  engine.notify('branch', c, event);
  return branch;
}

/**
 * A branch's data as of a moment: the nearest anchor before it cloned into the new volume, the
 * source span's WAL replayed on it up to the moment by a server of its own with no port
 * (cluster.checkpointAlone; its archive is already the new branch's span), then captured: the
 * new branch's reset point and first anchor. The volume stays materialised even on blocks.
 */
async function fromMoment(ctx: OpContext, c: ContainerRecord, from: { at: string; branch?: string },
  made: { volumeId: string; snapshotId: string; spanId: string }): Promise<{ snapshotId: string; origin: BranchOrigin }> {
  const { engine, progress } = ctx;
  const parsed = parseMoment(from.at, Date.now());
  if ('problem' in parsed) throw new EngineError('InvalidArgument', `${parsed.problem}; nothing was changed.`);
  const source = from.branch ? findBranch(engine, c, from.branch) : activeBranch(engine, c);
  const { span, anchor } = planMoment(engine.store, source, parsed.moment);
  if (!span.endedAt && source.id === c.activeBranchId) await flushWal(engine, c, source.volumeId);
  progress.report(`making the volume from the snapshot of ${anchor.at}`);
  await cloneInto(engine, c, made.volumeId, anchor.snapshotId, progress);
  const owner = engine.ownerOf(c);
  await writeRecoverySignal(engine.driver.volumePath(made.volumeId), owner);
  const archiveDir = spanDir(engine, made.spanId);
  await prepareArchiveDir(archiveDir, owner);
  progress.report(`replaying the WAL of branch "${source.name}" up to ${parsed.moment}`);
  const spec = { ...engine.clusterOf(c, made.volumeId), archiveDir, recovery: { fromDir: spanDir(engine, span.id), target: parsed.moment } };
  await cluster.checkpointAlone(engine.bins, spec, async () => undefined).catch((err: Error) => {
    if (!/recovery ended before configured recovery target/.test(err.message)) throw err;
    throw new EngineError('InvalidArgument', `the archived WAL of branch "${source.name}" does not reach ${parsed.moment} yet: the rest is in its volume `
      + `until it runs again. Activate branch "${source.name}", then create the branch again. Nothing was changed.`);
  });
  await captureIdleVolume(engine, c, made.volumeId, made.snapshotId, progress);
  return { snapshotId: made.snapshotId, origin: { kind: 'branch', branch: source.name, at: parsed.moment } };
}

async function startingPoint(ctx: OpContext, c: ContainerRecord, from: Exclude<BranchFrom, { kind: 'moment' }>, capture?: string)
  : Promise<{ snapshotId: string; origin: BranchOrigin }> {
  const { engine } = ctx;
  const template = engine.store.template(c.templateId)!;
  if (from.kind === 'template') {
    const v = template.versions[template.versions.length - 1];
    return { snapshotId: v.snapshotId, origin: { kind: 'template', template: template.name, version: v.version } };
  }
  if (from.kind === 'bookmark') {
    const bm = findBookmark(engine, ctx.caller, from.bookmark);
    if (bm.templateId !== c.templateId) {
      throw new EngineError('InvalidArgument', `bookmark "${bm.name}" comes from template "${engine.store.template(bm.templateId)?.name}", but container "${c.name}" is made from "${template.name}". Branch it into a container made from the same template.`);
    }
    return { snapshotId: bm.snapshotId, origin: { kind: 'bookmark', bookmarkId: bm.id, bookmark: bm.name } };
  }
  const source = findBranch(engine, c, from.branch);
  // A cold branch's data is a snapshot already, taken with its database down.
  if (source.cold) return { snapshotId: source.cold.snapshotId, origin: { kind: 'branch', branch: source.name } };
  // The source's current state: live, for the active branch; as it stopped, for another.
  if (source.id === c.activeBranchId) await captureVolume(engine, c, capture!, ctx.progress);
  else await captureIdleVolume(engine, c, source.volumeId, capture!, ctx.progress);
  await faultPoint('branch-snapshot:after-capture');
  return { snapshotId: capture!, origin: { kind: 'branch', branch: source.name } };
}

function originDetail(origin: BranchOrigin) {
  switch (origin.kind) {
    case 'template': return { detail: `from template ${origin.template} v${origin.version}` };
    case 'bookmark': return { detail: `from bookmark ${origin.bookmark}`, bookmark: { id: origin.bookmarkId, name: origin.bookmark } };
    case 'branch': return { detail: origin.at ? `from branch ${origin.branch} as of ${origin.at}` : `from branch ${origin.branch}` };
  }
}

function parse(raw: unknown): BranchCreateParams {
  const o = object(raw);
  let from: BranchFrom | undefined;
  const f = o.from === undefined || o.from === null ? undefined : object(o.from);
  const kind = f && str(f, 'kind');
  if (!f) from = undefined; // the active branch's current data (resolved under the container's lock)
  else if (kind === 'template') from = { kind };
  else if (kind === 'bookmark') from = { kind, bookmark: str(f, 'bookmark', 256) };
  else if (kind === 'branch') from = { kind, branch: existingName(f, 'branch', 'branch') };
  else if (kind === 'moment') from = { kind, at: str(f, 'at', 64), ...(f.branch === undefined || f.branch === null ? {} : { branch: existingName(f, 'branch', 'branch') }) };
  else throw new EngineError('InvalidArgument', `"from.kind" must be template, bookmark, branch or moment, not "${kind}".`);
  return {
    container: containerRef(o, 'container'), name: name(o, 'name', 'branch'), ...(from ? { from } : {}),
    activate: optBool(o, 'activate'), workDoneToken: optStr(o, 'workDoneToken'),
  };
}

/** A branch that never got its record never shows: drop its volume and the capture made
 *  for it, and make sure the database runs (a capture may have stopped it). Also what
 *  engines 0.1 journaled as 'branch-snapshot': a capture, and no volume yet. */
export const recoverBranchCreate: Recover<'branch-create' | 'branch-snapshot'> = async (engine, journal) => {
  const c = engine.store.container(journal.data.containerId);
  if (c && journal.data.volumeId) await dropVolume(engine, c, journal.data.volumeId);
  engine.store.tx(() => engine.journalEnd(journal));
  if (!journal.data.snapshotId) return; // no capture, so the database was never stopped
  await engine.releaseSnapshots([journal.data.snapshotId]);
  if (c) await engine.startDatabase(c);
};
