import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupStart, parseControlFile, spentWal, unwrittenWal, type ControlFile } from '../../server/engine/postgres/walNeeded';
import type { SnapshotEntry } from '../../server/engine/volumes/snapshotReader';

const SEG = 16 * 1024 * 1024;
const seg = (n: number, tli = 1) => `pg_wal/${tli.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;
const file = (p: string, size = SEG): SnapshotEntry => ({ path: p, type: 'file', mode: 0o600, size });
const lsn = (segment: number, offset: number) => BigInt(segment * SEG + offset);
/** Redo in segment 5, 0x1000 bytes in. */
const control: ControlFile = { checkPoint: lsn(5, 0x2000), redo: lsn(5, 0x1000), shutDown: false };

const wal = (...extra: SnapshotEntry[]): SnapshotEntry[] => [
  { path: 'pg_wal', type: 'dir', mode: 0o700 },
  ...[2, 3, 4, 5, 6].map((n) => file(seg(n))),
  { path: 'pg_wal/archive_status', type: 'dir', mode: 0o700 },
  file(`pg_wal/archive_status/${seg(3).slice(7)}.done`, 0),
  file(`pg_wal/archive_status/${seg(5).slice(7)}.ready`, 0),
  file('pg_wal/00000002.history', 42),
  ...extra,
];

test('the WAL segments that end by the redo point are spent, with their archive status', () => {
  assert.deepEqual([...spentWal(wal(), control)].sort(), [seg(2), seg(3), `pg_wal/archive_status/${seg(3).slice(7)}.done`, seg(4)].sort());
});

test('a segment is spent on any timeline, and a file of another size or name is not a segment', () => {
  const spent = spentWal(wal(file(seg(1, 2)), file(seg(0), 8192), file(`${seg(1)}.partial`)), control);
  assert.ok(spent.has(seg(1, 2)));
  assert.ok(!spent.has(seg(0)), 'smaller than any WAL segment PostgreSQL makes');
  assert.ok(!spent.has(`${seg(1)}.partial`));
  assert.ok(!spent.has('pg_wal/00000002.history'));
});

test("spent WAL is left out however far the summaries reach: a copy's summarizer starts at its oldest segment", () => {
  const summary = (start: bigint, end: bigint) => file(`pg_wal/summaries/00000001${start.toString(16).toUpperCase().padStart(16, '0')}${end.toString(16).toUpperCase().padStart(16, '0')}.summary`, 100);
  const behind = spentWal(wal(summary(lsn(1, 0x28), lsn(3, 0x500))), control);
  assert.deepEqual([...behind].filter((p) => !p.includes('archive_status')).sort(), [seg(2), seg(3), seg(4)]);
  assert.ok(![...behind].some((p) => p.includes('summaries')), 'summaries stay');
});

test("an online backup's copy keeps the WAL from the backup's start", () => {
  const label = `START WAL LOCATION: 0/${lsn(3, 0x28).toString(16).toUpperCase()} (file ${seg(3).slice(7)})\nCHECKPOINT LOCATION: 0/3000080\n`;
  assert.equal(backupStart(label), lsn(3, 0x28));
  assert.deepEqual([...spentWal(wal(), control, label)], [seg(2)]);
  assert.deepEqual([...spentWal(wal(), control, 'not a label')], [], 'a label that does not say where it starts keeps all');
  assert.deepEqual([...spentWal(wal(), control, '')], []);
});

test('segments past the checkpoint\'s whose first page names another place hold no WAL yet', async () => {
  // Segment 6 written (its header names its start), 7 renamed ahead for reuse (it names segment 1), 8 zeroed.
  const page = (addr: bigint) => { const b = Buffer.alloc(64 * 1024); b.writeBigUInt64LE(addr, 8); return b; };
  const pages = new Map([[seg(5), page(lsn(5, 0))], [seg(6), page(lsn(6, 0))], [seg(7), page(lsn(1, 0))], [seg(8), page(0n)], [seg(9), Buffer.alloc(8)]]);
  const asked: string[] = [];
  const unwritten = await unwrittenWal(wal(file(seg(7)), file(seg(8)), file(seg(9)), file(`${seg(10)}.partial`)), control, async (p) => {
    asked.push(p);
    return pages.get(p)!;
  });
  assert.deepEqual([...unwritten].sort(), [seg(7), seg(8), seg(9)]);
  assert.deepEqual(asked.sort(), [seg(6), seg(7), seg(8), seg(9)], 'only segments past the one the checkpoint is in are read');
});

test('a replication slot keeps all the WAL', () => {
  assert.deepEqual([...spentWal(wal({ path: 'pg_replslot/s', type: 'dir', mode: 0o700 }, file('pg_replslot/s/state', 200)), control)], []);
});

test("pg_control's checkpoint and redo point, or nothing when they make no sense", () => {
  const buf = Buffer.alloc(8192);
  buf.writeUInt32LE(1, 16);
  buf.writeBigUInt64LE(lsn(5, 0x2000), 32);
  buf.writeBigUInt64LE(lsn(5, 0x1000), 40);
  assert.deepEqual(parseControlFile(buf), { checkPoint: lsn(5, 0x2000), redo: lsn(5, 0x1000), shutDown: true });
  buf.writeBigUInt64LE(lsn(6, 0), 40);
  assert.equal(parseControlFile(buf), undefined, 'a redo point after its checkpoint');
  assert.equal(parseControlFile(Buffer.alloc(8192)), undefined);
  assert.equal(parseControlFile(Buffer.alloc(20)), undefined);
});
