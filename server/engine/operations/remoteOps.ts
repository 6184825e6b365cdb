import * as fs from 'node:fs';
import {
  RemoteAddRequest, RemoteBookmarksRequest, RemoteKeyRequest, RemoteListRequest, RemoteRemoveRequest,
  type NameParams, type RemoteAddParams, type RemoteBookmarkInfo, type RemoteBookmarksParams, type RemoteInfo,
} from '../../protocol';
import type { Engine, OpContext } from '../engine';
import { EngineError } from '../errors';
import { now } from '../ids';
import type { RemoteRecord } from '../records';
import { findRemoteBookmark, openRemote, remoteBookmarks } from '../remotes/catalog';
import { indexCacheDir } from '../remotes/packs';
import { RemoteClient, remoteUrl } from '../remotes/s3';
import { newKey, parseKey } from '../remotes/seal';
import { existingName, name, object, optBool, optStr, str } from '../validate';
import { operation } from './operation';

/** remote add NAME s3://BUCKET/PREFIX [--endpoint URL] [--region R]: admins only (in team mode the
 *  engine holds the credentials). The bucket must answer before the remote is recorded. */
export const remoteAdd = operation(RemoteAddRequest.type, (raw): RemoteAddParams => {
  const o = object(raw);
  const p: RemoteAddParams = {
    name: name(o, 'name', 'remote'), url: str(o, 'url', 1024), endpoint: optStr(o, 'endpoint', 1024), region: optStr(o, 'region', 64),
    encrypt: optBool(o, 'encrypt'), key: optStr(o, 'key', 128),
  };
  if (p.encrypt && p.key !== undefined) throw new EngineError('InvalidArgument', '--encrypt makes a new key; --key-file gives an existing one: pass one of them.');
  if (p.key !== undefined) parseKey(p.key);
  return p;
}, async ({ engine, caller, signal }: OpContext, p: RemoteAddParams) => {
  engine.requireAdmin(caller, 'add remotes');
  const key = p.encrypt ? newKey() : p.key;
  const record: RemoteRecord = { name: p.name, ...parseS3Url(p.url), ...endpointAndRegion(p), ...(key ? { key } : {}), createdAt: now() };
  if (engine.store.remote(p.name)) throw new EngineError('NameTaken', `a remote named "${p.name}" exists already. Remove it first, or pick another name.`);
  const client = new RemoteClient(record, signal);
  try {
    // The bucket must answer, and a prefix that holds bookmarks already must match the key (or its absence).
    await openRemote(client, false).catch((err: unknown) => { if (!(err instanceof EngineError && err.code === 'NotFound')) throw err; });
  } finally {
    client.destroy();
  }
  engine.store.tx(() => engine.store.putRemote(record));
  return remoteInfo(record);
});

export const remoteList = operation(RemoteListRequest.type, () => ({}), async ({ engine }: OpContext) =>
  engine.store.allRemotes().map(remoteInfo));

/** remote key NAME: an encrypted remote's key, for another engine's remote add --key-file (admins). */
export const remoteKey = operation(RemoteKeyRequest.type, (raw): NameParams => ({ name: existingName(object(raw), 'name', 'remote') }),
  async ({ engine, caller }: OpContext, p: NameParams) => {
    engine.requireAdmin(caller, 'read remote keys');
    const r = findRemote(engine, p.name);
    if (!r.key) throw new EngineError('InvalidArgument', `remote "${r.name}" is not encrypted: it has no key.`);
    return { name: r.name, key: r.key };
  });

/** remote remove NAME: forgets it here; the remote's objects stay where they are. */
export const remoteRemove = operation(RemoteRemoveRequest.type, (raw): NameParams => ({ name: existingName(object(raw), 'name', 'remote') }),
  async ({ engine, caller }: OpContext, p: NameParams) => {
    engine.requireAdmin(caller, 'remove remotes');
    const r = findRemote(engine, p.name);
    engine.store.tx(() => engine.store.removeRemote(r.name));
    await fs.promises.rm(indexCacheDir(engine.config.home, r), { recursive: true, force: true });
    return remoteInfo(r);
  });

/** bookmark list --remote R: the bookmarks the remote holds (pushed to the end). */
export const remoteBookmarkList = operation(RemoteBookmarksRequest.type, (raw): RemoteBookmarksParams => {
  const o = object(raw);
  return { remote: existingName(o, 'remote', 'remote'), ...(o.bookmark === undefined ? {} : { bookmark: str(o, 'bookmark', 1024) }) };
}, async ({ engine, signal }: OpContext, p: RemoteBookmarksParams): Promise<RemoteBookmarkInfo[]> => {
    const remote = findRemote(engine, p.remote);
    const client = new RemoteClient(remote, signal);
    try {
      const found = p.bookmark === undefined ? await remoteBookmarks(client) : [await findRemoteBookmark(client, p.bookmark, remote.name)];
      return found.map(({ bookmark: b, template: t, pushedAt }) => ({
        id: b.id, name: b.name, template: t.name, templateVersion: t.version, container: b.container, branch: b.branch,
        owner: b.owner, tags: b.tags, note: b.note, createdAt: b.createdAt, pushedAt, ...(b.git ? { git: b.git } : {}),
      }));
    } finally {
      client.destroy();
    }
  });

export function findRemote(engine: Engine, ref: string): RemoteRecord {
  const r = engine.store.remote(ref);
  if (!r) throw new EngineError('NotFound', `remote "${ref}" not found. See remotes with: slipstream remote list`);
  return r;
}

export function remoteInfo(r: RemoteRecord): RemoteInfo {
  return {
    name: r.name, url: remoteUrl(r), ...(r.endpoint ? { endpoint: r.endpoint } : {}), ...(r.region ? { region: r.region } : {}),
    encrypted: r.key !== undefined, createdAt: r.createdAt,
  };
}

/** s3://BUCKET[/PREFIX]: S3's bucket naming rules, and a prefix of plain path segments. */
function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  const usage = `"${url.slice(0, 80)}" is not a remote location: expected s3://BUCKET or s3://BUCKET/PREFIX.`;
  if (!m) throw new EngineError('InvalidArgument', usage);
  const bucket = m[1];
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new EngineError('InvalidArgument', `"${bucket}" is not a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens.`);
  }
  const segments = (m[2] ?? '').split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..' || /[\u0000-\u001f\u007f\\]/.test(s))) {
    throw new EngineError('InvalidArgument', `the prefix of "${url.slice(0, 80)}" has a "." or ".." segment or a control character.`);
  }
  return { bucket, prefix: segments.length ? `${segments.join('/')}/` : '' };
}

/** An endpoint is http(s)://HOST[:PORT] and never carries credentials. */
function endpointAndRegion(p: RemoteAddParams): Pick<RemoteRecord, 'endpoint' | 'region'> {
  const out: Pick<RemoteRecord, 'endpoint' | 'region'> = {};
  if (p.endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(p.endpoint);
    } catch {
      throw new EngineError('InvalidArgument', `--endpoint "${p.endpoint.slice(0, 80)}" is not a URL: expected http(s)://HOST[:PORT].`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new EngineError('InvalidArgument', `--endpoint must be http:// or https://, not ${u.protocol}`);
    if (u.username || u.password) {
      throw new EngineError('InvalidArgument', '--endpoint must not carry credentials: the engine reads them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE.');
    }
    out.endpoint = u.origin;
  }
  if (p.region !== undefined) {
    if (!/^[a-z0-9-]{1,32}$/.test(p.region)) throw new EngineError('InvalidArgument', `--region "${p.region.slice(0, 40)}" is not a region name (like eu-west-1).`);
    out.region = p.region;
  }
  return out;
}
