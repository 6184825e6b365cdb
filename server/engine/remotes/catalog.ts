/** The remote's records (format.ts): its marker, its bookmarks and template versions. */
import { EngineError } from '../errors';
import {
  bookmarkKey, decodeBookmark, decodeFiles, decodeMarker, decodeTemplateVersion, filesKey, isBookmarkId, MARKER, newMarker,
  templateKey, type Files, type RemoteBookmark, type RemoteTemplateVersion,
} from './format';
import type { RemoteClient } from './s3';

const READS = 8;

/** Check the bucket answers, and that the prefix is a Slipstream remote; `create` writes the
 *  marker into an empty one (push). */
export async function openRemote(client: RemoteClient, create: boolean): Promise<void> {
  await client.check();
  const body = await client.get(MARKER);
  if (body) { decodeMarker(body); return; }
  if (!create) throw new EngineError('NotFound', 'the remote holds no Slipstream bookmarks yet (nothing was ever pushed there).');
  await client.put(MARKER, Buffer.from(JSON.stringify(newMarker())), 'application/json');
}

export async function remoteBookmarks(client: RemoteClient): Promise<RemoteBookmark[]> {
  await openRemote(client, false).catch((err: unknown) => { if (!(err instanceof EngineError && err.code === 'NotFound')) throw err; });
  const keys = (await client.list('bookmarks/')).filter((k) => /^bm_[0-9a-f]{12}\.json$/.test(k));
  const out: RemoteBookmark[] = [];
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = `bookmarks/${keys[next++]}`;
      const body = await client.get(key);
      if (body) out.push(decodeBookmark(key, body));
    }
  };
  await Promise.all(Array.from({ length: Math.min(READS, keys.length) }, worker));
  return out.sort((a, b) => (a.bookmark.createdAt < b.bookmark.createdAt ? -1 : a.bookmark.createdAt > b.bookmark.createdAt ? 1 : 0));
}

/** A remote bookmark by id, or by a name unique on the remote. */
export async function findRemoteBookmark(client: RemoteClient, ref: string, remoteName: string): Promise<RemoteBookmark> {
  if (isBookmarkId(ref)) {
    const body = await client.get(bookmarkKey(ref));
    if (!body) throw new EngineError('NotFound', `remote "${remoteName}" holds no bookmark ${ref}. See what it holds with: slipstream bookmark list --remote ${remoteName}`);
    return decodeBookmark(bookmarkKey(ref), body);
  }
  const named = (await remoteBookmarks(client)).filter((b) => b.bookmark.name === ref);
  if (named.length === 1) return named[0];
  if (named.length === 0) throw new EngineError('NotFound', `remote "${remoteName}" holds no bookmark named "${ref}". See what it holds with: slipstream bookmark list --remote ${remoteName}`);
  throw new EngineError('Ambiguous', `remote "${remoteName}" holds ${named.length} bookmarks named "${ref}": ${named.map((b) => b.bookmark.id).join(', ')}. Use the id instead.`);
}

export async function remoteTemplateVersion(client: RemoteClient, templateId: string, version: number): Promise<RemoteTemplateVersion | undefined> {
  const key = templateKey(templateId, version);
  const body = await client.get(key);
  return body && decodeTemplateVersion(key, body);
}

export async function remoteFiles(client: RemoteClient, hash: string): Promise<Files> {
  const body = await client.get(filesKey(hash));
  if (!body) throw new EngineError('RemoteFailed', `the remote lacks file list ${hash.slice(0, 12)}; nothing was changed here. Push the bookmark again from the engine that made it.`);
  return decodeFiles(hash, body);
}
