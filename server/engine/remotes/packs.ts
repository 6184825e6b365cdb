/**
 * Chunks travel in packs: a few thousand compressed chunks in one object, so a push of gigabytes
 * is tens of uploads rather than tens of thousands, and a pull reads them back in byte ranges.
 * A pack's index is written after the pack; an interrupted push leaves whole packs with their
 * indexes, which the next push finds and does not send again.
 */
import * as lz4 from 'lz4-napi';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../volumes/util';
import { wholeNumberSetting } from '../envSetting';
import { newPackName, RECORD } from '../volumes/blocks/packs';
import { CHUNK_SIZE } from '../volumes/blocks/chunkStore';
import { checkPackIndex, decodePackIndex, encodePackIndex, indexKey, packIndexIntact, packKey, type PackedChunk } from './format';
import type { RemoteClient } from './s3';
import type { Sealer } from './seal';
import type { RemoteRecord } from '../records';
import type { ChunkData } from '../volumes/snapshotReader';

/** A pack is sent once it holds this much, or a chunk less (tests make it smaller to interrupt a
 *  push between packs). 8 MiB, so that a pack is one request (RemoteClient.put): a multipart
 *  upload's last request cost s3rver 0.16 s for 21 MB, a seventh of a push after a small change,
 *  and it comes after the last byte is sent. */
const packSize = () => wholeNumberSetting('SLIPSTREAM_REMOTE_PACK_MIB', process.env.SLIPSTREAM_REMOTE_PACK_MIB,
  { fallback: 8, min: 1, kind: 'a whole number of MiB', what: 'how big a pack of chunks sent to a remote grows' }) * 1024 * 1024 - MAX_CHUNK;
/** A push's first pack holds 2 MiB, and each next one twice the last, up to packSize: the last
 *  pack's upload comes after the last chunk is read, and after a small change it was a whole
 *  8 MiB one (0.07 s of a push of 0.57 s on btrfs), where now most of it went up meanwhile. */
const FIRST_PACK_MIB = 2;
const PACKS_IN_FLIGHT = 3;
/** The most a chunk takes in a pack: raw, sealed. */
const MAX_CHUNK = CHUNK_SIZE + 64;
const INDEX_READS = 8;
/** A chunk's name: the first bytes of its index record (sha256, or its HMAC on an encrypted remote). */
const NAME = 32;

export interface Located extends PackedChunk { pack: string }

/**
 * Every chunk the remote holds, by its name there (Sealer.name of its id): the indexes of all its
 * packs. An index never changes once written, so each is fetched once and kept in `cacheDir`
 * (HOME/remote-cache/…): a push or pull lists the packs and reads only the new indexes.
 */
export async function remoteChunks(client: RemoteClient, cacheDir: string): Promise<Map<string, Located>> {
  const out = new Map<string, Located>();
  await eachIndex(client, cacheDir, (name, body) => {
    // The decoded records become the map's values as they are: a copy of each costs more than the decoding.
    for (const c of decodePackIndex(name, body).chunks as Located[]) { c.pack = name; out.set(c.id, c); }
  });
  return out;
}

/** Only the names of the chunks the remote holds: all a push needs, at a fraction of the cost. */
export async function remoteChunkNames(client: RemoteClient, cacheDir: string): Promise<ChunkNames> {
  const bodies: Buffer[] = [];
  await eachIndex(client, cacheDir, (_name, body) => { bodies.push(body); });
  return new ChunkNames(bodies);
}

/**
 * A set of chunk names read straight from pack index records, in an open-addressed table keyed
 * by each name's first four bytes; the whole name is compared only where those match. A string
 * and a Set entry for each of the remote's names was most of a push after a small change.
 */
export class ChunkNames {
  private readonly records: Buffer;
  /** Per slot, 1 + the record whose name lands there; 0 where none does. */
  private readonly table: Uint32Array;

  constructor(indexes: readonly Buffer[]) {
    this.records = Buffer.concat(indexes);
    const count = this.records.length / RECORD;
    this.table = new Uint32Array(2 ** Math.ceil(Math.log2(count * 2 + 2)));
    const mask = this.table.length - 1;
    for (let r = 0; r < count; r++) {
      let slot = this.records.readUInt32BE(r * RECORD) & mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
      this.table[slot] = r + 1;
    }
  }

  has(name: string): boolean {
    const prefix = Number.parseInt(name.slice(0, 8), 16);
    const mask = this.table.length - 1;
    for (let slot = prefix & mask; this.table[slot] !== 0; slot = (slot + 1) & mask) {
      const at = (this.table[slot] - 1) * RECORD;
      if (this.records.readUInt32BE(at) === prefix && this.records.toString('hex', at, at + NAME) === name) return true;
    }
    return false;
  }
}

/**
 * Every pack index of the remote, checked (every record's crc), from memory, the cache or the
 * remote. A cached one is used only at the size the remote lists for it and only if it checks
 * out: kept without fsync, a crash may leave it short or torn, and then it is fetched again.
 */
async function eachIndex(client: RemoteClient, cacheDir: string, use: (name: string, body: Buffer) => void): Promise<void> {
  const indexes = (await client.listSized('packs/')).filter((o) => o.name.endsWith('.idx'))
    .map((o) => ({ name: o.name.slice(0, -'.idx'.length), size: o.size }));
  await fs.promises.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const memo = checkedIndexes(cacheDir);
  let next = 0;
  const worker = async () => {
    while (next < indexes.length) {
      const { name, size } = indexes[next++];
      let body = memo.get(name);
      if (body?.length !== size) {
        // The cache folder is HOME's own (no tenant writes there).
        body = await fs.promises.readFile(path.join(cacheDir, `${name}.idx`)).catch(() => undefined);
        if (body?.length !== size || !packIndexIntact(body)) {
          body = await client.get(indexKey(name));
          if (!body) continue; // removed meanwhile
          checkPackIndex(name, body); // only a valid index is kept
          await keepIndex(cacheDir, name, body);
        }
      }
      memo.set(name, body);
      use(name, body);
    }
  };
  await Promise.all(Array.from({ length: Math.min(INDEX_READS, indexes.length) }, worker));
}

/**
 * Pack indexes this engine has checked, by cache folder: a push after a small change reads every
 * index of the remote, and checking the records of the bench's (80,000) took 14.5 ms of the
 * engine's thread by hand, besides reading them from the cache each time. Dropped once unused for
 * CHECKED_FOR, so an idle engine keeps none in memory.
 */
const checked = new Map<string, { bodies: Map<string, Buffer>; timer: NodeJS.Timeout }>();
const CHECKED_FOR = 10 * 60_000;

function checkedIndexes(cacheDir: string): Map<string, Buffer> {
  const had = checked.get(cacheDir);
  if (had) clearTimeout(had.timer);
  const bodies = had?.bodies ?? new Map<string, Buffer>();
  const timer = setTimeout(() => checked.delete(cacheDir), CHECKED_FOR);
  timer.unref();
  checked.set(cacheDir, { bodies, timer });
  return bodies;
}

/** An index in the cache, HOME's own folder (no tenant writes there). Not synced: eachIndex
 *  takes it only at the size the remote lists, and an fsync beside a push's uploads waits on the
 *  disk's journal. One not kept is fetched again next time. */
function keepIndex(cacheDir: string, name: string, body: Buffer): Promise<void> {
  return writeFileAtomic(path.join(cacheDir, `${name}.idx`), body, cacheDir, { sync: false }).catch(() => undefined);
}

/** Where a remote's pack indexes are kept: named by the remote's location, so a remote removed
 *  and added again elsewhere under the same name starts afresh. */
export function indexCacheDir(home: string, r: RemoteRecord): string {
  const where = createHash('sha256').update(`${r.bucket}\n${r.prefix}\n${r.endpoint ?? ''}`).digest('hex').slice(0, 16);
  return path.join(home, 'remote-cache', `${r.name}-${where}`);
}

/** LZ4 when it saves an eighth or more, as the blocks driver's chunk store does (so its stored
 *  bytes are taken as they are); then sealed. On this thread: 64 KiB of a table takes LZ4 about
 *  20 µs, less than the thread pool's round trip (250 µs, most of which this thread waited on). */
function encodeChunk({ raw, lz4: stored }: ChunkData, sealer: Sealer): { data: Buffer; compressed: boolean } {
  if (stored) return { data: sealer.seal(stored), compressed: true };
  const packed = lz4.compressSync(raw);
  const compressed = packed.length <= raw.length - raw.length / 8;
  const data = sealer.seal(compressed ? packed : raw);
  // raw may be a reader's buffer, read into again once this returns (EachChunk).
  return { data: data === raw ? Buffer.from(raw) : data, compressed };
}

/** A chunk's raw bytes from its pack bytes; undefined when they are not what the id says. */
export function decodeChunk(c: PackedChunk, bytes: Buffer, sealer: Sealer, verify: (raw: Buffer) => boolean): Buffer | undefined {
  const opened = sealer.open(bytes);
  if (!opened) return undefined;
  let raw: Buffer;
  try {
    raw = c.compressed ? lz4.uncompressSync(opened) : opened;
  } catch {
    return undefined;
  }
  return verify(raw) ? raw : undefined;
}

/** A pack being filled, its chunks' bytes as they will lie in it. */
interface OpenPack { name: string; parts: Buffer[]; chunks: PackedChunk[]; size: number }

/** Collects new chunks into packs and uploads them, PACKS_IN_FLIGHT at a time while another fills. */
export class Packer {
  private open?: OpenPack;
  private readonly added = new Set<string>();
  private readonly closing = new Set<Promise<void>>();
  private failure: unknown;
  private readonly packSize = packSize();
  private sent = 0;

  /** `cacheDir`: where the remote's indexes are kept (indexCacheDir); each index written here is
   *  kept there too, so the next push does not fetch what this one wrote (0.1 s of one after a
   *  small change). */
  constructor(private readonly client: RemoteClient, private readonly cacheDir: string,
    private readonly uploaded: (bytes: number, chunks: number) => void) {}

  has(id: string): boolean {
    return this.added.has(id);
  }

  /** The chunk is encoded, and its bytes no longer needed, before anything is awaited. */
  async add(id: string, chunk: ChunkData): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.added.has(id)) return;
    this.added.add(id);
    const { data, compressed } = encodeChunk(chunk, this.client.sealer);
    // Nothing is awaited before the chunk is in the pack: adds run side by side, and each
    // chunk's record must say where its bytes lie.
    const pack = this.open ??= { name: newPackName(), parts: [], chunks: [], size: 0 };
    pack.chunks.push({ id: this.client.sealer.name(id), offset: pack.size, length: data.length, compressed });
    pack.parts.push(data);
    pack.size += data.length;
    if (pack.size >= Math.min(this.packSize, (FIRST_PACK_MIB << Math.min(this.sent, 10)) * 1024 * 1024 - MAX_CHUNK)) await this.close();
  }

  /** Send what is left and wait for every upload. */
  async finish(): Promise<void> {
    if (this.open) await this.close();
    await Promise.allSettled([...this.closing]);
    if (this.failure) throw this.failure;
  }

  /** Send the open pack; its index goes up once the pack is there. */
  private async close(): Promise<void> {
    const pack = this.open!;
    this.open = undefined;
    this.sent++;
    const done = this.client.put(packKey(pack.name), Buffer.concat(pack.parts, pack.size)).then(async () => {
      const index = encodePackIndex(pack.chunks);
      // Used only once the remote lists it, at the size listed; one not kept is fetched instead.
      const keep = fs.promises.mkdir(this.cacheDir, { recursive: true, mode: 0o700 })
        .then(() => keepIndex(this.cacheDir, pack.name, index)).catch(() => undefined);
      checkedIndexes(this.cacheDir).set(pack.name, index);
      await Promise.all([this.client.put(indexKey(pack.name), index), keep]);
      this.uploaded(pack.size, pack.chunks.length);
    }).catch((err: unknown) => { this.failure ??= err; });
    this.closing.add(done);
    void done.finally(() => this.closing.delete(done));
    while (this.closing.size >= PACKS_IN_FLIGHT) await Promise.race(this.closing);
    if (this.failure) throw this.failure;
  }
}
