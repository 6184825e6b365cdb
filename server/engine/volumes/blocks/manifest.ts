/**
 * The two records of the blocks driver, both JSON and both written tmp+rename:
 *
 * - A manifest (POOL/snapshots/<id>.manifest) is a snapshot: every directory,
 *   symlink and file of the volume with its mode, and for files the size and
 *   chunk ids. JSON keeps it inspectable; chunk ids dominate its size anyway
 *   (~2.7 MB for a 2.5 GB data directory).
 * - A volume state (POOL/volstate/<id>.json, outside the volume so PostgreSQL
 *   never sees it) is, per file, the stat and chunk ids last captured or
 *   written. A file whose stat still matches is known not to have changed,
 *   which is what makes snapshot and restore O(changed files).
 */
import type { BigIntStats } from 'node:fs';
import { EngineError } from '../../errors';
import { ChangedPages, isLsn, type ChangedPagesJson } from '../../postgres/walSummaries';
import { CHUNK_SIZE, chunkCount, isChunkId } from './chunkStore';

export type ManifestEntry =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; mode: number; target: string }
  | { path: string; type: 'file'; mode: number; size: number; chunks: string[] };

export type FileEntry = Extract<ManifestEntry, { type: 'file' }>;

export interface Manifest {
  format: 'slipstream-blocks-manifest';
  version: 1;
  chunkSize: number;
  createdAt: string;
  /** The start LSN of the online backup it was copied in; none for a stopped database.
   *  A volume restored from it counts changed pages from there (WAL summaries). */
  lsn?: string;
  /** Sorted by path, so every directory comes before its contents. */
  entries: ManifestEntry[];
}

export function newManifest(entries: ManifestEntry[], lsn?: string): Manifest {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { format: 'slipstream-blocks-manifest', version: 1, chunkSize: CHUNK_SIZE, createdAt: new Date().toISOString(), lsn, entries: sorted };
}

/** A relative path that stays inside the volume. */
function isSafeRelPath(p: unknown): p is string {
  return typeof p === 'string' && p.length > 0 && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function isMode(m: unknown): m is number {
  return Number.isInteger(m) && (m as number) >= 0 && (m as number) <= 0o7777;
}

function checkEntry(e: ManifestEntry): boolean {
  if (!e || !isSafeRelPath(e.path) || !isMode(e.mode)) return false;
  if (e.type === 'dir') return true;
  if (e.type === 'symlink') return typeof e.target === 'string' && e.target.length > 0;
  if (e.type !== 'file' || !Number.isSafeInteger(e.size) || e.size < 0 || !Array.isArray(e.chunks)) return false;
  return e.chunks.length === chunkCount(e.size) && e.chunks.every(isChunkId);
}

/** Parse and validate: a manifest drives writes and deletes inside a volume,
 *  so a damaged one must be refused before anything is touched. */
export function decodeManifest(text: string, snapshotId: string): Manifest {
  const bad = (why: string) => new EngineError('VolumeFailed', `the manifest of snapshot ${snapshotId} is damaged (${why}); it cannot be restored`);
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw bad('not JSON');
  }
  if (m?.format !== 'slipstream-blocks-manifest' || m.version !== 1 || !Array.isArray(m.entries)) throw bad('unknown format');
  if (m.chunkSize !== CHUNK_SIZE) throw bad(`chunk size ${m.chunkSize}, this engine uses ${CHUNK_SIZE}`);
  if (m.lsn !== undefined && !isLsn(m.lsn)) throw bad('its LSN is not one');
  const seen = new Set<string>();
  for (const e of m.entries) {
    if (!checkEntry(e)) throw bad(`invalid entry ${JSON.stringify(e?.path)}`);
    if (seen.has(e.path)) throw bad(`duplicate entry ${e.path}`);
    seen.add(e.path);
  }
  return m;
}

export function encodeManifest(m: Manifest): string {
  return JSON.stringify(m);
}

// ---------------------------------------------------------------- volume state

export interface FileState {
  size: number;
  /** bigint nanoseconds and inode, as decimal strings (JSON has no bigint). */
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  chunks: string[];
  /** The stat does not vouch for these chunks: the file changed while it was copied from the
   *  running database, or just before. Only the WAL summaries since the state's LSN can
   *  say which of them still hold (a relation's main fork). */
  walOnly?: true;
}

/** What a volume's files held at its last capture or restore, and from which LSN on the
 *  WAL summaries describe every page changed since (none: they are not used). */
export interface VolumeState {
  files: Map<string, FileState>;
  lsn?: string;
  /** The pages changed since `lsn`, noted when the volume's database stopped at once (a switch):
   *  what it said before the stop and its WAL after, up to `upTo`, where its WAL then ended. A
   *  capture of the stopped volume reads the WAL from `upTo` on as well (BlocksDriver.noted). */
  noted?: NotedChanges;
}

export interface NotedChanges {
  upTo: string;
  timeline: number;
  walSegmentSize: number;
  pages: ChangedPagesJson;
}

interface VolumeStateFile {
  format: 'slipstream-blocks-state';
  version: 1;
  chunkSize: number;
  lsn?: string;
  files: Record<string, FileState>;
  noted?: NotedChanges;
}

export function fileStateOf(st: BigIntStats, chunks: string[]): FileState {
  return { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: st.ino.toString(), chunks };
}

/** Same size, mtime, ctime and inode: the content is what we recorded. ctime
 *  catches writes that restore the mtime; the inode catches a file replaced by rename. */
export function statMatches(s: FileState, st: BigIntStats): boolean {
  return !s.walOnly && s.size === Number(st.size) && s.mtimeNs === st.mtimeNs.toString()
    && s.ctimeNs === st.ctimeNs.toString() && s.ino === st.ino.toString();
}

export function encodeState(state: VolumeState): string {
  const out: VolumeStateFile = {
    format: 'slipstream-blocks-state', version: 1, chunkSize: CHUNK_SIZE, lsn: state.lsn, files: Object.fromEntries(state.files),
    noted: state.noted,
  };
  return JSON.stringify(out);
}

/** A state that cannot be used (damaged, other chunk size) is treated as
 *  empty: that only costs a full rehash, never wrong data. */
export function decodeState(text: string): VolumeState {
  try {
    const s = JSON.parse(text) as VolumeStateFile;
    if (s?.format !== 'slipstream-blocks-state' || s.version !== 1 || s.chunkSize !== CHUNK_SIZE) return { files: new Map() };
    const files = new Map<string, FileState>();
    for (const [p, f] of Object.entries(s.files ?? {})) {
      if (isSafeRelPath(p) && Array.isArray(f?.chunks) && f.chunks.every(isChunkId) && f.chunks.length === chunkCount(f.size)) files.set(p, f);
    }
    const lsn = isLsn(s.lsn) ? s.lsn : undefined;
    return { files, lsn, noted: lsn ? notedOf(s.noted) : undefined };
  } catch {
    return { files: new Map() };
  }
}

/** A note as written, or undefined (the capture then reads changed files whole). */
function notedOf(raw: unknown): NotedChanges | undefined {
  const n = raw as Partial<NotedChanges> | undefined;
  if (!n || typeof n !== 'object' || !isLsn(n.upTo) || !Number.isSafeInteger(n.timeline) || !Number.isSafeInteger(n.walSegmentSize)) return undefined;
  return ChangedPages.fromJSON(n.pages) ? (n as NotedChanges) : undefined;
}
