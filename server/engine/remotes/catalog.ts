/** The remote's records (format.ts): its marker, its bookmarks and template versions. */
import { EngineError } from '../errors';
import {
  bookmarkKey, decodeBookmark, decodeFiles, decodeMarker, decodeTemplateVersion, filesKey, isBookmarkId, MARKER, newMarker,
  templateKey, type Files, type Marker, type RemoteBookmark, type RemoteTemplateVersion,
} from './format';
import type { RemoteClient } from './s3';
import { sameKey } from './seal';

const READS = 8;

/** Check the bucket answers, and that the prefix is a Slipstream remote (with this engine's key,
 *  or none); `create` writes the marker into an empty one (push). */
export async function openRemote(client: RemoteClient, create: boolean): Promise<void> {
  // A missing bucket or refused credentials fail this first read, with their own messages.
  const body = await client.get(MARKER);
  if (body) { checkKey(client, decodeMarker(body)); return; }
  if (!create) throw new EngineError('NotFound', 'the remote holds no Slipstream bookmarks yet (nothing was ever pushed there).');
  await client.put(MARKER, Buffer.from(JSON.stringify(newMarker(client.sealer.keyCheck()))), 'application/json');
}

/** An encrypted remote needs this engine's key to be the one it was sealed with; a plain one, no key. */
function checkKey(client: RemoteClient, marker: Marker): void {
  const check = marker.encryption?.keyCheck;
  if (sameKey(client.sealer, check)) return;
  if (check && !client.sealer.encrypted) {
    throw new EngineError('RemoteFailed', 'the remote is encrypted, and this engine has no key for it. Remove the remote and add it again with --key-file (its key: `slipstream remote key NAME` on an engine that has it).');
  }
  if (!check) {
    throw new EngineError('RemoteFailed', 'the remote holds unencrypted bookmarks, and this engine\'s remote has a key: remove the remote and add it again without --encrypt, or give it another prefix.');
  }
  throw new EngineError('RemoteFailed', 'this engine\'s key for the remote is not the one its bookmarks were sealed with. Remove the remote and add it again with the right key (`slipstream remote key NAME` on an engine that pushed there).');
}

export async function remoteBookmarks(client: RemoteClient): Promise<RemoteBookmark[]> {
  await openRemote(client, false).catch((err: unknown) => { if (!(err instanceof EngineError && err.code === 'NotFound')) throw err; });
  const keys = (await client.list('bookmarks/')).filter((k) => /^bm_[0-9a-f]{12}\.json$/.test(k));
  const out: RemoteBookmark[] = [];
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = `bookmarks/${keys[next++]}`;
      const body = await client.getSealed(key);
      if (body) out.push(decodeBookmark(key, body));
    }
  };
  await Promise.all(Array.from({ length: Math.min(READS, keys.length) }, worker));
  return out.sort((a, b) => (a.bookmark.createdAt < b.bookmark.createdAt ? -1 : a.bookmark.createdAt > b.bookmark.createdAt ? 1 : 0));
}

/** A remote bookmark by id, or by a name unique on the remote. */
export async function findRemoteBookmark(client: RemoteClient, ref: string, remoteName: string): Promise<RemoteBookmark> {
  if (isBookmarkId(ref)) {
    const body = await client.getSealed(bookmarkKey(ref));
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
  const body = await client.getSealed(key);
  return body && decodeTemplateVersion(key, body);
}

/** Write a record (a bookmark's, a template version's), sealed when the remote has a key. */
export function putRecord(client: RemoteClient, key: string, record: object): Promise<void> {
  return client.putSealed(key, Buffer.from(JSON.stringify(record)), 'application/json');
}

export async function remoteFiles(client: RemoteClient, hash: string): Promise<Files> {
  const body = await client.getSealed(filesKey(client.sealer.name(hash)));
  if (!body) throw new EngineError('RemoteFailed', `the remote lacks file list ${hash.slice(0, 12)}; nothing was changed here. Push the bookmark again from the engine that made it.`);
  return decodeFiles(hash, body);
}
