import { BookmarkCreateRequest, type BookmarkCreateParams, type GitContext } from '../../protocol';
import { captureFailed, captureVolume } from '../data';
import type { OpContext } from '../engine';
import { faultPoint } from '../faults';
import { newId, now } from '../ids';
import { activeBranch, findContainer } from '../lookup';
import type { BookmarkRecord } from '../records';
import { bookmarkInfo } from '../views';
import { type Raw, checkName, containerRef, name, object, optBool, optStr, optStrArray } from '../validate';
import { operation, type Recover } from './operation';

/** bookmark create NAME --container C [--tag T]... [--note TEXT] [--share]
 *  A consistent snapshot of the active branch, saying how it was made consistent.
 *  It also becomes the branch's reset point. */
export const bookmarkCreate = operation(BookmarkCreateRequest.type, parse, async (ctx: OpContext, p: BookmarkCreateParams) => {
  const { engine, caller, progress } = ctx;
  const c = findContainer(engine, caller, p.container);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'bookmark create', async () => {
    const branch = activeBranch(engine, c);
    const snapshotId = newId('snap');
    const journal = engine.journalBegin('bookmark-create', { containerId: c.id, snapshotId });
    let captured;
    try {
      captured = await captureVolume(engine, c, snapshotId, progress);
    } catch (err) {
      // The database may not start again either (that may be why the capture failed): keep the first error.
      await recoverBookmarkCreate(engine, journal).catch(() => undefined);
      throw await captureFailed(engine, c, `bookmark "${p.name}" was not taken`, 'take the bookmark again', err);
    }
    await faultPoint('bookmark-create:after-snapshot');
    const bm: BookmarkRecord = {
      id: newId('bm'), name: p.name, containerId: c.id, branchId: branch.id, branchName: branch.name,
      templateId: c.templateId, templateVersion: c.templateVersion, snapshotId, owner: caller.name,
      shared: p.share ?? false, tags: p.tags ?? [], note: p.note ?? '', createdAt: now(), consistency: captured.consistency,
      asOf: captured.asOf, ...(captured.lsn ? { lsn: captured.lsn } : {}),
      ...(p.git ? { git: p.git } : {}),
    };
    const oldBase = branch.baseSnapshotId;
    const event = engine.store.tx(() => {
      engine.store.putBookmark(bm);
      engine.store.putBranch({ ...branch, baseSnapshotId: snapshotId });
      engine.journalEnd(journal);
      return engine.appendEvent(c, caller.name, 'bookmark-created', branch.name,
        { bookmark: { id: bm.id, name: bm.name }, detail: `${captured.consistency}${bm.shared ? ', shared' : ''}` });
    });
    await engine.releaseSnapshots([oldBase]);
    engine.spares.schedule(branch.id); // the bookmark is the branch's new reset point: make its spare
    engine.notify('bookmark', c, event);
    return bookmarkInfo(engine.store, bm);
  });
});

/** A bookmark that was never recorded never shows: drop its snapshot, keep the database up. */
export const recoverBookmarkCreate: Recover<'bookmark-create'> = async (engine, journal) => {
  engine.store.tx(() => engine.journalEnd(journal));
  await engine.releaseSnapshots([journal.data.snapshotId]);
  const c = engine.store.container(journal.data.containerId);
  if (c) await engine.startDatabase(c);
};

function parse(raw: unknown): BookmarkCreateParams {
  const o = object(raw);
  return {
    container: containerRef(o, 'container'),
    name: name(o, 'name', 'bookmark'),
    tags: optStrArray(o, 'tags')?.map((t) => checkName(t, 'tag')),
    note: optStr(o, 'note', 4000),
    share: optBool(o, 'share'),
    git: o.git === undefined || o.git === null ? undefined : parseGit(object(o.git)),
    workDoneToken: optStr(o, 'workDoneToken'),
  };
}

function parseGit(o: Raw): GitContext {
  return { branch: optStr(o, 'branch', 256), commit: optStr(o, 'commit', 64), remote: optStr(o, 'remote', 1024) };
}
