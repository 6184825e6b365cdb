import {
  BookmarkCreateRequest,
  BookmarkDeleteRequest,
  BookmarkShareRequest,
  BookmarkUnshareRequest,
  ContainerListRequest,
  RestoreRequest,
  type BookmarkInfo,
  type BranchInfo,
} from '../../server/protocol';
import type { BookmarkRef, ItemRef } from '../model/refs';
import { answered, bookmarkOf, containerForTemplate, containerOf, withEngineProgress } from './pickers';
import type { Session } from './session';

/** Bookmark the active branch: the name is asked, tags are optional (comma-separated). */
export async function createBookmark(s: Session, ref?: ItemRef): Promise<BookmarkInfo> {
  const c = await containerOf(s, ref, 'Bookmark the active branch of which container?');
  const name = answered(await s.ui.input({
    title: `Bookmark ${c.container}`,
    prompt: 'Bookmark name: an immutable snapshot of the active branch, to restore or branch from later',
    placeholder: 'after edge case data',
    required: true,
  }));
  const tagText = answered(await s.ui.input({
    title: `Bookmark ${name}`, prompt: 'Tags (optional, comma-separated)', placeholder: 'qa, bug-1234',
  }));
  const tags = parseTags(tagText);
  const git = await s.gitContext?.();
  const bm = await withEngineProgress(s, `Bookmarking ${c.container} as ${name}`,
    (opts) => s.engine.request(BookmarkCreateRequest.type, { container: c.container, name, tags, ...(git ? { git } : {}) }, opts));
  s.ui.info(`Bookmark ${bm.name} taken on branch ${bm.branch} (${bm.consistency}).`);
  return bm;
}

export function parseTags(text: string): string[] {
  return [...new Set(text.split(',').map((t) => t.trim()).filter(Boolean))];
}

/** The container a bookmark is restored into: where it was taken when that is the user's, else one from its template. */
async function targetContainer(s: Session, bm: BookmarkRef, title: string): Promise<string> {
  const own = await s.engine.request(ContainerListRequest.type, {});
  if (own.some((c) => c.name === bm.container)) return bm.container;
  return (await containerForTemplate(s, bm.template, title)).name;
}

/** Restore: rewind the active branch to the bookmark, discarding what changed since. */
export async function restore(s: Session, ref?: ItemRef): Promise<BranchInfo | undefined> {
  const bm = await bookmarkOf(s, ref, 'Restore which bookmark?');
  const container = await targetContainer(s, bm, `Restore ${bm.name} into which container?`);
  const ok = await s.ui.confirm(`Restore ${container} to bookmark ${bm.name}?`,
    'The active branch is rewound to the bookmark; every change made on it since is discarded. Bookmark first if you want to keep them.',
    'Restore');
  if (!ok) return undefined;
  const b = await withEngineProgress(s, `Restoring ${container} to ${bm.name}`,
    (opts) => s.engine.request(RestoreRequest.type, { container, bookmark: bm.id }, opts));
  s.ui.info(`Branch ${b.name} of ${container} is restored to bookmark ${bm.name}.`);
  return b;
}

export async function share(s: Session, ref?: ItemRef): Promise<BookmarkInfo> {
  const bm = await bookmarkOf(s, ref, 'Share which bookmark?', (b) => !b.shared);
  const result = await s.engine.request(BookmarkShareRequest.type, { bookmark: bm.id });
  s.ui.info(`Bookmark ${result.name} is shared with everyone whose containers come from template ${result.template}.`);
  return result;
}

export async function unshare(s: Session, ref?: ItemRef): Promise<BookmarkInfo> {
  const bm = await bookmarkOf(s, ref, 'Unshare which bookmark?', (b) => b.shared);
  const result = await s.engine.request(BookmarkUnshareRequest.type, { bookmark: bm.id });
  s.ui.info(`Bookmark ${result.name} is private again.`);
  return result;
}

export async function deleteBookmark(s: Session, ref?: ItemRef): Promise<boolean> {
  const bm = await bookmarkOf(s, ref, 'Delete which bookmark?');
  const ok = await s.ui.confirm(`Delete bookmark ${bm.name}?`,
    bm.shared ? 'It is shared: nobody can restore or branch from it afterwards. Branches made from it keep their data.'
      : 'You can no longer restore or branch from it. Branches made from it keep their data.',
    'Delete Bookmark');
  if (!ok) return false;
  await s.engine.request(BookmarkDeleteRequest.type, { bookmark: bm.id });
  s.ui.info(`Bookmark ${bm.name} deleted.`);
  return true;
}
