/**
 * Bookmarks through S3 remotes (issue 15): push one, pull one. The engine moves the data and
 * reports bytes and time left; the window shows that progress and lets the user cancel.
 */
import {
  BookmarkPullRequest, BookmarkPushRequest, RemoteBookmarksRequest, RemoteListRequest, type RemoteInfo, type TransferInfo,
} from '../../server/protocol';
import { describeTransfer } from '../../server/common/transfers';
import type { ItemRef } from '../model/refs';
import { ago } from '../model/format';
import { answered, bookmarkOf, withEngineProgress } from './pickers';
import type { Session } from './session';

/** Push Bookmark to Remote: only what the remote lacks is sent. */
export async function pushBookmark(s: Session, ref?: ItemRef): Promise<TransferInfo> {
  const bm = await bookmarkOf(s, ref, 'Push which bookmark to a remote?');
  const remote = await remoteOf(s, `Push ${bm.name} to which remote?`);
  const t = await withEngineProgress(s, `Pushing ${bm.name} to ${remote.name}`,
    (opts) => s.engine.request(BookmarkPushRequest.type, { bookmark: bm.id, remote: remote.name }, opts));
  s.ui.info(`Pushed bookmark ${t.bookmark.name} to ${remote.name}: ${describeTransfer(t, 'sent')}.`);
  return t;
}

/** Pull Bookmark from Remote: pick one of what the remote holds; only the chunks this engine lacks are fetched. */
export async function pullBookmark(s: Session): Promise<TransferInfo> {
  const remote = await remoteOf(s, 'Pull a bookmark from which remote?');
  const held = await withEngineProgress(s, `Listing ${remote.name}`, (opts) => s.engine.request(RemoteBookmarksRequest.type, { remote: remote.name }, opts));
  if (held.length === 0) throw new Error(`Remote ${remote.name} holds no bookmarks yet. Push one first.`);
  const picked = answered(await s.ui.pick([...held].reverse().map((b) => ({
    label: b.name,
    description: [`${b.template} v${b.templateVersion}`, `${b.owner}: ${b.container}/${b.branch}`, ago(b.createdAt)].join(' · '),
    detail: b.note || undefined,
    value: b,
  })), { title: `Pull which bookmark from ${remote.name}?`, placeholder: 'Bookmark' }));
  const t = await withEngineProgress(s, `Pulling ${picked.name} from ${remote.name}`,
    (opts) => s.engine.request(BookmarkPullRequest.type, { bookmark: picked.id, remote: remote.name }, opts));
  s.ui.info(`Pulled bookmark ${t.bookmark.name} from ${remote.name}: ${describeTransfer(t, 'received')}. Branch from it or restore it like any bookmark.`);
  return t;
}

/** The only remote, or one the user picks; none is an error that says how to add one. */
async function remoteOf(s: Session, title: string): Promise<RemoteInfo> {
  const all = await s.engine.request(RemoteListRequest.type, {});
  if (all.length === 0) {
    throw new Error('This engine has no remote. An admin adds one with: slipstream remote add NAME s3://BUCKET/PREFIX [--endpoint URL] (credentials in the engine\'s environment).');
  }
  if (all.length === 1) return all[0];
  return answered(await s.ui.pick(all.map((r) => ({ label: r.name, description: `${r.url}${r.endpoint ? ` at ${r.endpoint}` : ''}`, value: r })), { title, placeholder: 'Remote' }));
}
