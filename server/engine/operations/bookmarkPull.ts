import { BookmarkPullRequest, type BookmarkPullParams, type TransferInfo } from '../../protocol';
import { log, type Engine, type OpContext } from '../engine';
import { EngineError, volumeError } from '../errors';
import { newId, now } from '../ids';
import type { JournalRecord } from '../journal';
import type { BookmarkRecord, RemoteRecord, TemplateRecord, TemplateVersionRecord } from '../records';
import { findRemoteBookmark, openRemote, remoteFiles, remoteTemplateVersion } from '../remotes/catalog';
import { bookmarkKey, decodeBookmark, type Files, type RemoteBookmark } from '../remotes/format';
import { indexCacheDir, remoteChunks } from '../remotes/packs';
import { importFiles, pullFiles, type LocalSource, type PullInto } from '../remotes/pull';
import { RemoteClient } from '../remotes/s3';
import { Tally } from '../remotes/transfer';
import { checkName, existingName, object, optStr, str } from '../validate';
import { bookmarkInfo } from '../views';
import { faultPoint } from '../faults';
import { operation, type Recover } from './operation';
import { findRemote } from './remoteOps';

/**
 * bookmark pull B --remote R: bring a remote bookmark here, and the template version it came
 * from when this engine lacks it, as ordinary local records (branch from it, restore it, push
 * it on). On blocks each snapshot is made from its file list, with the chunks the pool lacks
 * fetched. Elsewhere it is written into a new volume from the chunks a local snapshot already
 * holds (the template version) and, for the rest, from the remote; then captured, and the volume
 * dropped. The records are written in one transaction at the end: until then nothing shows, and
 * after a crash recovery drops the volumes and snapshots.
 */
export const bookmarkPull = operation(BookmarkPullRequest.type, (raw): BookmarkPullParams => {
  const o = object(raw);
  return { bookmark: str(o, 'bookmark', 1024), remote: existingName(o, 'remote', 'remote'), workDoneToken: optStr(o, 'workDoneToken') };
}, async (ctx: OpContext, p: BookmarkPullParams): Promise<TransferInfo> => {
  const { engine, progress, signal } = ctx;
  const remote = findRemote(engine, p.remote);
  const client = new RemoteClient(remote, signal);
  try {
    progress.report(`reaching remote "${remote.name}"`);
    await openRemote(client, false);
    const rb = await findRemoteBookmark(client, p.bookmark, remote.name);
    // One pull at a time: two of the same bookmark or template version would both write it.
    return await engine.locks.with('remote-pull', 'pulls', 'bookmark pull', () => pull(ctx, remote, client, rb));
  } finally {
    client.destroy();
  }
});

async function pull(ctx: OpContext, remote: RemoteRecord, client: RemoteClient, rb: RemoteBookmark): Promise<TransferInfo> {
  const { engine, caller, progress, signal } = ctx;
  const tally = new Tally(progress, 'pulling');
  const done = (bm: BookmarkRecord, templateMoved: boolean): TransferInfo => ({
    bookmark: bookmarkInfo(engine.store, bm), remote: remote.name, chunks: tally.chunks, chunksMoved: tally.chunksMoved,
    bytesMoved: tally.bytesMoved, templateMoved, bytesRead: tally.bytesRead, seconds: tally.seconds,
  });
  const here = engine.store.bookmark(rb.bookmark.id);
  if (here) return done(here, false); // made here, or pulled before: the data is the same

  const local = engine.store.template(rb.template.id);
  const have = local?.versions.find((v) => v.version === rb.template.version);
  const tv = have ? undefined : await remoteTemplateVersion(client, rb.template.id, rb.template.version);
  if (!have && !tv) {
    throw new EngineError('RemoteFailed', `the remote lacks template version ${rb.template.name} v${rb.template.version} that bookmark "${rb.bookmark.name}" needs; nothing was changed here. Push the bookmark again from the engine that made it.`);
  }
  progress.report('reading what the remote holds');
  const chunks = await tally.step('remote index', () => remoteChunks(client, indexCacheDir(engine.config.home, remote)));
  const bookmarkFiles = await tally.step('file lists', () => remoteFiles(client, rb.files));
  const templateFiles = tv && await remoteFiles(client, tv.files);
  progress.report('finding what this engine holds already');
  // A driver that makes a snapshot from a list finds what it holds by chunk id itself.
  const sources = engine.driver.importSnapshot ? [] : await tally.step('local sources', () => localSources(engine, client, rb.template.id));
  const ids = { volumeId: newId('vol'), snapshotId: newId('snap'), ...(tv ? { templateVolumeId: newId('vol'), templateSnapshotId: newId('snap') } : {}) };
  const journal = engine.journalBegin('bookmark-pull', ids);
  const into = (volumeId: string, what: string) =>
    ({ driver: engine.driver, volumeId, owner: engine.owner, local: sources, client, chunks, tally, what, signal });
  try {
    // The local snapshots read from are kept from deletion meanwhile.
    await engine.whileReading(sources.map((x) => x.snapshotId), async () => {
      if (templateFiles) {
        await writeSnapshot(engine, templateFiles, into(ids.templateVolumeId!, `template "${rb.template.name}" v${rb.template.version}`), ids.templateSnapshotId!);
        sources.unshift({ snapshotId: ids.templateSnapshotId!, files: templateFiles });
      }
      await writeSnapshot(engine, bookmarkFiles, into(ids.volumeId, `bookmark "${rb.bookmark.name}"`), ids.snapshotId);
    });
    await faultPoint('bookmark-pull:after-capture');
    if (signal.aborted) throw new EngineError('Cancelled', 'the pull was cancelled; nothing was changed here.');
  } catch (err) {
    await recoverBookmarkPull(engine, journal).catch(() => undefined);
    throw err;
  }
  const bm = bookmarkRecord(rb, remote, caller.name, ids.snapshotId);
  engine.store.tx(() => {
    if (tv) engine.store.putTemplate(withVersion(engine, local, tv.template, remote, caller.name, ids.templateSnapshotId!));
    engine.store.putBookmark(bm);
    engine.journalEnd(journal);
  });
  if (tv) engine.notify('template');
  engine.notify('bookmark');
  log(tally.summary(`bookmark "${bm.name}" from remote "${remote.name}"`));
  progress.report(`pulled bookmark "${bm.name}"`, 100);
  return done(bm, tv !== undefined);
}

/** How many local bookmarks of the same template a pull looks for on the remote. */
const BOOKMARK_SOURCES = 3;

/**
 * Local snapshots whose contents the remote describes, so their chunks need not cross the
 * network: this template's versions, newest first, then the newest local bookmarks of it. A
 * template version or bookmark is the same data wherever its id is (pushed from here, or pulled).
 */
async function localSources(engine: Engine, client: RemoteClient, templateId: string): Promise<LocalSource[]> {
  const out: LocalSource[] = [];
  for (const v of [...(engine.store.template(templateId)?.versions ?? [])].reverse().slice(0, 2)) {
    const rtv = await remoteTemplateVersion(client, templateId, v.version);
    if (rtv) out.push({ snapshotId: v.snapshotId, files: await remoteFiles(client, rtv.files) });
  }
  const onRemote = new Set((await client.list('bookmarks/')).map((k) => k.replace(/\.json$/, '')));
  const mine = engine.store.bookmarksByTime().filter((b) => b.templateId === templateId && onRemote.has(b.id)).slice(-BOOKMARK_SOURCES).reverse();
  for (const b of mine) {
    const rb = await client.getSealed(bookmarkKey(b.id));
    if (rb) out.push({ snapshotId: b.snapshotId, files: await remoteFiles(client, decodeBookmark(bookmarkKey(b.id), rb).files) });
  }
  return out;
}

async function writeSnapshot(engine: Engine, files: Files, into: PullInto, snapshotId: string): Promise<void> {
  const { driver } = engine;
  if (driver.importSnapshot) {
    await into.tally.step('write', () => importFiles(files, into, snapshotId).catch((e) => { throw volumeError(e, 'storing the pulled data failed'); }));
    return;
  }
  await into.tally.step('write', () => pullFiles(files, into).catch((e) => { throw volumeError(e, 'writing the pulled data failed'); }));
  into.tally.say(into.what, 'capturing it');
  // The volume is deleted next: its files may become the snapshot's own (blocks).
  await into.tally.step('capture', () => (driver.snapshotLast ? driver.snapshotLast(into.volumeId, snapshotId) : driver.snapshot(into.volumeId, snapshotId))
    .catch((e) => { throw volumeError(e, 'capturing the pulled data failed'); }));
  await driver.deleteVolume(into.volumeId).catch(() => undefined);
}

function bookmarkRecord(rb: RemoteBookmark, remote: RemoteRecord, caller: string, snapshotId: string): BookmarkRecord {
  const b = rb.bookmark;
  return {
    id: b.id, name: b.name, containerId: 'pulled', branchId: 'pulled', branchName: b.branch,
    templateId: rb.template.id, templateVersion: rb.template.version, snapshotId, owner: caller, shared: false,
    tags: b.tags, note: b.note, createdAt: b.createdAt, consistency: b.consistency,
    ...(b.asOf ? { asOf: b.asOf } : {}), ...(b.lsn ? { lsn: b.lsn } : {}), ...(b.git ? { git: b.git } : {}),
    pulled: { remote: remote.name, at: now(), owner: b.owner, container: b.container },
  };
}

/** The template with the pulled version added (versions stay sorted), or a new template under
 *  the same id. Its name is the remote's unless a local template has it. */
function withVersion(engine: Engine, local: TemplateRecord | undefined, t: { id: string; name: string; version: number; createdAt: string },
  remote: RemoteRecord, caller: string, snapshotId: string): TemplateRecord {
  const v: TemplateVersionRecord = { version: t.version, snapshotId, createdAt: t.createdAt };
  if (local) return { ...local, versions: [...local.versions, v].sort((a, b) => a.version - b.version) };
  return { id: t.id, name: freeTemplateName(engine, t.name, remote.name), source: { kind: 'empty' }, owner: caller, createdAt: now(), versions: [v], pulledFrom: remote.name };
}

function freeTemplateName(engine: Engine, name: string, remote: string): string {
  const taken = new Set(engine.store.allTemplates().map((t) => t.name));
  for (const candidate of [name, `${name} from ${remote}`, `${name} from ${remote} ${Date.now().toString(36)}`]) {
    try {
      if (!taken.has(checkName(candidate, 'template'))) return candidate;
    } catch { /* a remote's name that is not a name here: try the next */ }
  }
  return `pulled ${Date.now().toString(36)}`;
}

/** A pull that never wrote its records: drop what it made. */
export const recoverBookmarkPull: Recover<'bookmark-pull'> = async (engine, journal: JournalRecord<'bookmark-pull'>) => {
  const d = journal.data;
  for (const v of [d.volumeId, d.templateVolumeId]) if (v) await engine.driver.deleteVolume(v).catch(() => undefined);
  engine.store.tx(() => engine.journalEnd(journal));
  await engine.releaseSnapshots([d.snapshotId, ...(d.templateSnapshotId ? [d.templateSnapshotId] : [])]);
};
