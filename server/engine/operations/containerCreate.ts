import { MAX_PORT, MIN_CONTAINER_PORT } from '../../common/address';
import { ContainerCreateRequest, type ContainerCreateParams, type ContainerInfo } from '../../protocol';
import type { Engine, OpContext } from '../engine';
import { EngineError, volumeError } from '../errors';
import { newId, newPassword, now } from '../ids';
import { faultPoint } from '../faults';
import { beginSpanIn, dropSpansIn, sweepArchives } from '../spans';
import { findTemplate } from '../lookup';
import { allocatePort, unclaimPort } from '../ports';
import { allocateUid, unclaimUid } from '../postgres/pgUser';
import { markForeign, removeRunDir } from '../postgres/runDir';
import { release } from '../reservations';
import type { JournalRecord } from '../journal';
import type { BranchRecord, ContainerRecord, TemplateRecord } from '../records';
import { containerView } from '../views';
import { existingName, name, object, optInt, optStr } from '../validate';
import { operation, type Recover } from './operation';

export const MAIN_BRANCH = 'main';

/** container create NAME --template T [--port N]: clone the template's latest version
 *  into the volume of its first branch, main, start PostgreSQL on its port with a fresh password. */
export const containerCreate = operation(ContainerCreateRequest.type, parse, async (ctx: OpContext, p: ContainerCreateParams) => {
  const { engine, caller } = ctx;
  const template = findTemplate(engine, p.template);
  const lockKey = `container-name:${caller.name}/${p.name}`;
  return engine.locks.with(lockKey, `container "${p.name}"`, 'container create', async () => {
    if (engine.store.allContainers().some((c) => c.owner === caller.name && c.name === p.name)) {
      throw new EngineError('NameTaken', `you already have a container named "${p.name}". Pick another name.`);
    }
    const port = await allocatePort(engine, p.port);
    let uid: number | undefined;
    try {
      uid = engine.containerUids ? allocateUid(usedUids(engine), engine.config.home) : undefined;
    } catch (err) {
      unclaimPort(port);
      release('ports', port, engine.config.home);
      throw err;
    }
    try {
      return await create(ctx, template, p.name, port, uid);
    } finally {
      unclaimPort(port);
      if (uid !== undefined) unclaimUid(uid);
    }
  });
});

/** Clone, start and record the container on its claimed port (as its claimed OS user);
 *  roll back on any failure. */
async function create(ctx: OpContext, template: TemplateRecord, name: string, port: number,
  uid: number | undefined): Promise<ContainerInfo> {
  const { engine, caller, progress } = ctx;
  const version = template.versions[template.versions.length - 1];
  const c: ContainerRecord = {
    id: newId('ctr'), name, owner: caller.name, templateId: template.id, templateVersion: version.version,
    port, uid, listen: engine.config.dbListen, password: newPassword(), driver: engine.driverName,
    activeBranchId: newId('br'), running: true, createdAt: now(),
  };
  const volumeId = newId('vol'); // the main branch's
  const journal = engine.journalBegin('container-create', { containerId: c.id, volumeId, port: c.port, uid });
  try {
    progress.report(`cloning template "${template.name}" version ${version.version}`, 10);
    await engine.stopDatabase(c, { volumeId }); // nothing may run as this OS user yet: a program left by an earlier holder of the id
    // A template's roles and settings are its builder's: sanitised at the first start.
    await markForeign(engine.clusterOf(c, volumeId));
    await engine.driver.restore(volumeId, version.snapshotId, { owner: engine.ownerOf(c) }).catch((e) => { throw volumeError(e, 'cloning the template failed'); });
    await faultPoint('container-create:after-clone');
    progress.report(`starting PostgreSQL on port ${port}`, 70);
    engine.store.tx(() => beginSpanIn(engine.store, { id: c.activeBranchId, containerId: c.id }, newId('span'), { snapshotId: version.snapshotId }));
    await engine.startDatabase(c, volumeId);
  } catch (err) {
    await rollback(engine, journal);
    throw err;
  }
  const main: BranchRecord = {
    id: c.activeBranchId, containerId: c.id, name: MAIN_BRANCH, createdAt: c.createdAt,
    origin: { kind: 'template', template: template.name, version: version.version },
    volumeId, baseSnapshotId: version.snapshotId,
  };
  const event = engine.store.tx(() => {
    engine.store.putContainer(c);
    engine.store.putBranch(main);
    engine.journalEnd(journal);
    return engine.appendEvent(c, caller.name, 'container-created', MAIN_BRANCH,
      { detail: `from template ${template.name} v${version.version}, port ${port}, ${engine.driverName} driver` });
  });
  engine.notify('container', c, event);
  return containerView(engine, c);
}

/** A container that was never recorded: stop its database and remove its volume. */
async function rollback(engine: Engine, journal: JournalRecord<'container-create'>): Promise<void> {
  const { uid } = journal.data;
  const stub = { id: journal.data.containerId, port: journal.data.port, listen: '127.0.0.1', uid };
  const volumeId = journal.data.volumeId;
  await engine.stopDatabase(stub, { volumeId }).catch(() => undefined);
  await engine.driver.deleteVolume(volumeId).catch(() => undefined);
  await removeRunDir(engine.clusterOf(stub, volumeId));
  release('ports', stub.port, engine.config.home);
  if (uid !== undefined) release('uids', uid, engine.config.home);
  engine.store.tx(() => {
    dropSpansIn(engine.store, engine.store.allSpans().filter((s) => s.containerId === stub.id).map((s) => s.branchId));
    engine.journalEnd(journal);
  });
  await sweepArchives(engine);
}

export const recoverContainerCreate: Recover<'container-create'> = rollback;

function usedUids(engine: Engine): number[] {
  return engine.store.allContainers().flatMap((c) => (c.uid === undefined ? [] : [c.uid]));
}

function parse(raw: unknown): ContainerCreateParams {
  const o = object(raw);
  return {
    name: name(o, 'name', 'container'),
    template: existingName(o, 'template', 'template'),
    port: optInt(o, 'port', MIN_CONTAINER_PORT, MAX_PORT),
    workDoneToken: optStr(o, 'workDoneToken'),
  };
}
