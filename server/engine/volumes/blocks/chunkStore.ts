/**
 * Content-addressed chunk store of the blocks driver:
 *   POOL/chunks/ab/<sha256 hex>   one file per distinct chunk, named by its hash
 * Identical chunks (across files, volumes and snapshots) are stored once.
 * All-zero chunks are never stored: they are recorded as ZERO_CHUNK.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../errors';
import { exists, tmpSuffix } from '../util';

/**
 * Chunk size: 64 KiB, a multiple of PostgreSQL's 8 KiB page and of the usual
 * 4 KiB file-system block, so a dirty page never straddles two chunks.
 * Smaller chunks would track PostgreSQL's scattered page writes more finely,
 * but cost one chunk file per chunk: a 2.5 GB PGDATA is ~40k chunks at 64 KiB
 * versus ~320k at 8 KiB, with manifests and state files 8x larger. Bigger
 * chunks would multiply the bytes stored and rewritten per dirty page (at most
 * 8x here). 64 KiB is also a large enough read/write unit to run at disk speed.
 * Changing it makes existing manifests unreadable (they record the size).
 */
export const CHUNK_SIZE = 64 * 1024;

/** Id of an all-zero chunk of any length. Not a sha256 hex, so it can never clash. */
export const ZERO_CHUNK = '0';

const ZERO_BUF = Buffer.alloc(CHUNK_SIZE);

/** Files are read in 1 MiB slices (16 chunks) to keep the syscall count low. */
const READ_SIZE = 16 * CHUNK_SIZE;

export function isChunkId(id: string): boolean {
  return id === ZERO_CHUNK || /^[0-9a-f]{64}$/.test(id);
}

export function chunkId(data: Buffer): string {
  // Buffer.equals is a memcmp: much cheaper than hashing the zeros.
  if (data.equals(ZERO_BUF.subarray(0, data.length))) return ZERO_CHUNK;
  return createHash('sha256').update(data).digest('hex');
}

export interface ChunkStoreStats {
  /** Chunks newly written to the store (dedup hits excluded). */
  chunksWritten: number;
  chunkBytesWritten: number;
  /** put() calls that found the chunk already stored. */
  chunksDeduped: number;
  chunksRead: number;
  chunksCollected: number;
}

export class ChunkStore {
  readonly stats: ChunkStoreStats = { chunksWritten: 0, chunkBytesWritten: 0, chunksDeduped: 0, chunksRead: 0, chunksCollected: 0 };
  /** Ids known to be stored, to skip a stat per repeated chunk. Cleared by GC. */
  private readonly known = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();
  /** Paths written since the last takeWritten(), for the fsync fallback. */
  private written: string[] = [];

  constructor(private readonly dir: string, private readonly tmpDir: string) {}

  /** Create the 256 shard folders up front so put() never has to. */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (let i = 0; i < 256; i++) {
      await fs.promises.mkdir(path.join(this.dir, i.toString(16).padStart(2, '0')), { recursive: true, mode: 0o700 });
    }
  }

  pathOf(id: string): string {
    return path.join(this.dir, id.slice(0, 2), id);
  }

  /** Store a chunk unless it is already there. Written to a temp file and
   *  renamed, so a crash never leaves a torn chunk under its hash. */
  async put(id: string, data: Buffer): Promise<void> {
    if (id === ZERO_CHUNK) return;
    const inFlight = this.pending.get(id);
    if (this.known.has(id) || inFlight) {
      this.stats.chunksDeduped++;
      return inFlight;
    }
    // Files are chunked in parallel: a chunk two of them share is written
    // once, and the second put() waits for the first.
    const write = this.write(id, data).finally(() => this.pending.delete(id));
    this.pending.set(id, write);
    return write;
  }

  private async write(id: string, data: Buffer): Promise<void> {
    const final = this.pathOf(id);
    if (await exists(final)) {
      this.known.add(id);
      this.stats.chunksDeduped++;
      return;
    }
    const tmp = path.join(this.tmpDir, `chunk-${id.slice(0, 16)}.${tmpSuffix()}`);
    try {
      await fs.promises.writeFile(tmp, data, { flag: 'wx', mode: 0o600 });
      await fs.promises.rename(tmp, final);
    } catch (err) {
      // After ENOSPC above all, do not keep the partial file filling the disk.
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    this.known.add(id);
    this.written.push(final);
    this.stats.chunksWritten++;
    this.stats.chunkBytesWritten += data.length;
  }

  /** Read a chunk and check it against its hash: a damaged store must fail
   *  loudly rather than restore wrong data. */
  async read(id: string, length: number): Promise<Buffer> {
    if (id === ZERO_CHUNK) return ZERO_BUF.subarray(0, length);
    let data: Buffer;
    try {
      data = await fs.promises.readFile(this.pathOf(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new EngineError('VolumeFailed', `chunk ${id} is missing from the chunk store; the snapshot that needs it cannot be restored`);
    }
    this.stats.chunksRead++;
    if (data.length !== length || chunkId(data) !== id) {
      throw new EngineError('VolumeFailed', `chunk ${id} in the chunk store is damaged; the snapshot that needs it cannot be restored`);
    }
    return data;
  }

  /** Every stored chunk id (for the garbage collector's sweep). */
  async list(): Promise<string[]> {
    const ids: string[] = [];
    for (const shard of await fs.promises.readdir(this.dir)) {
      for (const name of await fs.promises.readdir(path.join(this.dir, shard))) {
        if (isChunkId(name)) ids.push(name);
      }
    }
    return ids;
  }

  async remove(id: string): Promise<void> {
    await fs.promises.rm(this.pathOf(id), { force: true });
    this.known.delete(id);
    this.stats.chunksCollected++;
  }

  /** Forget the cache of stored ids (after a sweep). */
  forget(): void {
    this.known.clear();
  }

  /** Paths written since the last call, for makeDurable()'s fsync fallback. */
  takeWritten(): string[] {
    const out = this.written;
    this.written = [];
    return out;
  }
}

/** Read `fh` from `pos` until `buf` is full or the file ends. */
export async function readFull(fh: fs.promises.FileHandle, buf: Buffer, pos: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/**
 * Split an open file into chunks and return their ids. The caller opens it (through
 * volumeFiles.ts, never by a path the tenant could redirect) and closes it.
 * `onChunk` (e.g. ChunkStore.put) sees each chunk's bytes; they live in a reused
 * buffer, so it must be done with them when its promise resolves.
 */
export async function chunkFile(
  fh: fs.promises.FileHandle,
  onChunk?: (id: string, data: Buffer) => Promise<void>,
): Promise<{ size: number; chunks: string[] }> {
  const buf = Buffer.allocUnsafe(READ_SIZE);
  const chunks: string[] = [];
  let size = 0;
  for (;;) {
    const n = await readFull(fh, buf, size);
    for (let off = 0; off < n; off += CHUNK_SIZE) {
      const data = buf.subarray(off, Math.min(off + CHUNK_SIZE, n));
      const id = chunkId(data);
      chunks.push(id);
      if (onChunk) await onChunk(id, data);
    }
    size += n;
    if (n < READ_SIZE) return { size, chunks };
  }
}

/** Number of chunks a file of `size` bytes has. */
export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_SIZE);
}
