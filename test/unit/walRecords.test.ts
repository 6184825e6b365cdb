import assert from 'node:assert/strict';
import { test } from 'node:test';
import { segmentName, walTail } from '../../server/engine/postgres/walRecords';

/**
 * walRecords.ts against WAL built here byte by byte in PostgreSQL's layout (the engine test
 * walSummaries.test.ts checks it against a real server's summaries): page headers, records
 * across pages, block references with and without their relation, a segment switch, and
 * what it must refuse.
 */
const PAGE = 8192;
const SEG = 16 * PAGE; // a small segment keeps the test fast; real ones are 16 MiB
const TLI = 1;
const MAGIC = 0xd118;

interface Ref { rel?: [number, number, number]; fork?: number; block: number; image?: number; data?: number }
interface Rec { refs?: Ref[]; main?: number; rmid?: number; info?: number; id?: number }

/** Lay records out as PostgreSQL does, from the start of segment `segno`; returns segments by name and each record's LSN. */
function buildWal(segno: number, recs: Rec[], opts: { breakPrevAt?: number } = {}) {
  const segs = new Map<number, Buffer>();
  let pos = segno * SEG;
  const byteAt = (lsn: number) => {
    const s = Math.floor(lsn / SEG);
    if (!segs.has(s)) segs.set(s, Buffer.alloc(SEG));
    return { buf: segs.get(s)!, off: lsn % SEG };
  };
  const pageHeader = (remaining: number) => {
    const { buf, off } = byteAt(pos);
    const long = pos % SEG === 0;
    buf.writeUInt16LE(MAGIC, off);
    buf.writeUInt16LE((long ? 2 : 0) | (remaining > 0 ? 1 : 0), off + 2);
    buf.writeUInt32LE(TLI, off + 4);
    buf.writeBigUInt64LE(BigInt(pos), off + 8);
    buf.writeUInt32LE(remaining, off + 16);
    if (long) buf.writeUInt32LE(SEG, off + 32);
    pos += long ? 40 : 24;
  };
  const lsns: number[] = [];
  let prev = 0;
  for (const [n, r] of recs.entries()) {
    pos = (pos + 7) & ~7;
    if (pos % PAGE === 0) pageHeader(0);
    const bytes = encode(r, prev, opts.breakPrevAt === n);
    lsns.push(pos);
    prev = pos;
    for (let i = 0; i < bytes.length; i++) {
      if (pos % PAGE === 0) pageHeader(bytes.length - i);
      const { buf, off } = byteAt(pos);
      buf[off] = bytes[i];
      pos++;
    }
    if (r.rmid === 0 && r.info === 0x40) pos = (Math.floor(pos / SEG) + 1) * SEG; // a switch
  }
  const files = new Map([...segs].map(([s, b]) => [segmentName(TLI, BigInt(s), BigInt(SEG)), b]));
  return { files, lsns, end: pos };
}

function encode(r: Rec, prev: number, badPrev: boolean): Buffer {
  const head: number[] = [];
  const u16 = (v: number) => head.push(v & 0xff, v >> 8);
  const u32 = (v: number) => head.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
  let payload = 0;
  for (const [i, ref] of (r.refs ?? []).entries()) {
    head.push(r.id ?? i, (ref.fork ?? 0) | (ref.image ? 0x10 : 0) | (ref.data ? 0x20 : 0) | (ref.rel ? 0 : 0x80));
    u16(ref.data ?? 0);
    payload += (ref.data ?? 0) + (ref.image ?? 0);
    if (ref.image) { u16(ref.image); u16(0); head.push(0); }
    if (ref.rel) for (const v of ref.rel) u32(v);
    u32(ref.block);
  }
  if (r.main !== undefined) {
    if (r.main < 256) head.push(255, r.main);
    else { head.push(254); u32(r.main); }
    payload += r.main;
  }
  const total = 24 + head.length + payload;
  const out = Buffer.alloc(total, 0x5a);
  out.writeUInt32LE(total, 0);
  out.writeUInt32LE(0, 4);
  out.writeBigUInt64LE(BigInt(badPrev ? prev + 8 : prev), 8);
  out.writeUInt8(r.info ?? 0, 16);
  out.writeUInt8(r.rmid ?? 10, 17);
  Buffer.from(head).copy(out, 24);
  return out;
}

const reader = (files: Map<string, Buffer>) => async (name: string, position: number, length: number) =>
  files.get(name)?.subarray(position, position + length);
const keys = (rows: Array<{ database: number; relfilenode: number; block: number; fork: number; isLimit: boolean }>) =>
  rows.map((r) => `${r.database}/${r.relfilenode}/${r.fork}/${r.block}${r.isLimit ? '/limit' : ''}`).sort();

test('block references come out of records that span pages, with and without their relation', async () => {
  const recs: Rec[] = [
    { refs: [{ rel: [1663, 5, 16384], block: 7, data: 40 }], main: 10 },
    { refs: [{ rel: [1663, 5, 16384], block: 8, image: 9000 }, { block: 9, data: 3 }], main: 300 }, // crosses a page, long main data
    { refs: [{ rel: [1663, 5, 16400], fork: 1, block: 2 }] },
    { main: 20, rmid: 2, info: 0x20 }, // a truncate: block, then the relation
    { refs: [{ rel: [1664, 0, 1262], block: 0, data: 8000 }], main: 4 },
  ];
  // The truncate's main data: block number 4, then relation 1663/5/16500.
  const { files, lsns, end } = buildWal(3, recs);
  const truncate = files.get(segmentName(TLI, 3n, BigInt(SEG)))!;
  const at = lsns[3] % SEG + 24 + 2;
  truncate.writeUInt32LE(4, at);
  truncate.writeUInt32LE(1663, at + 4);
  truncate.writeUInt32LE(5, at + 8);
  truncate.writeUInt32LE(16500, at + 12);
  const tail = await walTail(reader(files), BigInt(3 * SEG), TLI, SEG);
  assert.ok(!('reason' in tail), 'reason' in tail ? tail.reason : '');
  assert.deepEqual(keys(tail.rows), ['0/1262/0/0', '5/16384/0/7', '5/16384/0/8', '5/16384/0/9', '5/16400/1/2', '5/16500/0/0/limit']);
  assert.equal(tail.end, BigInt((end + 7) & ~7), 'the end is where the next record would start: after the last one');
});

test('reading from the middle, from a page boundary inside a record, and across a segment switch', async () => {
  const big: Rec = { refs: [{ rel: [1663, 5, 1], block: 1, image: 3 * PAGE }] };
  const recs: Rec[] = [{ refs: [{ rel: [1663, 5, 1], block: 0 }] }, big, { refs: [{ rel: [1663, 5, 1], block: 2 }] },
    { rmid: 0, info: 0x40, main: 0 }, { refs: [{ rel: [1663, 5, 1], block: 3 }] }];
  const { files, lsns } = buildWal(2, recs);
  const fromSecond = await walTail(reader(files), BigInt(lsns[1]), TLI, SEG);
  assert.deepEqual(keys('rows' in fromSecond ? fromSecond.rows : []), ['5/1/0/1', '5/1/0/2', '5/1/0/3'], 'the switch is followed into the next segment');
  // A switch as the last record: the WAL ends where the next segment starts, as the server's flush position says.
  const last = buildWal(2, [{ refs: [{ rel: [1663, 5, 1], block: 0 }] }, { rmid: 0, info: 0x40, main: 0 }]);
  const t = await walTail(reader(last.files), BigInt(2 * SEG + 40), TLI, SEG);
  assert.equal('end' in t && t.end, BigInt(3 * SEG));
  // Nearly all of that stretch is the rest of the segment the switch ended, never read.
  const skipped = 'skipped' in t ? t.skipped : 0;
  assert.ok(skipped > SEG - PAGE && skipped < SEG, `skipped ${skipped} of a ${SEG}-byte segment`);
  // A page boundary inside the big record: reading starts with the record after it.
  const inside = BigInt(Math.floor(lsns[1] / PAGE + 1) * PAGE);
  const fromInside = await walTail(reader(files), inside, TLI, SEG);
  assert.deepEqual(keys('rows' in fromInside ? fromInside.rows : []), ['5/1/0/2', '5/1/0/3']);
});

test('the WAL ends at a record that does not point back, at zeros, at a missing segment, or at another page', async () => {
  const recs: Rec[] = [0, 1, 2, 3].map((b) => ({ refs: [{ rel: [1663, 5, 9] as [number, number, number], block: b }] }));
  const broken = buildWal(0, recs, { breakPrevAt: 2 });
  const t1 = await walTail(reader(broken.files), 40n, TLI, SEG);
  assert.deepEqual(keys('rows' in t1 ? t1.rows : []), ['5/9/0/0', '5/9/0/1']);
  assert.equal('end' in t1 && t1.end, BigInt(broken.lsns[2]));
  const t2 = await walTail(reader(new Map()), 40n, TLI, SEG);
  assert.deepEqual(t2, { rows: [], end: 40n, skipped: 0 }, 'no segment: nothing to read');
  const whole = buildWal(0, recs);
  const seg = whole.files.values().next().value!;
  seg.writeBigUInt64LE(12345n, 8); // the first page claims another address: a recycled segment
  assert.deepEqual(await walTail(reader(whole.files), 40n, TLI, SEG), { rows: [], end: 40n, skipped: 0 });
});

test('a record it cannot read whole is refused with a reason, never skipped', async () => {
  const outOfOrder = buildWal(0, [{ refs: [{ rel: [1663, 5, 9], block: 1 }, { block: 2 }], id: 3 }]);
  const r1 = await walTail(reader(outOfOrder.files), 40n, TLI, SEG);
  assert.match('reason' in r1 ? r1.reason : '', /block reference 3 out of order/);
  const noRel = buildWal(0, [{ refs: [{ block: 2 }] }]);
  const r2 = await walTail(reader(noRel.files), 40n, TLI, SEG);
  assert.match('reason' in r2 ? r2.reason : '', /same relation as a block before it/);
  const seg = buildWal(0, [{ refs: [{ rel: [1663, 5, 9], block: 1 }] }]);
  const buf = seg.files.values().next().value!;
  buf.writeUInt32LE(buf.readUInt32LE(40) + 8, 40); // a length its headers and data do not add up to
  const r3 = await walTail(reader(seg.files), 40n, TLI, SEG);
  assert.match('reason' in r3 ? r3.reason : '', /out of order|does not add up to its length|ends inside its headers/);
  const huge = buildWal(0, [{ refs: [{ rel: [1663, 5, 9], block: 1 }] }]);
  huge.files.values().next().value!.writeUInt32LE(0xfffffff0, 40); // never read into memory
  const r5 = await walTail(reader(huge.files), 40n, TLI, SEG);
  assert.match('reason' in r5 ? r5.reason : '', /is \d+ bytes long/);
  const magic = buildWal(0, [{ refs: [{ rel: [1663, 5, 9], block: 1 }] }]);
  magic.files.values().next().value!.writeUInt16LE(0xd110, 0);
  const r4 = await walTail(reader(magic.files), 40n, TLI, SEG);
  assert.match('reason' in r4 ? r4.reason : '', /not of a PostgreSQL version this engine reads/);
});
