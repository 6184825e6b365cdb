import { BookmarkPushRequest, type BookmarkPushParams, type TransferInfo } from '../../protocol';
import { log, type Engine, type OpContext } from '../engine';
import type { BookmarkRecord, TemplateVersionRecord } from '../records';
import type { ReadBase } from '../volumes/snapshotReader';
import { EngineError } from '../errors';
import { findBookmark, findContainer } from '../lookup';
import { now } from '../ids';
import { openRemote, putRecord, remoteFiles, remoteTemplateVersion } from '../remotes/catalog';
import { bookmarkKey, decodeBookmark, templateKey, type RemoteBookmark, type RemoteTemplateVersion } from '../remotes/format';
import { indexCacheDir, Packer, remoteChunkNames } from '../remotes/packs';
import { PushedLists, pushSnapshot, readBase, type PushedFiles } from '../remotes/push';
import { RemoteClient } from '../remotes/s3';
import { Tally } from '../remotes/transfer';
import { bookmarkInfo } from '../views';
import { containerRef, existingName, object, optStr, str } from '../validate';
import { operation } from './operation';
import { findRemote } from './remoteOps';

/**
 * bookmark push B --remote R: upload what the remote lacks of the bookmark and of the template
 * version it came from, then the bookmark's record, last: until then the remote shows nothing
 * of it. Chunks already there (from any engine's push, or an interrupted one) are not sent.
 * Nothing changes locally, so no lock is held: the snapshots are kept from deletion meanwhile.
 */
export const bookmarkPush = operation(BookmarkPushRequest.type, (raw): BookmarkPushParams => {
  const o = object(raw);
  return {
    bookmark: str(o, 'bookmark', 256), container: o.container === undefined ? undefined : containerRef(o, 'container'),
    remote: existingName(o, 'remote', 'remote'), workDoneToken: optStr(o, 'workDoneToken'),
  };
}, async ({ engine, caller, progress, signal }: OpContext, p: BookmarkPushParams): Promise<TransferInfo> => {
  const remote = findRemote(engine, p.remote);
  const bm = findBookmark(engine, caller, p.bookmark, p.container ? findContainer(engine, caller, p.container) : undefined);
  const template = engine.store.template(bm.templateId);
  const version = template?.versions.find((v) => v.version === bm.templateVersion);
  if (!template || !version) {
    throw new EngineError('NotFound', `bookmark "${bm.name}" came from template version ${bm.templateVersion}, which this engine no longer has; it cannot be pushed.`);
  }
  const client = new RemoteClient(remote, signal);
  const tally = new Tally(progress, 'pushing');
  let templateMoved = false;
  try {
    progress.report(`reaching remote "${remote.name}"`);
    // The template version's record is asked for meanwhile (one round trip less); what the remote
    // itself answers comes first, its errors too.
    const versionThere = remoteTemplateVersion(client, template.id, version.version);
    versionThere.catch(() => undefined);
    await openRemote(client, true);
    progress.report('reading what the remote holds');
    // Awaited only when the first chunk is looked up: meanwhile the snapshot is listed and a base found.
    const cacheDir = indexCacheDir(engine.config.home, remote);
    const known = tally.step('remote index', () => remoteChunkNames(client, cacheDir));
    const pushedLists = new PushedLists(cacheDir);
    known.catch(() => undefined); // its failure is thrown where it is awaited
    const templateThere = await versionThere;
    const packer = new Packer(client, cacheDir, (bytes, n) => { tally.bytesMoved += bytes; tally.chunksMoved += n; });
    await engine.whileReading([bm.snapshotId, version.snapshotId], async () => {
      let pushedTemplate: PushedFiles | undefined;
      if (!templateThere) {
        pushedTemplate = await tally.step('template', () => pushSnapshot(engine.driver, version.snapshotId, client, known, packer, pushedLists, tally, `template "${template.name}" v${version.version}`, signal));
        const record: RemoteTemplateVersion = {
          format: 'slipstream-template-version', version: 1,
          template: { id: template.id, name: template.name, version: version.version, createdAt: version.createdAt }, files: pushedTemplate.hash,
        };
        await putRecord(client, templateKey(template.id, version.version), record);
        templateMoved = true;
      }
      const base = engine.driver.readsFromBase ? await tally.step('base', () => baseFor(engine, client, pushedLists, bm, version, pushedTemplate, templateThere)) : undefined;
      // base's snapshot is only looked at (its extents), but it too must stay while that happens.
      const { hash: files } = await engine.whileReading(base ? [base.snapshotId] : [], () => tally.step('bookmark',
        () => pushSnapshot(engine.driver, bm.snapshotId, client, known, packer, pushedLists, tally, `bookmark "${bm.name}"`, signal, base)));
      const c = engine.store.container(bm.containerId);
      const record: RemoteBookmark = {
        format: 'slipstream-bookmark', version: 1,
        bookmark: {
          id: bm.id, name: bm.name, owner: bm.pulled?.owner ?? bm.owner, container: c?.name ?? bm.pulled?.container ?? bm.containerId,
          branch: bm.branchName, tags: bm.tags, note: bm.note, createdAt: bm.createdAt, consistency: bm.consistency,
          ...(bm.asOf ? { asOf: bm.asOf } : {}), ...(bm.lsn ? { lsn: bm.lsn } : {}), ...(bm.git ? { git: bm.git } : {}),
        },
        template: { id: template.id, name: template.name, version: version.version }, files, pushedAt: now(),
      };
      await putRecord(client, bookmarkKey(bm.id), record);
    });
  } finally {
    client.destroy();
  }
  log(tally.summary(`bookmark "${bm.name}" to remote "${remote.name}"`));
  progress.report(`pushed bookmark "${bm.name}"`, 100);
  return {
    bookmark: bookmarkInfo(engine.store, bm), remote: remote.name, chunks: tally.chunks, chunksMoved: tally.chunksMoved,
    bytesMoved: tally.bytesMoved, templateMoved, bytesRead: tally.bytesRead, seconds: tally.seconds,
  };
});

/**
 * A snapshot whose file list is known that the bookmark likely shares most of its data with, for
 * a driver that reads less with one: the template version pushed just now; else the newest
 * earlier bookmark of its branch that this engine pushed here (its list kept locally) or that the
 * remote holds (a push after a small change); else the template version. Which one only changes
 * how much is read: the extents decide what is shared, the remote's index what is sent.
 */
async function baseFor(engine: Engine, client: RemoteClient, lists: PushedLists, bm: BookmarkRecord, version: TemplateVersionRecord,
  pushedTemplate?: PushedFiles, templateThere?: RemoteTemplateVersion): Promise<ReadBase | undefined> {
  if (pushedTemplate) return readBase(version.snapshotId, pushedTemplate.entries);
  const earlier = engine.store.bookmarksByTime()
    .filter((b) => b.containerId === bm.containerId && b.branchId === bm.branchId && b.id !== bm.id && b.createdAt <= bm.createdAt)
    .slice(-BASE_TRIES).reverse();
  for (const b of earlier) {
    const kept = await lists.load(b.snapshotId);
    if (kept) return readBase(b.snapshotId, kept);
  }
  for (const b of earlier) {
    const body = await client.getSealed(bookmarkKey(b.id));
    if (body) return readBase(b.snapshotId, (await remoteFiles(client, decodeBookmark(bookmarkKey(b.id), body).files)).entries);
  }
  const kept = await lists.load(version.snapshotId);
  if (kept) return readBase(version.snapshotId, kept);
  return templateThere && readBase(version.snapshotId, (await remoteFiles(client, templateThere.files)).entries);
}

/** Earlier bookmarks of the branch looked for, newest first. */
const BASE_TRIES = 3;
