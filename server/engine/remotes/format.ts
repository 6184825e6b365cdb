/**
 * What a remote holds, under its prefix. Everything is content-addressed or written once:
 *
 *   slipstream-remote.json                 what this is: {format, version, chunkSize}
 *   packs/<name>.pack                      chunks end to end, each LZ4-compressed where it pays
 *   packs/<name>.idx                       which chunk is where in that pack (binary records); written
 *                                          after the pack, so a chunk counts as present only once all
 *                                          of it is there
 *   files/<sha256>.json.gz                 a data directory: entries, and each file's chunk ids;
 *                                          gzipped JSON, named by the hash of the JSON
 *   templates/<template id>/<version>.json a template version: its name and its files
 *   bookmarks/<bookmark id>.json           a bookmark: its metadata, template version and files.
 *                                          Written last: until it exists the bookmark is not there
 *
 * A chunk is 64 KiB of a file (the blocks driver's chunks: the same ids), named by its sha256;
 * zero chunks are never stored. Everything read back is validated here before it drives a
 * write: a remote is another machine's data, and may be damaged or hostile.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { constants as zlibConstants, createGzip, gunzipSync } from 'node:zlib';
import type { Consistency, GitContext } from '../../protocol';
import { EngineError } from '../errors';
import { CHUNK_SIZE, chunkCount, isChunkId, ZERO_CHUNK } from '../volumes/blocks/chunkStore';
import { decodeRecords, encodeRecords, intactRecords, RECORD } from '../volumes/blocks/packs';
import type { ListedEntry } from '../volumes/snapshotReader';

export const MARKER = 'slipstream-remote.json';
export const packKey = (name: string) => `packs/${name}.pack`;
export const indexKey = (name: string) => `packs/${name}.idx`;
export const filesKey = (hash: string) => `files/${hash}.json.gz`;
export const templateKey = (templateId: string, version: number) => `templates/${templateId}/${version}.json`;
export const bookmarkKey = (bookmarkId: string) => `bookmarks/${bookmarkId}.json`;

/** `encryption`: the remote's objects are sealed (seal.ts); `keyCheck` tells the right key. */
export interface Marker { format: 'slipstream-remote'; version: 1; chunkSize: number; encryption?: { cipher: 'aes-256-gcm'; keyCheck: string } }
export const newMarker = (keyCheck: string | undefined): Marker => ({
  format: 'slipstream-remote', version: 1, chunkSize: CHUNK_SIZE, ...(keyCheck ? { encryption: { cipher: 'aes-256-gcm', keyCheck } } : {}),
});

/** A chunk in a pack: bytes [offset, offset + length), LZ4 (its raw length first) when compressed. */
export interface PackedChunk { id: string; offset: number; length: number; compressed: boolean }
export interface PackIndex { pack: string; chunks: PackedChunk[] }

export type FilesEntry = ListedEntry;
export interface Files { format: 'slipstream-files'; version: 1; chunkSize: number; entries: FilesEntry[] }

export interface RemoteTemplateVersion {
  format: 'slipstream-template-version'; version: 1;
  template: { id: string; name: string; version: number; createdAt: string };
  files: string;
}

export interface RemoteBookmark {
  format: 'slipstream-bookmark'; version: 1;
  bookmark: {
    id: string; name: string; owner: string; container: string; branch: string; tags: string[]; note: string;
    createdAt: string; consistency: Consistency; asOf?: string; lsn?: string; git?: GitContext;
  };
  template: { id: string; name: string; version: number };
  files: string;
  pushedAt: string;
}

/** Gzipped JSON, and the hash of the JSON that names it (files/, through the remote's
 *  Sealer.name). Chunk ids are hex: gzip's Huffman codes halve them. */
export function encodeFiles(entries: readonly FilesEntry[]): Promise<EncodedFiles> {
  const list = new FilesEncoder();
  for (const e of entries) list.add(e);
  return list.end();
}

export interface EncodedFiles { hash: string; body: Buffer }

/**
 * A file list encoded entry by entry, as a push reads its files: the same JSON as
 * JSON.stringify of the whole, hashed and gzipped (off the main thread) as it grows. Encoded
 * at the end, it was 0.1–0.2 s after a push's last chunk.
 */
export class FilesEncoder {
  private readonly hash = createHash('sha256');
  // Huffman codes alone: hex ids repeat no strings worth finding, and the search for them
  // (level 1) took 47 ms of a core for a list of 40,000 ids, this 14 ms, and came out smaller.
  private readonly gzip = createGzip({ level: 1, strategy: zlibConstants.Z_HUFFMAN_ONLY });
  private readonly body: Buffer[] = [];
  private pending: string[] = [];
  private pendingLength = 0;
  private first = true;

  constructor() {
    this.gzip.on('data', (b: Buffer) => this.body.push(b));
    const head: Omit<Files, 'entries'> = { format: 'slipstream-files', version: 1, chunkSize: CHUNK_SIZE };
    this.write(`${JSON.stringify(head).slice(0, -1)},"entries":[`);
  }

  add(e: FilesEntry): void {
    this.write(`${this.first ? '' : ','}${JSON.stringify(e)}`);
    this.first = false;
  }

  async end(): Promise<EncodedFiles> {
    this.write(']}');
    this.flush();
    const ended = once(this.gzip, 'end');
    this.gzip.end();
    await ended;
    return { hash: this.hash.digest('hex'), body: Buffer.concat(this.body) };
  }

  /** Written to gzip in pieces of a quarter MiB or more: each write is a task of its own. */
  private write(s: string): void {
    this.pending.push(s);
    this.pendingLength += s.length;
    if (this.pendingLength >= 256 * 1024) this.flush();
  }

  private flush(): void {
    const b = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingLength = 0;
    this.hash.update(b);
    this.gzip.write(b);
  }
}

// ------------------------------------------------------------------------ reading back

function damaged(what: string, why: string): EngineError {
  return new EngineError('RemoteFailed', `${what} on the remote is damaged (${why}); nothing was changed here. Push the bookmark again from the engine that made it.`);
}

type Raw = Record<string, unknown>;
function parse(what: string, body: Buffer): Raw {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Raw;
  } catch { /* reported below */ }
  throw damaged(what, 'not JSON');
}

const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;
const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const ID = (prefix: string) => new RegExp(`^${prefix}_[0-9a-f]{12}$`);
const isHash = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

function expect(what: string, ok: boolean, why: string): void {
  if (!ok) throw damaged(what, why);
}

export function decodeMarker(body: Buffer): Marker {
  const o = parse('the remote\'s marker', body);
  if (o.format !== 'slipstream-remote') {
    throw new EngineError('RemoteFailed', `the remote's ${MARKER} is not a Slipstream remote's; pick an empty prefix for the remote.`);
  }
  if (o.version !== 1 || o.chunkSize !== CHUNK_SIZE) {
    throw new EngineError('RemoteFailed', `the remote was written by a newer Slipstream (format ${String(o.version)}, chunks of ${String(o.chunkSize)} bytes); upgrade this engine.`);
  }
  const e = o.encryption as Raw | undefined;
  if (e !== undefined && (typeof e !== 'object' || e === null || e.cipher !== 'aes-256-gcm' || !isStr(e.keyCheck, 128))) {
    throw new EngineError('RemoteFailed', `the remote's ${MARKER} names an encryption this engine does not know; upgrade this engine.`);
  }
  return o as unknown as Marker;
}

/** A pack index is binary, as the blocks driver's are (blocks/packs.ts): per chunk its name
 *  (32 bytes), offset, length and compressed flag, and a crc32. A push after a small change
 *  reads every index of the remote (from the cache), so they must decode fast: JSON cost
 *  ~6 µs a chunk, these well under one. */
export function decodePackIndex(name: string, body: Buffer): PackIndex {
  const what = `pack index ${name}`;
  const records = decodeRecords(body);
  expect(what, records.length * RECORD === body.length, 'a torn or damaged record');
  if (!records.every((r) => r.length > 0 && r.length <= CHUNK_SIZE + 64)) throw damaged(what, 'a bad entry');
  return { pack: name, chunks: records };
}

/** Check every record of a pack index without decoding it (a push needs only the names). */
export function checkPackIndex(name: string, body: Buffer): void {
  expect(`pack index ${name}`, packIndexIntact(body), 'a torn or damaged record');
}

/** Whether every record of a pack index checks out (checkPackIndex, without the error). */
export function packIndexIntact(body: Buffer): boolean {
  return intactRecords(body) * RECORD === body.length;
}

export function encodePackIndex(chunks: readonly PackedChunk[]): Buffer {
  return encodeRecords(chunks);
}

/** A relative path that stays inside the volume. */
const isSafeRelPath = (p: unknown): p is string =>
  typeof p === 'string' && p.length > 0 && p.length <= 4096 && !p.includes('\0') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');

/** Files, checked against the hash that names them, with every path inside the volume, sorted,
 *  and every parent a directory listed before it (so no write can pass through a symlink). */
export function decodeFiles(hash: string, gz: Buffer): Files {
  const what = `file list ${hash.slice(0, 12)}`;
  let body: Buffer;
  try {
    body = gunzipSync(gz, { maxOutputLength: 512 * 1024 * 1024 });
  } catch {
    throw damaged(what, 'not gzip');
  }
  expect(what, createHash('sha256').update(body).digest('hex') === hash, 'its hash does not match its name');
  const o = parse(what, body);
  expect(what, o.format === 'slipstream-files' && o.version === 1 && o.chunkSize === CHUNK_SIZE && Array.isArray(o.entries), 'not a file list');
  const dirs = new Set<string>(['']);
  let last = '';
  const entries = (o.entries as Raw[]).map((e): FilesEntry => {
    expect(what, typeof e === 'object' && e !== null && isSafeRelPath(e.path) && isInt(e.mode) && (e.mode as number) <= 0o7777, 'a bad entry');
    const p = e.path as string;
    expect(what, p > last, 'entries out of order');
    expect(what, dirs.has(p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : ''), `${p} is not inside a listed directory`);
    last = p;
    const mode = (e.mode as number) & 0o777; // never setuid, setgid or sticky from a remote
    if (e.type === 'dir') { dirs.add(p); return { path: p, type: 'dir', mode }; }
    if (e.type === 'symlink') {
      expect(what, isStr(e.target) && (e.target as string).length > 0 && !(e.target as string).includes('\0'), 'a bad symlink');
      return { path: p, type: 'symlink', mode, target: e.target as string };
    }
    expect(what, e.type === 'file' && isInt(e.size) && Array.isArray(e.chunks) && (e.chunks as unknown[]).length === chunkCount(e.size as number)
      && (e.chunks as unknown[]).every((c) => typeof c === 'string' && isChunkId(c)), `a bad file entry ${p}`);
    return { path: p, type: 'file', mode, size: e.size as number, chunks: e.chunks as string[] };
  });
  return { format: 'slipstream-files', version: 1, chunkSize: CHUNK_SIZE, entries };
}

export function decodeTemplateVersion(key: string, body: Buffer): RemoteTemplateVersion {
  const o = parse(key, body);
  const t = o.template as Raw | undefined;
  expect(key, o.format === 'slipstream-template-version' && o.version === 1 && isHash(o.files) && typeof t === 'object' && t !== null
    && isStr(t.id, 64) && ID('tpl').test(t.id as string) && isStr(t.name, 1024) && isInt(t.version) && (t.version as number) >= 1 && isStr(t.createdAt, 64),
  'not a template version');
  return o as unknown as RemoteTemplateVersion;
}

export function decodeBookmark(key: string, body: Buffer): RemoteBookmark {
  const o = parse(key, body);
  const b = o.bookmark as Raw | undefined;
  const t = o.template as Raw | undefined;
  const okBookmark = typeof b === 'object' && b !== null && isStr(b.id, 64) && ID('bm').test(b.id as string) && isStr(b.name, 1024)
    && isStr(b.owner, 1024) && isStr(b.container, 1024) && isStr(b.branch, 1024) && Array.isArray(b.tags) && (b.tags as unknown[]).every((x) => isStr(x, 1024))
    && isStr(b.note, 10_000) && isStr(b.createdAt, 64) && ['clean-shutdown', 'atomic-snapshot', 'online-backup'].includes(b.consistency as string)
    && (b.asOf === undefined || isStr(b.asOf, 64)) && (b.lsn === undefined || isStr(b.lsn, 32))
    && (b.git === undefined || (typeof b.git === 'object' && b.git !== null && Object.values(b.git).every((x) => isStr(x, 1024))));
  const okTemplate = typeof t === 'object' && t !== null && isStr(t.id, 64) && ID('tpl').test(t.id as string) && isStr(t.name, 1024)
    && isInt(t.version) && (t.version as number) >= 1;
  expect(key, o.format === 'slipstream-bookmark' && o.version === 1 && okBookmark && okTemplate && isHash(o.files) && isStr(o.pushedAt, 64), 'not a bookmark');
  return o as unknown as RemoteBookmark;
}

export const isBookmarkId = (s: string) => ID('bm').test(s);
export { ZERO_CHUNK };
