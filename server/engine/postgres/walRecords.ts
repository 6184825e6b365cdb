/**
 * The pages named by the WAL records of a stopped cluster, from an LSN to the end of its
 * WAL: the part the WAL summaries cannot yet say, because the summarizer writes a summary
 * only at a checkpoint and the database was stopped since (walSummaries.ts says the rest).
 * The blocks driver uses both to restore a volume in place, writing back only the pages
 * that differ (docs/architecture.md, "Restoring in place").
 *
 * Only headers are decoded: each record's block references (relation, fork, block), and
 * the two storage-manager records that create or truncate a relation outside them. The
 * answer may name more pages than changed (a torn last record, a stale one that happens
 * to follow the end), which costs a few page writes; it must never name fewer, so
 * anything it does not understand in a record that looks valid ends with a reason, and
 * the caller compares whole files instead. Where the WAL ends is where PostgreSQL's own
 * recovery would stop at the latest: a page from another place in the WAL (a recycled
 * segment), a record of length zero, or one that does not point back at the one before.
 * Data pages can only hold changes whose WAL reached the disk first, so nothing past that
 * end matters.
 *
 * The files are the tenant's: a forged WAL can only make its own restore wrong, the same
 * as forging its data (docs/security.md).
 */
import { formatLsn, type SummaryRow } from './walSummaries';

/** WAL page size, and the page magic of the versions whose record format this reads. */
const PAGE_SIZE = 8192;
const KNOWN_MAGIC = new Set([0xd116, 0xd118]); // PostgreSQL 17 and 18
const XLP_LONG_HEADER = 0x0002;
const SHORT_HEADER = 24;
const LONG_HEADER = 40;
const RECORD_HEADER = 24;

const RM_XLOG = 0;
const XLOG_SWITCH = 0x40;
const RM_SMGR = 2;
const XLOG_SMGR_CREATE = 0x10;
const XLOG_SMGR_TRUNCATE = 0x20;

const MAX_BLOCK_ID = 32;
const BLOCK_ID_DATA_SHORT = 255;
const BLOCK_ID_DATA_LONG = 254;
const BLOCK_ID_ORIGIN = 253;
const BLOCK_ID_TOPLEVEL_XID = 252;
const HAS_IMAGE = 0x10;
const SAME_REL = 0x80;
const FORK_MASK = 0x0f;
const IMAGE_HAS_HOLE = 0x01;
const IMAGE_COMPRESSED = 0x04 | 0x08 | 0x10;

/** Reads `length` bytes (fewer at its end) from `position` of a WAL segment file of pg_wal,
 *  or undefined when there is none. */
export type SegmentReader = (name: string, position: number, length: number) => Promise<Buffer | undefined>;

/** WAL is read in windows of this size, so memory stays flat however much there is. */
const WINDOW = 1024 * 1024;
/** Only a record's headers are decoded: 24 bytes, then at most 33 block headers of 27
 *  bytes and the data, origin and transaction headers (RM_SMGR's main data fits too). */
const MAX_HEADERS = 1024;

export interface WalTail {
  rows: SummaryRow[];
  /** Where the WAL ends: the first LSN past its last record. */
  end: bigint;
}

/** At most this much WAL is read: past it, the summarizer was far behind and whole files are cheaper. */
const MAX_TAIL = 1024n * 1024n * 1024n;
/** A longer record is not read into memory (PostgreSQL allows up to 1020 MB; its own are far smaller). */
const MAX_RECORD = 64 * 1024 * 1024;

/**
 * The pages the records from `from` (a record's start, or a page boundary before one) to
 * the end of the WAL of timeline `tli` change, with `segmentSize` bytes per segment file.
 */
export async function walTail(read: SegmentReader, from: bigint, tli: number, segmentSize: number): Promise<WalTail | { reason: string }> {
  try {
    return await scan(new WalStream(read, tli, BigInt(segmentSize)), from);
  } catch (err) {
    if (err instanceof WalEnd) return { reason: err.message };
    throw err;
  }
}

/** Thrown when the WAL cannot be read as expected; the caller falls back. */
class WalEnd extends Error {}

async function scan(wal: WalStream, from: bigint): Promise<WalTail> {
  const rows: SummaryRow[] = [];
  let pos = await wal.recordStart(from);
  let prev: bigint | undefined;
  for (;;) {
    if (pos === undefined) return { rows, end: from };
    if (pos - from > MAX_TAIL) throw new WalEnd(`more than ${MAX_TAIL / 1048576n} MiB of WAL since the last WAL summary`);
    const head = await wal.bytes(pos, RECORD_HEADER);
    if (!head) return { rows, end: pos };
    const totLen = head.readUInt32LE(0);
    const xlPrev = head.readBigUInt64LE(8);
    if (totLen < RECORD_HEADER || (prev !== undefined && xlPrev !== prev)) return { rows, end: pos };
    if (totLen > MAX_RECORD) throw new WalEnd(`the WAL record at ${formatLsn(pos)} is ${totLen} bytes long`);
    const record = await wal.bytes(pos, Math.min(totLen, MAX_HEADERS));
    if (!record) return { rows, end: pos };
    decodeRecord(record, totLen, rows, pos);
    prev = pos;
    const info = record.readUInt8(16);
    const rmid = record.readUInt8(17);
    if (rmid !== RM_XLOG || (info & 0xf0) !== XLOG_SWITCH) {
      pos = await wal.after(pos, totLen);
      continue;
    }
    // A switch record ends its segment (the server's flush position moves to its end): the
    // next record starts the next segment, if any was written yet.
    const segment = wal.nextSegment(pos);
    pos = await wal.recordStart(segment);
    if (pos === undefined) return { rows, end: segment };
  }
}

/** Add the pages one record changes to `rows`, from its first bytes `rec` (its headers). */
function decodeRecord(rec: Buffer, totLen: number, rows: SummaryRow[], at: bigint): void {
  const bad = (why: string) => new WalEnd(`the WAL record at ${formatLsn(at)} ${why}`);
  let off = RECORD_HEADER;
  let dataTotal = 0;
  let rel: { tablespace: number; database: number; relfilenode: number } | undefined;
  let lastId = -1;
  const need = (n: number) => {
    if (off + n > rec.length) throw bad('ends inside its headers');
  };
  while (totLen - off > dataTotal) {
    need(1);
    const id = rec.readUInt8(off++);
    if (id === BLOCK_ID_DATA_SHORT) {
      need(1);
      dataTotal += rec.readUInt8(off);
      off += 1;
      break;
    }
    if (id === BLOCK_ID_DATA_LONG) {
      need(4);
      dataTotal += rec.readUInt32LE(off);
      off += 4;
      break;
    }
    if (id === BLOCK_ID_ORIGIN) { off += 2; continue; }
    if (id === BLOCK_ID_TOPLEVEL_XID) { off += 4; continue; }
    if (id > MAX_BLOCK_ID || id <= lastId) throw bad(`has a block reference ${id} out of order`);
    lastId = id;
    need(3);
    const forkFlags = rec.readUInt8(off);
    dataTotal += rec.readUInt16LE(off + 1);
    off += 3;
    if (forkFlags & HAS_IMAGE) {
      need(5);
      dataTotal += rec.readUInt16LE(off);
      const bimgInfo = rec.readUInt8(off + 4);
      off += 5;
      if (bimgInfo & IMAGE_HAS_HOLE && bimgInfo & IMAGE_COMPRESSED) off += 2;
    }
    if (!(forkFlags & SAME_REL)) {
      need(12);
      rel = { tablespace: rec.readUInt32LE(off), database: rec.readUInt32LE(off + 4), relfilenode: rec.readUInt32LE(off + 8) };
      off += 12;
    }
    if (!rel) throw bad('refers to the same relation as a block before it, and there is none');
    need(4);
    rows.push({ ...rel, fork: forkFlags & FORK_MASK, block: rec.readUInt32LE(off), isLimit: false });
    off += 4;
  }
  if (off + dataTotal !== totLen) throw bad('does not add up to its length');
  storageRecord(rec, totLen - dataTotal, rows);
}

/** A relation created or truncated: its files are compared whole (a limit, as in a summary). */
function storageRecord(rec: Buffer, mainData: number, rows: SummaryRow[]): void {
  const op = rec.readUInt8(16) & 0xf0;
  if (rec.readUInt8(17) !== RM_SMGR || (op !== XLOG_SMGR_CREATE && op !== XLOG_SMGR_TRUNCATE)) return;
  // xl_smgr_create: the relation first; xl_smgr_truncate: a block number, then the relation.
  const at = mainData + (op === XLOG_SMGR_TRUNCATE ? 4 : 0);
  if (at + 12 > rec.length) throw new WalEnd('a storage record is too long or too short');
  rows.push({ tablespace: rec.readUInt32LE(at), database: rec.readUInt32LE(at + 4), relfilenode: rec.readUInt32LE(at + 8), fork: 0, block: 0, isLimit: true });
}

/**
 * The WAL as one stream of bytes by LSN, without its page headers. Each page read is
 * checked to be the page of that LSN on this timeline; one that is not ends the WAL.
 */
class WalStream {
  private window: { segno: bigint; start: number; data: Buffer | undefined } | undefined;

  constructor(private readonly read: SegmentReader, private readonly tli: number, private readonly segmentSize: bigint) {
    if (segmentSize < BigInt(PAGE_SIZE) || segmentSize % BigInt(PAGE_SIZE) !== 0n) throw new WalEnd(`a WAL segment size of ${segmentSize} bytes is not one`);
  }

  /** The start of the first record at or after `lsn`: past a page header, and past the rest of
   *  a record that began on an earlier page. Undefined when that page is not there. */
  async recordStart(lsn: bigint): Promise<bigint | undefined> {
    if (lsn % BigInt(PAGE_SIZE) !== 0n) return lsn;
    const page = await this.page(lsn);
    if (!page) return undefined;
    const remaining = BigInt(page.readUInt32LE(16));
    return this.after(lsn + BigInt(headerSize(page)), Number(remaining));
  }

  /** `n` bytes from `lsn` on, across page headers; undefined when the WAL ends first. */
  async bytes(lsn: bigint, n: number): Promise<Buffer | undefined> {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let pos = lsn;
    while (got < n) {
      const pageStart = pos - (pos % BigInt(PAGE_SIZE));
      const page = await this.page(pageStart);
      if (!page) return undefined;
      let inPage = Number(pos - pageStart);
      if (inPage === 0) {
        inPage = headerSize(page);
        pos += BigInt(inPage);
      }
      const take = Math.min(n - got, PAGE_SIZE - inPage);
      page.copy(out, got, inPage, inPage + take);
      got += take;
      pos += BigInt(take);
    }
    return out;
  }

  /** Where the next record starts after one of `length` bytes at `lsn`: past the page
   *  headers it spans, aligned to 8 bytes. */
  async after(lsn: bigint, length: number): Promise<bigint> {
    let pos = lsn;
    let left = length;
    while (left > 0) {
      const inPage = Number(pos % BigInt(PAGE_SIZE));
      if (inPage === 0) {
        const page = await this.page(pos);
        pos += BigInt(page ? headerSize(page) : SHORT_HEADER);
        continue;
      }
      const take = Math.min(left, PAGE_SIZE - inPage);
      pos += BigInt(take);
      left -= take;
    }
    pos = (pos + 7n) & ~7n;
    // A record never starts at a page boundary: the page's header comes first.
    if (pos % BigInt(PAGE_SIZE) === 0n) {
      const page = await this.page(pos);
      if (page) pos += BigInt(headerSize(page));
    }
    return pos;
  }

  nextSegment(lsn: bigint): bigint {
    return (lsn / this.segmentSize + 1n) * this.segmentSize;
  }

  /** The WAL page at `start`, if it is that page of this timeline's WAL. */
  private async page(start: bigint): Promise<Buffer | undefined> {
    const segno = start / this.segmentSize;
    const off = Number(start % this.segmentSize);
    const from = off - (off % WINDOW);
    if (this.window?.segno !== segno || this.window.start !== from) {
      const name = segmentName(this.tli, segno, this.segmentSize);
      this.window = { segno, start: from, data: await this.read(name, from, Math.min(WINDOW, Number(this.segmentSize) - from)) };
    }
    const data = this.window.data;
    if (!data || off - from + PAGE_SIZE > data.length) return undefined;
    const page = data.subarray(off - from, off - from + PAGE_SIZE);
    const magic = page.readUInt16LE(0);
    if (page.readBigUInt64LE(8) !== start || page.readUInt32LE(4) !== this.tli) return undefined;
    if (!KNOWN_MAGIC.has(magic)) throw new WalEnd(`WAL page magic 0x${magic.toString(16)} is not of a PostgreSQL version this engine reads`);
    return page;
  }
}

function headerSize(page: Buffer): number {
  return page.readUInt16LE(2) & XLP_LONG_HEADER ? LONG_HEADER : SHORT_HEADER;
}

/** The file name of WAL segment `segno` of timeline `tli` (XLogFileName). */
export function segmentName(tli: number, segno: bigint, segmentSize: bigint): string {
  const perId = 0x100000000n / segmentSize;
  const hex = (v: bigint | number) => v.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(tli)}${hex(segno / perId)}${hex(segno % perId)}`;
}
