import { ContainerDeleteRequest, type NameParams, type WithProgress } from '../../protocol';
import type { Engine, OpContext } from '../engine';
import { findContainer } from '../lookup';
import { removeRunDir } from '../postgres/runDir';
import type { JournalRecord } from '../journal';
import { containerInfo } from '../views';
import { containerRef, object, optStr } from '../validate';
import { EngineError } from '../errors';
import { operation, type Recover } from './operation';
import { pruneTemplateVersions } from './templatePrune';
import { release } from '../reservations';
import { faultPoint } from '../faults';
import { dropSpansIn, sweepArchives } from '../spans';

/** container delete NAME: stop its database, drop its branches and their volumes (spares too). Its
 *  bookmarks go too, unless another container has branched from one of them. */
export const containerDelete = operation(ContainerDeleteRequest.type, parse, async (ctx: OpContext, p: NameParams & WithProgress) => {
  const { engine, caller } = ctx;
  const c = findContainer(engine, caller, p.name);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'container delete', async () => {
    const outside = dependentsOutside(engine, c.id);
    if (outside.length) {
      throw new EngineError('InUse', `bookmarks of container "${c.name}" are used by branches elsewhere: ${outside.join(', ')}. Those branches must be deleted first.`);
    }
    const info = containerInfo(engine.store, c, { state: 'stopped' }); // as it is once this returns
    const journal = engine.journalBegin('container-delete', { containerId: c.id });
    ctx.progress.report('stopping the database');
    await engine.stopDatabase(c);
    await finish(engine, journal);
    return info;
  });
});

/** Once begun, a delete only goes forward: metadata first (so nothing shows a half-deleted
 *  container), then the files. Re-running it after a crash is safe. */
async function finish(engine: Engine, journal: JournalRecord<'container-delete'>): Promise<void> {
  const { store } = engine;
  const c = store.container(journal.data.containerId);
  if (c) {
    const snaps: string[] = [];
    const volumes: string[] = [];
    const active = engine.activeVolume(c);
    store.tx(() => {
      for (const b of store.branchesOf(c.id)) {
        snaps.push(b.baseSnapshotId);
        volumes.push(b.volumeId);
        if (b.spare) { snaps.push(b.spare.snapshotId); volumes.push(b.spare.volumeId); }
        if (b.cold) snaps.push(b.cold.snapshotId); // its volume is gone: deleting it again is a no-op
        if (b.ready) snaps.push(b.ready.snapshotId);
        for (const s of store.spansOf(b.id)) snaps.push(...s.anchors.map((a) => a.snapshotId));
        dropSpansIn(store, [b.id]);
        store.removeBranch(b.id);
      }
      for (const b of store.bookmarksOf(c.id)) { snaps.push(b.snapshotId); store.removeBookmark(b.id); }
      store.removeEventsOf(c.id);
      store.removeContainer(c.id);
      engine.journalStepIn(journal, 'forgotten', { volumeIds: volumes.join(' '), port: c.port, uid: c.uid });
    });
    await faultPoint('container-delete:after-forget');
    await engine.stopDatabase(c, { volumeId: active }).catch(() => undefined);
    for (const v of volumes) await engine.checkpoints.written(v).then(() => engine.driver.deleteVolume(v));
    await removeRunDir(engine.clusterOf(c, active));
    await engine.releaseSnapshots(snaps);
    await sweepArchives(engine);
    await pruneTemplateVersions(engine, c.templateId);
    engine.notify('container', c);
  } else {
    // Forgotten before the crash: the journal names every branch's volume (one, from engines 0.1).
    const ids = (journal.data.volumeIds ?? journal.data.volumeId ?? '').split(' ').filter(Boolean);
    for (const v of ids) await engine.driver.deleteVolume(v).catch(() => undefined);
  }
  // Last, so no other engine on the machine can take them while the files remain.
  if (typeof journal.data.port === 'number') release('ports', journal.data.port, engine.config.home);
  if (typeof journal.data.uid === 'number') release('uids', journal.data.uid, engine.config.home);
  store.tx(() => engine.journalEnd(journal));
}

export const recoverContainerDelete: Recover<'container-delete'> = async (engine, journal) => {
  const c = engine.store.container(journal.data.containerId);
  if (c) await engine.stopDatabase(c).catch(() => undefined);
  await finish(engine, journal);
};

function dependentsOutside(engine: Engine, containerId: string): string[] {
  const mine = new Set(engine.store.bookmarksOf(containerId).map((b) => b.id));
  return engine.store.allBranches()
    .filter((b) => b.containerId !== containerId && b.origin.kind === 'bookmark' && mine.has(b.origin.bookmarkId))
    .map((b) => `${engine.store.container(b.containerId)?.name ?? '?'}/${b.name}`);
}

function parse(raw: unknown): NameParams & WithProgress {
  const o = object(raw);
  return { name: containerRef(o, 'name'), workDoneToken: optStr(o, 'workDoneToken') };
}
