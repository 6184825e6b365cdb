import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { scanWal, segmentStart } from '../../server/engine/volumes/onlineBackup';
import { VolumeTree } from '../../server/engine/volumes/volumeFiles';
import { decodeState } from '../../server/engine/volumes/blocks/manifest';
import { ChangedPages, isUnlogged, lsnValue, parseHistory, relationSegment, summariesCovering, summaryEnd } from '../../server/engine/postgres/walSummaries';

const row = (o: Partial<{ tablespace: number; database: number; relfilenode: number; fork: number; block: number; isLimit: boolean }>) =>
  ({ tablespace: 1663, database: 5, relfilenode: 16384, fork: 0, block: 0, isLimit: false, ...o });

test('changed blocks map to the chunks of the right segment file', () => {
  const pages = ChangedPages.fromRows([
    row({ block: 0 }), row({ block: 9 }), row({ block: 131072 + 16 }), row({ fork: 1, block: 3 }),
    row({ tablespace: 1664, database: 0, relfilenode: 1262, block: 1 }), row({ tablespace: 16500, block: 2 }),
  ], 131072, 8192);
  assert.deepEqual([...pages.chunksOf('base/5/16384', 65536)!].sort(), [0, 1]);
  assert.deepEqual([...pages.chunksOf('base/5/16384.1', 65536)!], [2]);
  assert.deepEqual([...pages.chunksOf('global/1262', 65536)!], [0]);
  assert.deepEqual([...pages.chunksOf('base/5/99999', 65536)!], [], 'a relation the summaries do not name did not change');
  assert.equal(pages.chunksOf('base/5/16384_fsm', 65536), undefined, 'the FSM is never vouched for');
  assert.equal(pages.chunksOf('base/5/16384_vm', 65536), undefined);
  assert.equal(pages.chunksOf('pg_xact/0000', 65536), undefined);
  assert.equal(pages.chunksOf('base/5/t3_16384', 65536), undefined, 'a temporary relation has no WAL');
  assert.equal(pages.pageCount, 4);
});

test('a relation created, dropped or truncated in the range is read whole', () => {
  const pages = ChangedPages.fromRows([row({ block: 4 }), row({ block: 0, isLimit: true })], 131072, 8192);
  assert.equal(pages.chunksOf('base/5/16384', 65536), undefined);
  assert.equal(pages.chunksOf('base/5/16384.2', 65536), undefined);
});

test('noted pages survive the state file as they were; a damaged note is dropped, and with it the trust', () => {
  const pages = ChangedPages.fromRows([row({ block: 9 }), row({ block: 131072 + 16 }), row({ relfilenode: 16390, isLimit: true })], 131072, 8192);
  const back = ChangedPages.fromJSON(JSON.parse(JSON.stringify(pages.toJSON())))!;
  assert.deepEqual([...back.chunksOf('base/5/16384', 65536)!], [1]);
  assert.deepEqual([...back.chunksOf('base/5/16384.1', 65536)!], [2]);
  assert.equal(back.chunksOf('base/5/16390', 65536), undefined, 'a truncated relation stays read whole');
  assert.equal(back.pageCount, 2);
  const file = (noted: unknown) => JSON.stringify({ format: 'slipstream-blocks-state', version: 1, chunkSize: 65536, lsn: '0/3000028', files: {}, noted });
  const good = { upTo: '0/3AC6CE20', timeline: 1, walSegmentSize: 16777216, pages: pages.toJSON() };
  assert.deepEqual(decodeState(file(good)).noted, good);
  for (const bad of [
    { ...good, upTo: 'soon' }, { ...good, timeline: 1.5 }, { ...good, pages: { ...pages.toJSON(), blocks: { 'base/5/1': [-1] } } },
    { ...good, pages: { ...pages.toJSON(), limited: [7] } }, { ...good, pages: null }, 'noted', null,
  ]) assert.equal(decodeState(file(bad)).noted, undefined, JSON.stringify(bad));
  const noLsn = JSON.parse(file(good)) as Record<string, unknown>;
  delete noLsn.lsn;
  assert.equal(decodeState(JSON.stringify(noLsn)).noted, undefined, 'a note means nothing without the LSN it counts from');
});

test('summaries must cover the range on the cluster\'s own history, without a gap', () => {
  const s = (start: string, end: string, tli = 1) => ({ tli, start, end });
  const from = lsnValue('0/1000000');
  const to = lsnValue('0/5000000');
  const gap = (list: ReturnType<typeof s>[], tli = 1, ends?: ReadonlyMap<number, bigint>) => {
    const r = summariesCovering(list, tli, from, to, ends);
    return 'reason' in r ? r.reason : undefined;
  };
  assert.equal(gap([s('0/800000', '0/3000000'), s('0/3000000', '0/6000000')]), undefined);
  assert.match(gap([s('0/1000000', '0/3000000'), s('0/3800000', '0/6000000')])!, /no WAL summary covers 0\/3000000 to 0\/3800000/);
  assert.match(gap([s('0/1000000', '0/4000000')])!, /covers 0\/4000000 to 0\/5000000/);
  assert.match(gap([s('0/1000000', '0/6000000', 2)])!, /no WAL summary of this history/, 'another timeline says nothing of this one');
  assert.match(gap([])!, /covers/);
  // After a point-in-time restore: timeline 1 up to the switch point 0/3000000, then timeline 2.
  const ends = parseHistory('1\t0/3000000\tbefore 2026-12-04 03:00:00+00\n');
  assert.deepEqual([...ends], [[1, lsnValue('0/3000000')]]);
  const chain = [s('0/800000', '0/3800000', 1), s('0/3000000', '0/6000000', 2)];
  const used = summariesCovering(chain, 2, from, to, ends);
  assert.deepEqual('use' in used && used.use, chain, 'the ancestor up to its end, then the current timeline');
  assert.match(gap(chain, 2)!, /covers 0\/1000000 to 0\/3000000 on timeline 2/, 'without the history, the ancestor does not count');
  // The ancestor's WAL past the switch point was restored but never replayed: it covers nothing.
  assert.match(gap([s('0/800000', '0/2000000', 1), s('0/2000000', '0/3800000', 1), s('0/3800000', '0/6000000', 2)], 2, ends)!,
    /covers 0\/3000000 to 0\/3800000/);
  assert.equal(gap([s('0/800000', '0/3000000', 1), s('0/3000000', '0/3800000', 1), s('0/3000000', '0/6000000', 2)], 2, ends), undefined,
    'a summary of the ancestor past its end is skipped');
  assert.match(gap([s('0/800000', '0/6000000', 3)], 2, ends)!, /no WAL summary of this history/, 'a timeline not in the history');
});

test('LSNs, summary file names, unlogged relations', () => {
  assert.ok(lsnValue('1/0') > lsnValue('0/FFFFFFFF'));
  assert.throws(() => lsnValue('1/'), /not an LSN/);
  assert.equal(summaryEnd('pg_wal/summaries/000000010000000001000028000000000300A1B8.summary'), 0x300a1b8n);
  assert.equal(summaryEnd('pg_wal/000000010000000000000001'), undefined);
  assert.deepEqual(relationSegment('base/5/16384.3'), { relation: 'base/5/16384', segno: 3 });
  assert.equal(relationSegment('base/5/16384_vm'), undefined);
  const paths = new Set(['base/5/16384', 'base/5/16384_init', 'base/5/16390']);
  assert.equal(isUnlogged('base/5/16384.1', (p) => paths.has(p)), true);
  assert.equal(isUnlogged('base/5/16390', (p) => paths.has(p)), false);
});

test('WAL segment files name their first LSN', () => {
  const MiB16 = 16 * 1024 * 1024;
  assert.equal(segmentStart('pg_wal/000000010000000000000003', MiB16), 3n * BigInt(MiB16));
  assert.equal(segmentStart('pg_wal/000000010000000200000001', MiB16), 0x200000000n + BigInt(MiB16));
  assert.equal(segmentStart('pg_wal/00000002.history', 40), undefined);
  assert.equal(segmentStart('pg_wal/000000010000000000000003', 1000), undefined, 'not a segment size');
});

test('an online copy holds the WAL from the backup\'s start (or the newest summary\'s end) to its stop', async () => {
  const SEG = 64 * 1024; // small files named like 16 MiB segments would be: sizes are what scanWal reads
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scanwal-'));
  const wal = path.join(dir, 'pg_wal');
  fs.mkdirSync(path.join(wal, 'summaries'), { recursive: true });
  fs.mkdirSync(path.join(wal, 'archive_status'));
  const seg = (n: number) => `0000000100000000${n.toString(16).toUpperCase().padStart(8, '0')}`;
  for (let n = 1; n <= 8; n++) fs.writeFileSync(path.join(wal, seg(n)), Buffer.alloc(SEG));
  const lsn = (v: number) => `0/${v.toString(16).toUpperCase()}`;
  const summary = (from: number, to: number) => `00000001${from.toString(16).toUpperCase().padStart(16, '0')}${to.toString(16).toUpperCase().padStart(16, '0')}.summary`;
  fs.writeFileSync(path.join(wal, 'summaries', summary(0x28, 4 * SEG + 0x28)), '');
  fs.writeFileSync(path.join(wal, 'summaries', summary(4 * SEG + 0x28, 7 * SEG + 0x100)), ''); // ends after the stop
  try {
    const copied = (start: number, stop: number) => VolumeTree.with(dir, async (tree) => (await scanWal(tree, lsn(start), lsn(stop))).map((e) => e.rel));
    const names = async (start: number, stop: number) => (await copied(start, stop)).filter((r) => /^pg_wal\/[0-9A-F]{24}$/.test(r));
    const kept = await copied(5 * SEG + 0x40, 6 * SEG + 0x80);
    assert.ok(kept.includes('pg_wal/archive_status') && kept.includes(`pg_wal/summaries/${summary(0x28, 4 * SEG + 0x28)}`));
    assert.ok(!kept.includes(`pg_wal/summaries/${summary(4 * SEG + 0x28, 7 * SEG + 0x100)}`), 'a summary that ends after the stop is left out');
    // Start in segment 5, stop in 6; the newest summary the copy keeps ends in segment 4.
    assert.deepEqual(await names(5 * SEG + 0x40, 6 * SEG + 0x80), ['pg_wal/' + seg(4), 'pg_wal/' + seg(5), 'pg_wal/' + seg(6)]);
    // A summary that ends at the start: nothing before the start's segment.
    fs.writeFileSync(path.join(wal, 'summaries', summary(4 * SEG + 0x28, 5 * SEG + 0x40)), '');
    assert.deepEqual(await names(5 * SEG + 0x40, 6 * SEG + 0x80), ['pg_wal/' + seg(5), 'pg_wal/' + seg(6)]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
