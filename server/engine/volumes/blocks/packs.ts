/**
 * Pack files of the chunk store (chunkStore.ts):
 *   POOL/chunks/packs/<name>.pack   chunks end to end (or a file taken whole: ChunkStore.adopt)
 *   POOL/chunks/packs/<name>.idx    which chunk is where, RECORD bytes per chunk
 * A record is the chunk's sha256 (32 bytes), its offset (u64) and length (u32) in the pack,
 * and the crc32 of those 44 bytes. The length's top bit says the chunk is stored compressed
 * (`COMPRESSED`, chunkStore.ts): LZ4, its raw length before it. Its sha256 is always the raw one's. Records are appended only once the pack's bytes they
 * name are fsynced, so an index never names bytes a power loss could undo; a record torn by
 * a crash fails its crc and ends the index there.
 */
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';

export const RECORD = 48;

export interface PackEntry {
  id: string;
  offset: number;
  /** Bytes in the pack. */
  length: number;
  compressed: boolean;
}

/** The length field's flag for a compressed chunk; lengths are at most a chunk, far below it. */
const COMPRESSED = 0x8000_0000;

export const PACK_SUFFIX = '.pack';
export const INDEX_SUFFIX = '.idx';

/** A new pack's name: sorts by creation time, unique without coordination. */
export function newPackName(): string {
  return `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}`;
}

export function encodeRecords(entries: readonly PackEntry[]): Buffer {
  const buf = Buffer.alloc(entries.length * RECORD);
  entries.forEach((e, i) => {
    const at = i * RECORD;
    buf.write(e.id, at, 32, 'hex');
    buf.writeBigUInt64LE(BigInt(e.offset), at + 32);
    buf.writeUInt32LE((e.length | (e.compressed ? COMPRESSED : 0)) >>> 0, at + 40);
    buf.writeUInt32LE(crc32(buf.subarray(at, at + 44)), at + 44);
  });
  return buf;
}

/** How many records of an index are whole, up to the first that is torn or damaged. */
export function intactRecords(buf: Buffer): number {
  let n = 0;
  for (let at = 0; at + RECORD <= buf.length && crc32(buf.subarray(at, at + 44)) === buf.readUInt32LE(at + 44); at += RECORD) n++;
  return n;
}

/** The records of an index, up to the first that is torn or damaged. */
export function decodeRecords(buf: Buffer): PackEntry[] {
  const out: PackEntry[] = [];
  for (let at = 0; at + RECORD <= buf.length; at += RECORD) {
    if (crc32(buf.subarray(at, at + 44)) !== buf.readUInt32LE(at + 44)) break;
    const length = buf.readUInt32LE(at + 40);
    out.push({
      id: buf.toString('hex', at, at + 32),
      offset: Number(buf.readBigUInt64LE(at + 32)),
      length: (length & ~COMPRESSED) >>> 0,
      compressed: (length & COMPRESSED) !== 0,
    });
  }
  return out;
}
