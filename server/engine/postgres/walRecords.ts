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
  /** Bytes of that stretch never read: the rest of each segment a switch record ended (the
   *  engine's flush to the WAL archive switches before every restore). */
  skipped: number;
}

/** At most this much WAL is read: past it, the summarizer was far behind and whole files are cheaper. */
const MAX_TAIL = 1024 * 1024 * 1024;
/** A longer record is not read into memory (PostgreSQL allows up to 1020 MB; its own are far smaller). */
const MAX_RECORD = 64 * 1024 * 1024;

/**
 * The pages the records from `from` (a record's start, or a page boundary before one) to
 * the end of the WAL of timeline `tli` change, with `segmentSize` bytes per segment file.
 */
export async function walTail(read: SegmentReader, from: bigint, tli: number, segmentSize: number): Promise<WalTail | { reason: string }> {
  // LSNs as numbers: exact below 2^53 bytes of WAL (8 PiB), and far cheaper than bigints here.
  if (from > BigInt(Number.MAX_SAFE_INTEGER)) return { reason: `the LSN ${formatLsn(from)} is beyond what this reader handles` };
  try {
    const tail = await scan(new WalStream(read, tli, segmentSize), Number(from));
    return { rows: tail.rows, end: BigInt(tail.end), skipped: tail.skipped };
  } catch (err) {
    if (err instanceof WalEnd) return { reason: err.message };
    throw err;
  }
}

/** Thrown when the WAL cannot be read as expected; the caller falls back. */
class WalEnd extends Error {}

async function scan(wal: WalStream, from: number): Promise<{ rows: SummaryRow[]; end: number; skipped: number }> {
  const refs = new Refs();
  let skipped = 0;
  const done = (end: number) => ({ rows: refs.rows(), end, skipped });
  let pos = await wal.recordStart(from);
  let prev: number | undefined;
  for (;;) {
    if (pos === undefined) return done(from);
    if (pos - from > MAX_TAIL) throw new WalEnd(`more than ${MAX_TAIL / 1048576} MiB of WAL since the last WAL summary`);
    const h = wal.bytes(pos, RECORD_HEADER);
    const head = h instanceof Promise ? await h : h;
    if (!head) return done(pos);
    let at = wal.base;
    const totLen = head.readUInt32LE(at);
    const xlPrev = head.readUInt32LE(at + 8) + head.readUInt32LE(at + 12) * 2 ** 32;
    if (totLen < RECORD_HEADER || (prev !== undefined && xlPrev !== prev)) return done(pos);
    if (totLen > MAX_RECORD) throw new WalEnd(`the WAL record at ${formatLsn(BigInt(pos))} is ${totLen} bytes long`);
    const length = Math.min(totLen, MAX_HEADERS);
    const r = wal.bytes(pos, length);
    const record = r instanceof Promise ? await r : r;
    if (!record) return done(pos);
    at = wal.base;
    decodeRecord(record, at, at + length, totLen, refs, pos);
    prev = pos;
    const info = record.readUInt8(at + 16);
    const rmid = record.readUInt8(at + 17);
    if (rmid !== RM_XLOG || (info & 0xf0) !== XLOG_SWITCH) {
      const next = wal.after(pos, totLen);
      pos = next instanceof Promise ? await next : next;
      continue;
    }
    // A switch record ends its segment (the server's flush position moves to its end): the
    // next record starts the next segment, if any was written yet.
    const segment = wal.nextSegment(pos);
    skipped += Math.max(0, segment - (pos + totLen));
    pos = await wal.recordStart(segment);
    if (pos === undefined) return done(segment);
  }
}

/** Most records lie within a page already read: those answers come without a promise (the
 *  caller awaits only a promise), which matters over hundreds of thousands of records. */
type Maybe<T> = T | Promise<T>;

/** Add the pages one record changes to `refs`, from its headers: `rec` from `base` to `limit`
 *  (offsets into a WAL page, or into a copy for a record that crosses pages). */
function decodeRecord(rec: Buffer, base: number, limit: number, totLen: number, refs: Refs, at: number): void {
  let off = base + RECORD_HEADER;
  const end = base + totLen; // where the record would end, its data included
  let dataTotal = 0;
  let haveRel = false;
  let tablespace = 0;
  let database = 0;
  let relfilenode = 0;
  let lastId = -1;
  while (end - off > dataTotal) {
    if (off + 1 > limit) throw bad(at, 'ends inside its headers');
    const id = rec[off++];
    if (id === BLOCK_ID_DATA_SHORT) {
      if (off + 1 > limit) throw bad(at, 'ends inside its headers');
      dataTotal += rec[off];
      off += 1;
      break;
    }
    if (id === BLOCK_ID_DATA_LONG) {
      if (off + 4 > limit) throw bad(at, 'ends inside its headers');
      dataTotal += rec.readUInt32LE(off);
      off += 4;
      break;
    }
    if (id === BLOCK_ID_ORIGIN) { off += 2; continue; }
    if (id === BLOCK_ID_TOPLEVEL_XID) { off += 4; continue; }
    if (id > MAX_BLOCK_ID || id <= lastId) throw bad(at, `has a block reference ${id} out of order`);
    lastId = id;
    if (off + 3 > limit) throw bad(at, 'ends inside its headers');
    const forkFlags = rec[off];
    dataTotal += rec[off + 1] | (rec[off + 2] << 8);
    off += 3;
    if (forkFlags & HAS_IMAGE) {
      if (off + 5 > limit) throw bad(at, 'ends inside its headers');
      dataTotal += rec[off] | (rec[off + 1] << 8);
      const bimgInfo = rec[off + 4];
      off += 5;
      if (bimgInfo & IMAGE_HAS_HOLE && bimgInfo & IMAGE_COMPRESSED) off += 2;
    }
    if (!(forkFlags & SAME_REL)) {
      if (off + 12 > limit) throw bad(at, 'ends inside its headers');
      tablespace = rec.readUInt32LE(off);
      database = rec.readUInt32LE(off + 4);
      relfilenode = rec.readUInt32LE(off + 8);
      haveRel = true;
      off += 12;
    }
    if (!haveRel) throw bad(at, 'refers to the same relation as a block before it, and there is none');
    if (off + 4 > limit) throw bad(at, 'ends inside its headers');
    refs.add(tablespace, database, relfilenode, forkFlags & FORK_MASK, rec.readUInt32LE(off));
    off += 4;
  }
  if (off + dataTotal !== end) throw bad(at, 'does not add up to its length');
  storageRecord(rec, base, off, limit, refs);
}

function bad(at: number, why: string): WalEnd {
  return new WalEnd(`the WAL record at ${formatLsn(BigInt(at))} ${why}`);
}

/** The pages named so far, each once: a busy page is named by thousands of records. */
class Refs {
  /** By relfilenode and fork as one number (no string per reference); a list, since two
   *  databases or tablespaces may use the same relfilenode. */
  private readonly byFork = new Map<number, Array<{ key: SummaryRow; blocks: Set<number> }>>();
  private readonly limits: SummaryRow[] = [];
  /** The fork named last, compared by number: most references repeat the one before. */
  private last = { tablespace: -1, database: -1, relfilenode: -1, fork: -1, block: -1, blocks: new Set<number>() };

  add(tablespace: number, database: number, relfilenode: number, fork: number, block: number): void {
    const l = this.last;
    if (l.relfilenode !== relfilenode || l.fork !== fork || l.database !== database || l.tablespace !== tablespace) {
      this.last = { tablespace, database, relfilenode, fork, block: -1, blocks: this.blocksOf(tablespace, database, relfilenode, fork) };
    } else if (l.block === block) {
      return; // the same page again: rows on one page are changed one record after another
    }
    this.last.block = block;
    this.last.blocks.add(block);
  }

  private blocksOf(tablespace: number, database: number, relfilenode: number, fork: number): Set<number> {
    const id = relfilenode * 16 + fork;
    let list = this.byFork.get(id);
    if (!list) this.byFork.set(id, (list = []));
    const found = list.find(({ key }) => key.database === database && key.tablespace === tablespace);
    if (found) return found.blocks;
    const entry = { key: { tablespace, database, relfilenode, fork, block: 0, isLimit: false }, blocks: new Set<number>() };
    list.push(entry);
    return entry.blocks;
  }

  limit(tablespace: number, database: number, relfilenode: number): void {
    this.limits.push({ tablespace, database, relfilenode, fork: 0, block: 0, isLimit: true });
  }

  rows(): SummaryRow[] {
    const out: SummaryRow[] = [];
    for (const list of this.byFork.values()) for (const { key, blocks } of list) for (const block of blocks) out.push({ ...key, block });
    return out.concat(this.limits);
  }
}

/** A relation created or truncated: its files are compared whole (a limit, as in a summary).
 *  Its main data starts at `data`, right after the headers. */
function storageRecord(rec: Buffer, base: number, data: number, limit: number, refs: Refs): void {
  const op = rec[base + 16] & 0xf0;
  if (rec[base + 17] !== RM_SMGR || (op !== XLOG_SMGR_CREATE && op !== XLOG_SMGR_TRUNCATE)) return;
  // xl_smgr_create: the relation first; xl_smgr_truncate: a block number, then the relation.
  const at = data + (op === XLOG_SMGR_TRUNCATE ? 4 : 0);
  if (at + 12 > limit) throw new WalEnd('a storage record is too long or too short');
  refs.limit(rec.readUInt32LE(at), rec.readUInt32LE(at + 4), rec.readUInt32LE(at + 8));
}

/**
 * The WAL as one stream of bytes by LSN, without its page headers. Each page read is
 * checked to be the page of that LSN on this timeline; one that is not ends the WAL.
 */
class WalStream {
  private window: { segno: number; start: number; data: Buffer | undefined } | undefined;
  /** The page found last, checked: most records lie on the page of the one before. */
  private last: { start: number; page: Buffer } | undefined;

  constructor(private readonly read: SegmentReader, private readonly tli: number, private readonly segmentSize: number) {
    if (segmentSize < PAGE_SIZE || segmentSize % PAGE_SIZE !== 0) throw new WalEnd(`a WAL segment size of ${segmentSize} bytes is not one`);
  }

  /** The start of the first record at or after `lsn`: past a page header, and past the rest of
   *  a record that began on an earlier page. Undefined when that page is not there. */
  async recordStart(lsn: number): Promise<number | undefined> {
    if (lsn % PAGE_SIZE !== 0) return lsn;
    const page = await this.page(lsn);
    if (!page) return undefined;
    return this.after(lsn + headerSize(page), page.readUInt32LE(16));
  }

  /** Where the answer of the last `bytes` starts in the buffer it returned. */
  base = 0;

  /** `n` bytes from `lsn` on, across page headers, from `base` of the buffer returned;
   *  undefined when the WAL ends first. Within one page, the page itself (no copy). */
  bytes(lsn: number, n: number): Maybe<Buffer | undefined> {
    const inPage = lsn % PAGE_SIZE;
    const page = this.cached(lsn - inPage);
    if (inPage !== 0 && inPage + n <= PAGE_SIZE && page !== undefined) {
      this.base = inPage;
      return page ?? undefined;
    }
    return this.gather(lsn, n);
  }

  private async gather(lsn: number, n: number): Promise<Buffer | undefined> {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let pos = lsn;
    while (got < n) {
      const pageStart = pos - (pos % PAGE_SIZE);
      const page = await this.page(pageStart);
      if (!page) return undefined;
      let inPage = pos - pageStart;
      if (inPage === 0) {
        inPage = headerSize(page);
        pos += inPage;
      }
      const take = Math.min(n - got, PAGE_SIZE - inPage);
      page.copy(out, got, inPage, inPage + take);
      got += take;
      pos += take;
    }
    this.base = 0;
    return out;
  }

  /** Where the next record starts after one of `length` bytes at `lsn`: past the page
   *  headers it spans, aligned to 8 bytes. */
  after(lsn: number, length: number): Maybe<number> {
    const inPage = lsn % PAGE_SIZE;
    if (inPage !== 0 && inPage + length < PAGE_SIZE) {
      const pos = lsn + length + ((8 - ((lsn + length) % 8)) % 8);
      if (pos % PAGE_SIZE !== 0) return pos;
    }
    return this.afterAcross(lsn, length);
  }

  private async afterAcross(lsn: number, length: number): Promise<number> {
    let pos = lsn;
    let left = length;
    while (left > 0) {
      const inPage = pos % PAGE_SIZE;
      if (inPage === 0) {
        const page = await this.page(pos);
        pos += page ? headerSize(page) : SHORT_HEADER;
        continue;
      }
      const take = Math.min(left, PAGE_SIZE - inPage);
      pos += take;
      left -= take;
    }
    pos += (8 - (pos % 8)) % 8;
    // A record never starts at a page boundary: the page's header comes first.
    if (pos % PAGE_SIZE === 0) {
      const page = await this.page(pos);
      if (page) pos += headerSize(page);
    }
    return pos;
  }

  nextSegment(lsn: number): number {
    return (Math.floor(lsn / this.segmentSize) + 1) * this.segmentSize;
  }

  private async page(start: number): Promise<Buffer | undefined> {
    let page = this.cached(start);
    if (page === undefined) {
      const segno = Math.floor(start / this.segmentSize);
      const off = start - segno * this.segmentSize;
      const from = off - (off % WINDOW);
      const name = segmentName(this.tli, BigInt(segno), BigInt(this.segmentSize));
      this.window = { segno, start: from, data: await this.read(name, from, Math.min(WINDOW, this.segmentSize - from)) };
      page = this.cached(start);
    }
    return page ?? undefined;
  }

  /** The WAL page at `start` from the window read last: undefined when the window does not
   *  cover it, null when that is not this page of this timeline's WAL. */
  private cached(start: number): Buffer | null | undefined {
    if (this.last?.start === start) return this.last.page;
    const w = this.window;
    const segno = Math.floor(start / this.segmentSize);
    const off = start - segno * this.segmentSize;
    if (!w || w.segno !== segno || w.start !== off - (off % WINDOW)) return undefined;
    const at = off - w.start;
    if (!w.data || at + PAGE_SIZE > w.data.length) return null;
    const page = w.data.subarray(at, at + PAGE_SIZE);
    if (page.readUInt32LE(8) + page.readUInt32LE(12) * 2 ** 32 !== start || page.readUInt32LE(4) !== this.tli) return null;
    const magic = page.readUInt16LE(0);
    if (!KNOWN_MAGIC.has(magic)) throw new WalEnd(`WAL page magic 0x${magic.toString(16)} is not of a PostgreSQL version this engine reads`);
    this.last = { start, page };
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
