/**
 * Content-addressed chunk store of the blocks driver. A chunk is named by its sha256 and
 * stored once, whichever files, volumes and snapshots hold it; all-zero chunks are never
 * stored (ZERO_CHUNK). Where:
 *   POOL/chunks/packs/   pack files (packs.ts): new chunks are appended to the current pack,
 *                        and seal() makes them durable with one fsync per pack and its index,
 *                        not one file per chunk and a sync of the whole file system
 *   POOL/chunks/ab/<id>  one file per chunk, as engines before packs stored them: still read
 *                        and collected, never written
 * A file that is about to be deleted (a template build's) can become a pack as it is
 * (adopt): nothing is copied.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as lz4 from 'lz4-napi';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findSystemTool } from '../../../common/executables';
import { EngineError } from '../../errors';
import { faultPoint } from '../../faults';
import { syncDir } from '../util';
import { decodeRecords, encodeRecords, INDEX_SUFFIX, newPackName, PACK_SUFFIX, type PackEntry } from './packs';

/**
 * Chunk size: 64 KiB, a multiple of PostgreSQL's 8 KiB page and of the usual
 * 4 KiB file-system block, so a dirty page never straddles two chunks.
 * Smaller chunks would track PostgreSQL's scattered page writes more finely,
 * at the cost of manifests and state files 8x larger at 8 KiB. Bigger
 * chunks would multiply the bytes stored and rewritten per dirty page (at most
 * 8x here). 64 KiB is also a large enough read/write unit to run at disk speed.
 * Changing it makes existing manifests unreadable (they record the size).
 */
export const CHUNK_SIZE = 64 * 1024;

/** Id of an all-zero chunk of any length. Not a sha256 hex, so it can never clash. */
export const ZERO_CHUNK = '0';

const ZERO_BUF = Buffer.alloc(CHUNK_SIZE);

/**
 * A chunk LZ4-compressed (the raw length first, as lz4-napi writes it), or undefined when that
 * saves less than an eighth: then it is stored raw. Pages compress well (free space, padding,
 * repeated values), and on a laptop's disk the bytes written are what a capture costs; LZ4
 * runs in the thread pool at GB/s, beside the hashing on the main thread.
 */
async function compress(data: Buffer): Promise<Buffer | undefined> {
  const packed = await lz4.compress(data);
  return packed.length <= data.length - data.length / 8 ? packed : undefined;
}

/** A compressed chunk's raw bytes; `damaged()` when they cannot be, or are not `length` long. */
function uncompressed(data: Buffer, length: number | undefined, damaged: () => Error): Buffer {
  if (data.length < 4 || data.readUInt32LE(0) > CHUNK_SIZE || (length !== undefined && data.readUInt32LE(0) !== length)) throw damaged();
  try {
    return lz4.uncompressSync(data);
  } catch {
    throw damaged();
  }
}

/** Files are read in 1 MiB slices (16 chunks) to keep the syscall count low. */
export const READ_SIZE = 16 * CHUNK_SIZE;

/** New chunks are written to their pack 4 MiB at a time, for the same reason. */
const WRITE_SIZE = 4 * 1024 * 1024;

export function isChunkId(id: string): boolean {
  return id === ZERO_CHUNK || /^[0-9a-f]{64}$/.test(id);
}

export function chunkId(data: Buffer): string {
  // Buffer.equals is a memcmp: much cheaper than hashing the zeros.
  if (data.equals(ZERO_BUF.subarray(0, data.length))) return ZERO_CHUNK;
  return createHash('sha256').update(data).digest('hex');
}

export interface ChunkStoreStats {
  /** Chunks newly written to the store (dedup hits excluded), and the bytes written for them (compressed where it paid). */
  chunksWritten: number;
  chunkBytesWritten: number;
  /** Chunks stored by taking a whole file as a pack, and that file's bytes. */
  chunksAdopted: number;
  bytesAdopted: number;
  /** put() calls that found the chunk already stored. */
  chunksDeduped: number;
  chunksRead: number;
  chunksCollected: number;
}

/** A pack file on disk (its path: ChunkStore.packPath). */
interface Pack {
  name: string;
}

/** Where a chunk is: its pack, and its record's place and form there. */
interface Location extends Omit<PackEntry, 'id'> {
  pack: Pack;
}

export class ChunkStore {
  readonly stats: ChunkStoreStats = {
    chunksWritten: 0, chunkBytesWritten: 0, chunksAdopted: 0, bytesAdopted: 0, chunksDeduped: 0, chunksRead: 0, chunksCollected: 0,
  };
  readonly packsDir: string;
  private readonly packs = new Map<string, Pack>();
  /** Where each durable chunk is: only sealed packs are in it. */
  private readonly index = new Map<string, Location>();
  /** Chunks stored one file each (before packs). */
  private readonly loose = new Set<string>();

  constructor(private readonly dir: string) {
    this.packsDir = path.join(dir, 'packs');
  }

  /** Read what is stored. A pack without an index is what a crash left before its seal:
   *  nothing names its chunks, so it goes. */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.packsDir, { recursive: true, mode: 0o700 });
    for (const shard of await fs.promises.readdir(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await fs.promises.readdir(path.join(this.dir, shard))) if (isChunkId(name)) this.loose.add(name);
    }
    const names = await fs.promises.readdir(this.packsDir);
    for (const file of names.filter((n) => n.endsWith(PACK_SUFFIX)).sort()) {
      const name = file.slice(0, -PACK_SUFFIX.length);
      const entries = await fs.promises.readFile(this.indexPath(name)).then(decodeRecords, () => []);
      if (entries.length) this.register(name, entries);
      else await this.removePack(name);
    }
    for (const file of names.filter((n) => n.endsWith(INDEX_SUFFIX))) {
      const name = file.slice(0, -INDEX_SUFFIX.length);
      if (!this.packs.has(name)) await fs.promises.rm(this.indexPath(name), { force: true });
    }
  }

  /** Stored durably (or all zeros). */
  has(id: string): boolean {
    return id === ZERO_CHUNK || this.index.has(id) || this.loose.has(id);
  }

  /** A pack of its own for one capture's new chunks (ChunkBatch). */
  batch(): ChunkBatch {
    return new ChunkBatch(this);
  }

  /** Reads for one restore; close it when done. */
  reader(): ChunkReader {
    return new ChunkReader(this);
  }

  /** Where a durable chunk is; undefined for a loose one. */
  locate(id: string): Location | undefined {
    return this.index.get(id);
  }

  /** A sealed pack's chunks become readable (ChunkBatch.seal, adopt); with `moved`, from it
   *  rather than where they were (sweep). */
  register(name: string, entries: readonly PackEntry[], moved = false): void {
    const pack = { name };
    this.packs.set(name, pack);
    for (const e of entries) if (moved || !this.index.has(e.id)) this.index.set(e.id, { pack, offset: e.offset, length: e.length, compressed: e.compressed });
  }

  /** Write a pack's index durably, after its bytes are. */
  async writeIndex(name: string, entries: readonly PackEntry[]): Promise<void> {
    const fh = await fs.promises.open(this.indexPath(name), 'wx', 0o600);
    try {
      await fh.write(encodeRecords(entries));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await syncDir(this.packsDir);
  }

  /**
   * Make the open file `fh` a pack as it is, with its `chunks` (as chunkFile said), instead of
   * copying them: a hard link to the very file opened (`ln -L /proc/self/fd/3`, never a path
   * that could have been swapped since), then made the engine's and read-only. Only for a
   * file nothing writes again: the caller deletes the volume it is in right after. False,
   * with nothing stored, when the file has other links or no link can be made (another file
   * system, no `ln`): store its chunks instead.
   */
  async adopt(fh: fs.promises.FileHandle, chunks: readonly string[], size: number): Promise<boolean> {
    const ln = findSystemTool('ln');
    if (!ln || (await fh.stat()).nlink !== 1) return false;
    const name = newPackName();
    if (!(await linkOpenFile(ln, fh, this.packPath(name)))) return false;
    const entries: PackEntry[] = [];
    const seen = new Set<string>();
    chunks.forEach((id, i) => {
      if (this.has(id) || seen.has(id)) return;
      seen.add(id);
      entries.push({ id, offset: i * CHUNK_SIZE, length: Math.min(CHUNK_SIZE, size - i * CHUNK_SIZE), compressed: false });
    });
    try {
      // Its database synced it at its shutdown checkpoint: this fsync finds nothing to write.
      await fh.sync();
      if (process.getuid?.() === 0) await fh.chown(0, 0);
      await fh.chmod(0o400);
      await this.writeIndex(name, entries);
    } catch (err) {
      await this.removePack(name);
      throw err;
    }
    this.register(name, entries);
    this.stats.chunksAdopted += entries.length;
    this.stats.bytesAdopted += size;
    return true;
  }

  /**
   * Delete what `live` does not name: loose chunks one by one; packs none of whose chunks is
   * live (index first: a pack without one is removed by init); and packs mostly dead, whose
   * live chunks are copied into a new pack first. Call it with no capture or restore running.
   */
  async sweep(live: ReadonlySet<string>): Promise<void> {
    for (const id of [...this.loose]) {
      if (live.has(id)) continue;
      await fs.promises.rm(path.join(this.dir, id.slice(0, 2), id), { force: true });
      this.loose.delete(id);
      this.stats.chunksCollected++;
    }
    const bytes = new Map<Pack, { live: number; dead: number }>();
    for (const [id, at] of this.index) {
      const b = bytes.get(at.pack) ?? { live: 0, dead: 0 };
      if (live.has(id)) b.live += at.length;
      else b.dead += at.length;
      bytes.set(at.pack, b);
    }
    const doomed = [...this.packs.values()].filter((p) => !bytes.get(p)?.live || bytes.get(p)!.dead >= bytes.get(p)!.live);
    await this.copyLive(doomed, live);
    for (const pack of doomed) {
      await this.removePack(pack.name);
      this.packs.delete(pack.name);
      for (const [id, at] of [...this.index]) {
        if (at.pack !== pack) continue;
        this.index.delete(id);
        if (!live.has(id)) this.stats.chunksCollected++;
      }
    }
  }

  /** The live chunks of packs about to go, into a new pack (sealed before they go). */
  private async copyLive(doomed: readonly Pack[], live: ReadonlySet<string>): Promise<void> {
    const going = new Set(doomed);
    const keep = [...this.index].filter(([id, at]) => going.has(at.pack) && live.has(id));
    if (!keep.length) return;
    const reader = this.reader();
    const batch = new ChunkBatch(this, true);
    try {
      for (const [id] of keep) await batch.put(id, await reader.read(id));
      await batch.seal();
    } catch (err) {
      await batch.abandon();
      throw err;
    } finally {
      await reader.close();
    }
  }

  async readLoose(id: string): Promise<Buffer> {
    try {
      return await fs.promises.readFile(path.join(this.dir, id.slice(0, 2), id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new EngineError('VolumeFailed', `chunk ${id} is missing from the chunk store; the snapshot that needs it cannot be restored`);
    }
  }

  async removePack(name: string): Promise<void> {
    await fs.promises.rm(this.indexPath(name), { force: true });
    await fs.promises.rm(this.packPath(name), { force: true });
  }

  packPath(name: string): string {
    return path.join(this.packsDir, name + PACK_SUFFIX);
  }

  private indexPath(name: string): string {
    return path.join(this.packsDir, name + INDEX_SUFFIX);
  }
}

/**
 * One capture's new chunks, appended to a pack of its own: a crash or a failure leaves a
 * pack no index names (abandon, or init, removes it), and deleting the capture later frees
 * its pack whole. A chunk already durable in the store is not written again; one that only
 * another capture's unsealed pack holds is, since that capture may yet fail.
 */
export class ChunkBatch {
  private readonly name = newPackName();
  private writer: Promise<fs.promises.FileHandle> | undefined;
  /** Bytes put so far: the pack's size once every buffer is written. */
  private size = 0;
  private readonly entries: PackEntry[] = [];
  private readonly ids = new Set<string>();
  /** Chunks not yet written, gathered into one write (`WRITE_SIZE`). */
  private buffer = Buffer.allocUnsafe(WRITE_SIZE);
  private buffered = 0;
  /** The writes so far, one after another; a failed one fails every later put and seal(). */
  private writing: Promise<void> = Promise.resolve();
  private abandoned = false;

  /** `copy`: every chunk put is written, even if stored (sweep moves chunks between packs). */
  constructor(private readonly store: ChunkStore, private readonly copy = false) {}

  /** Store a chunk unless it is already there. Durable once seal() has returned. The data is
   *  copied before it returns, so the caller may reuse its buffer. */
  async put(id: string, data: Buffer): Promise<void> {
    this.refuseIfAbandoned();
    if (id === ZERO_CHUNK) return;
    // Files are chunked in parallel: a chunk two of them share is written once.
    if ((!this.copy && this.store.has(id)) || this.ids.has(id)) {
      this.store.stats.chunksDeduped++;
      return;
    }
    this.ids.add(id);
    const packed = await compress(data);
    this.refuseIfAbandoned(); // abandoned while it was compressed
    const stored = packed ?? data;
    if (this.buffered + stored.length > WRITE_SIZE) this.flush();
    stored.copy(this.buffer, this.buffered);
    this.buffered += stored.length;
    this.entries.push({ id, offset: this.size, length: stored.length, compressed: packed !== undefined });
    this.size += stored.length;
    this.store.stats.chunksWritten++;
    this.store.stats.chunkBytesWritten += stored.length;
    // One write per chunk cost a trip through the thread pool each: 37,000 of them for 2.4 GB.
    // The put that fills a buffer waits for its write, which bounds the memory held.
    if (this.buffered === WRITE_SIZE) await this.flush();
  }

  private refuseIfAbandoned(): void {
    if (this.abandoned) throw new Error('a chunk was put into an abandoned batch');
  }

  /** Write the buffer at its place in the pack, after the writes before it. */
  private flush(): Promise<void> {
    if (this.buffered === 0) return this.writing;
    const data = this.buffer.subarray(0, this.buffered);
    const at = this.size - this.buffered;
    this.buffer = Buffer.allocUnsafe(WRITE_SIZE);
    this.buffered = 0;
    if (!this.writer) {
      this.writer = fs.promises.open(this.store.packPath(this.name), 'wx', 0o600);
      this.writer.catch(() => undefined); // failed, it fails the write below
    }
    const writer = this.writer;
    this.writing = this.writing.then(async () => {
      const fh = await writer;
      let done = 0;
      while (done < data.length) done += (await fh.write(data, done, data.length - done, at + done)).bytesWritten;
    });
    // A put that overflows the buffer does not wait for this write: a failure must not be an
    // unhandled rejection (it would end the engine). The next waiting put, or seal(), throws it.
    this.writing.catch(() => undefined);
    return this.writing;
  }

  /** Make every chunk put durable: the pack fsynced, then its index written and fsynced. */
  async seal(): Promise<void> {
    await this.flush();
    if (!this.writer) return;
    const fh = await this.writer;
    await fh.sync();
    await fh.close();
    this.writer = undefined;
    await faultPoint('chunks:before-index');
    await this.store.writeIndex(this.name, this.entries);
    this.store.register(this.name, this.entries, this.copy);
  }

  /** Forget what was put: the capture failed. Nothing can be put after. */
  async abandon(): Promise<void> {
    this.abandoned = true;
    await this.writing.catch(() => undefined);
    const writer = this.writer;
    this.writer = undefined;
    await (await writer?.catch(() => undefined))?.close();
    await this.store.removePack(this.name);
  }
}

/** Chunks read for one restore, each checked against its hash: a damaged store must fail
 *  loudly rather than restore wrong data. Packs stay open until close(). */
export class ChunkReader {
  private readonly open = new Map<string, Promise<fs.promises.FileHandle>>();

  constructor(private readonly store: ChunkStore) {}

  /** `length`: the raw length a manifest records; undefined (sweep), whatever it is. */
  async read(id: string, length?: number): Promise<Buffer> {
    return (await this.readStored(id, length)).raw;
  }

  /** The chunk's bytes, checked against its id, and `lz4`: the bytes as stored, where they are
   *  stored compressed (a push sends them as they are rather than compressing them again). */
  async readStored(id: string, length?: number): Promise<{ raw: Buffer; lz4?: Buffer }> {
    if (id === ZERO_CHUNK) return { raw: ZERO_BUF.subarray(0, length) };
    const damaged = () => new EngineError('VolumeFailed', `chunk ${id} in the chunk store is damaged; the snapshot that needs it cannot be restored`);
    const at = this.store.locate(id);
    let data: Buffer;
    let lz4: Buffer | undefined;
    if (at) {
      if (!at.compressed && length !== undefined && at.length !== length) throw damaged();
      data = Buffer.allocUnsafe(at.length);
      let fh = this.open.get(at.pack.name);
      if (!fh) this.open.set(at.pack.name, fh = fs.promises.open(this.store.packPath(at.pack.name), 'r'));
      if ((await readFull(await fh, data, at.offset)) < at.length) throw damaged();
      if (at.compressed) { lz4 = data; data = uncompressed(data, length, damaged); }
    } else {
      data = await this.store.readLoose(id);
    }
    this.store.stats.chunksRead++;
    if ((length !== undefined && data.length !== length) || chunkId(data) !== id) throw damaged();
    return { raw: data, lz4 };
  }

  async close(): Promise<void> {
    for (const fh of this.open.values()) await (await fh.catch(() => undefined))?.close();
    this.open.clear();
  }
}

/** Every chunk id stored under `dir` (a pool's chunks/), read without changing anything: for
 *  tests and diagnostics beside a running engine. */
export async function storedChunkIds(dir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  const list = (d: string) => fs.promises.readdir(d).catch(() => [] as string[]);
  for (const shard of (await list(dir)).filter((n) => /^[0-9a-f]{2}$/.test(n))) {
    for (const name of await list(path.join(dir, shard))) if (isChunkId(name)) ids.add(name);
  }
  const packs = path.join(dir, 'packs');
  for (const name of (await list(packs)).filter((n) => n.endsWith(INDEX_SUFFIX))) {
    for (const e of decodeRecords(await fs.promises.readFile(path.join(packs, name)))) ids.add(e.id);
  }
  return ids;
}

/** Hard-link the file open as `fh` at `dest`: the child gets it as fd 3, and ln -L follows
 *  /proc/self/fd/3 to that very file (linkat with AT_SYMLINK_FOLLOW). */
function linkOpenFile(ln: string, fh: fs.promises.FileHandle, dest: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(ln, ['-L', '/proc/self/fd/3', dest], { stdio: ['ignore', 'ignore', 'ignore', fh.fd] });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
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
