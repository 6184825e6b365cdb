import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { walTail } from '../../server/engine/postgres/walRecords';
import { lsnValue } from '../../server/engine/postgres/walSummaries';
import type { ConnectionInfo } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { TestEngine } from '../support/engine';
import { prng } from '../support/prng';

/**
 * The blocks driver reads only the pages the WAL summaries name (server/engine/postgres/
 * walSummaries.ts): a bookmark after a clustered change reads a few MiB of a 36 MB table,
 * and what it stored restores byte for byte. Then random cycles of bookmark, restore,
 * branch and activate, mixed with every kind of change the summaries describe differently
 * (updates, inserts, deletes, TRUNCATE, CREATE and DROP TABLE, VACUUM FULL, an unlogged
 * table), each restore checked against the checksum of every table taken when its bookmark
 * was made, and by amcheck. `npm run test:soak` runs many more cycles (SLIPSTREAM_SOAK=1).
 */
const CYCLES = process.env.SLIPSTREAM_SOAK ? 300 : 24;
const SEED = Number(process.env.SLIPSTREAM_SEED ?? 20261203);
/** An unlogged table comes back empty from any bookmark: PostgreSQL resets it when a copy
 *  starts (it has no WAL). Its rows are left out of the comparison, and its emptiness checked. */
const UNLOGGED = 'public.scratch';
const logged = (sums: Record<string, string>) => Object.fromEntries(Object.entries(sums).filter(([t]) => t !== UNLOGGED));

describe('blocks: changed pages from WAL summaries', () => {
  let e: TestEngine;
  let url: string;
  const logLines = (re: RegExp) => fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').split('\n').filter((l) => re.test(l));
  const reads = () => logLines(/: read [\d.]+ MiB: /);
  /** Restores that rewrote the volume in place knowing its changed pages, so far. */
  const pageRestores = () => logLines(/restoring in place: \d+ pages changed since/).length;

  before(async () => {
    e = await TestEngine.start({ driver: 'blocks' });
    const sql = path.join(e.home, 'seed.sql');
    fs.writeFileSync(sql, `CREATE TABLE accounts (aid int PRIMARY KEY, abalance int, filler char(84));
      INSERT INTO accounts SELECT a, 0, '' FROM generate_series(1, 300000) a; VACUUM (FREEZE, ANALYZE);
      CREATE UNLOGGED TABLE scratch (k int PRIMARY KEY, v text); INSERT INTO scratch SELECT g, 'u' FROM generate_series(1, 1000) g;\n`);
    e.ok('template', 'create', 'acc', '--sql', sql);
    e.ok('container', 'create', 'qa', '--template', 'acc');
    url = e.ok<ConnectionInfo>('container', 'url', 'qa').url;
  });

  test('the template snapshot leaves out the WAL segments a cleanly stopped database does not need to start', async () => {
    // The load wrote about 100 MiB of WAL; PostgreSQL keeps what it recycled for reuse, and what the
    // summarizer had not read: only the segment of the shutdown checkpoint is needed.
    const line = logLines(/^\S+ snapshot .*: read [\d.]+ MiB: no WAL summaries/)[0];
    const m = /read ([\d.]+) MiB: .* of which ([\d.]+) MiB of relations/.exec(line ?? '');
    assert.ok(m, `the template build's snapshot is in the engine log: ${line}`);
    const other = Number(m[1]) - Number(m[2]);
    assert.ok(other < 20, `one 16 MiB WAL segment and small files besides the relations, not ${other.toFixed(1)} MiB: ${line}`);
    // What the container was made from starts, and counts its changes from the WAL summaries
    // (the first test); its data is the template's, whole.
    assert.deepEqual((await amcheck(url)).problems, []);
  });
  after(async () => e?.destroy());

  test('a bookmark after a clustered 1% change reads only the changed pages, and restores byte for byte', async () => {
    // The container's first capture counts from the template's last checkpoint (its copy's LSN):
    // nothing changed since but what the start wrote, so it reads almost nothing of the table.
    e.ok('bookmark', 'create', 'first', '--container', 'qa');
    const first = /([\d.]+) MiB for the \d+ changed pages the WAL summaries name .* of which ([\d.]+) MiB of relations/.exec(reads().at(-1)!);
    assert.ok(first, `the first bookmark counted changed pages from the template's checkpoint: ${reads().at(-1)}`);
    await e.sql('qa', 'UPDATE accounts SET abalance = abalance + 1 WHERE aid BETWEEN 100000 AND 103000');
    e.ok('bookmark', 'create', 'clustered', '--container', 'qa');
    const line = reads().at(-1)!;
    const m = /([\d.]+) MiB for the (\d+) changed pages the WAL summaries name .* of which ([\d.]+) MiB of relations/.exec(line);
    assert.ok(m, `the capture used the WAL summaries: ${line}`);
    const table = Number((await e.sql<{ n: string }>('qa', "SELECT pg_relation_size('accounts') AS n"))[0].n);
    const [pages, relationsWhole] = [Number(m[1]) * 1048576, Number(m[3]) * 1048576];
    assert.ok(pages < table / 4 && relationsWhole < table / 4, `a change to 1% of a ${(table / 1048576).toFixed(0)} MiB table: ${line}`);
    const sums = logged(await e.checksum('qa'));
    await e.sql('qa', 'DELETE FROM accounts WHERE aid % 7 = 0');
    // The branch's latest bookmark is its reset point, which a spare may hold: restore an older one.
    e.ok('bookmark', 'create', 'deleted', '--container', 'qa');
    await e.sql('qa', 'UPDATE accounts SET abalance = 7 WHERE aid % 11 = 0');
    const tablePages = Number((await e.sql<{ n: string }>('qa', "SELECT pg_relation_size('accounts') / 8192 AS n"))[0].n);
    await e.idle(); // the spare, if any, is of the newest bookmark by now
    const before = pageRestores();
    e.ok('restore', 'clustered', '--container', 'qa');
    assert.equal(pageRestores(), before + 1, `the restore rewrote only the pages the WAL named: ${logLines(/./).slice(-6).join('\n')}`);
    const named = Number(/restoring in place: (\d+) pages/.exec(logLines(/restoring in place/).at(-1)!)![1]);
    assert.ok(named >= tablePages / 2, `the UPDATE touched most of the ${tablePages} pages of accounts; the WAL named ${named}`);
    assert.deepEqual(logged(await e.checksum('qa')), sums);
    assert.deepEqual((await amcheck(url)).problems, []);
  });

  test('a database gone quiet is checkpointed, so a restore after the pause reads almost no WAL (quietCheckpoints.ts)', async () => {
    e.ok('bookmark', 'create', 'before-quiet', '--container', 'qa');
    const sums = logged(await e.checksum('qa'));
    e.ok('bookmark', 'create', 'reset-point', '--container', 'qa'); // a spare may hold the latest
    const quietBefore = logLines(/qa: its database went quiet/).length;
    await e.sql('qa', "UPDATE accounts SET filler = 'quiet' WHERE aid % 3 = 0"); // tens of MiB of WAL
    for (let waited = 0; logLines(/qa: its database went quiet/).length === quietBefore; waited += 250) {
      assert.ok(waited < 60_000, `no quiet checkpoint within 60 s: ${logLines(/./).slice(-5).join('\n')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(logLines(/qa: its database went quiet/).at(-1)!, /the WAL summaries reach it/);
    await e.idle();
    e.ok('restore', 'before-quiet', '--container', 'qa');
    const line = logLines(/restoring in place: \d+ pages/).at(-1)!;
    const wal = Number(/then ([\d.]+) MiB of WAL/.exec(line)?.[1]);
    assert.ok(wal < 1, `the summaries named the update's pages, not the WAL read at the stop: ${line}`);
    assert.deepEqual(logged(await e.checksum('qa')), sums);
    assert.deepEqual((await amcheck(url)).problems, []);
  });

  test('the WAL records name every page the WAL summaries name (walRecords.ts reads what the summarizer read)', async () => {
    const redo = async () => {
      await e.sql('qa', 'CHECKPOINT');
      return (await e.sql<{ lsn: string; tli: number }>('qa', 'SELECT redo_lsn::text AS lsn, timeline_id AS tli FROM pg_control_checkpoint()'))[0];
    };
    const from = await redo();
    await e.sql('qa', 'UPDATE accounts SET abalance = abalance - 1 WHERE aid % 97 = 3');
    await e.sql('qa', 'SELECT pg_switch_wal()'); // the rest of its segment is skipped
    await e.sql('qa', 'CREATE TABLE fresh AS SELECT g AS k FROM generate_series(1, 50000) g; TRUNCATE fresh; DROP TABLE fresh');
    await e.sql('qa', "INSERT INTO accounts SELECT a, 2, 'w' FROM generate_series(400001, 420000) a");
    await e.sql('qa', 'SELECT pg_switch_wal()');
    const upto = await redo();
    const flushed = (await e.sql<{ lsn: string }>('qa', 'SELECT pg_current_wal_flush_lsn()::text AS lsn'))[0].lsn;
    const rows = await e.sql<{ ts: string; db: string; rel: string; fork: number; blk: string; lim: boolean }>('qa', `
      SELECT reltablespace::text AS ts, reldatabase::text AS db, relfilenode::text AS rel, relforknumber::int AS fork,
             relblocknumber::text AS blk, is_limit_block AS lim
        FROM pg_available_wal_summaries() s, pg_wal_summary_contents(s.tli, s.start_lsn, s.end_lsn) c
       WHERE s.start_lsn >= $1::pg_lsn AND s.end_lsn <= $2::pg_lsn`, [from.lsn, upto.lsn]);
    const dir = (await e.sql<{ d: string }>('qa', "SELECT current_setting('data_directory') AS d"))[0].d;
    const segSize = Number((await e.sql<{ n: string }>('qa', "SELECT pg_size_bytes(current_setting('wal_segment_size')) AS n"))[0].n);
    const read = async (name: string, position: number, length: number) =>
      fs.promises.readFile(path.join(dir, 'pg_wal', name)).then((b) => b.subarray(position, position + length), () => undefined);
    const tail = await walTail(read, lsnValue(from.lsn), from.tli, segSize);
    assert.ok(!('reason' in tail), `the WAL reads: ${'reason' in tail ? tail.reason : ''}`);
    assert.ok(tail.end >= lsnValue(flushed), `it reads to the end of the WAL (${flushed}), past two segment switches`);
    const key = (r: { tablespace: number; database: number; relfilenode: number; fork: number; block: number }) =>
      `${r.tablespace}/${r.database}/${r.relfilenode}/${r.fork}/${r.block}`;
    const named = new Set(tail.rows.filter((r) => !r.isLimit).map(key));
    const limits = new Set(tail.rows.filter((r) => r.isLimit).map((r) => `${r.tablespace}/${r.database}/${r.relfilenode}`));
    const pages = rows.filter((r) => !r.lim);
    assert.ok(pages.length > 1000, `the summaries name the update's pages: ${pages.length}`);
    const missed = pages.map((r) => key({ tablespace: +r.ts, database: +r.db, relfilenode: +r.rel, fork: r.fork, block: +r.blk })).filter((k) => !named.has(k));
    assert.deepEqual(missed.slice(0, 10), [], `${missed.length} of ${pages.length} pages the summaries name are missing from the WAL records`);
    // A relation created or truncated is a limit in both.
    for (const r of rows.filter((x) => x.lim && x.fork === 0 && x.blk === '0')) {
      assert.ok(limits.has(`${r.ts}/${r.db}/${r.rel}`) || [...named].some((k) => k.startsWith(`${r.ts}/${r.db}/${r.rel}/`)),
        `relation ${r.rel} created or truncated is named by the WAL records`);
    }
  });

  // Data checksums (initdb's default since PostgreSQL 18) already put hint bits in the WAL;
  // wal_log_hints does for data made without them. Either way, this must hold.
  test('a restore in place never keeps a hint bit the bookmark contradicts (wal_log_hints)', async () => {
    await e.sql('qa', 'CREATE TABLE hinted (k int PRIMARY KEY, v text)');
    const { Client } = await import('pg');
    const open = new Client({ connectionString: url });
    open.on('error', () => undefined);
    await open.connect();
    try {
      // In progress when the bookmark is taken: the bookmark's copy aborts it.
      await open.query("BEGIN; INSERT INTO hinted SELECT g, 'pending' FROM generate_series(1, 2000) g");
      e.ok('bookmark', 'create', 'pending', '--container', 'qa');
      e.ok('bookmark', 'create', 'pending-too', '--container', 'qa'); // the reset point, which a spare may hold
      await open.query('COMMIT');
    } finally {
      await open.end();
    }
    // Reading the committed rows sets their hint bits; the checkpoint writes those pages.
    assert.equal(Number((await e.sql<{ n: string }>('qa', 'SELECT count(*) AS n FROM hinted'))[0].n), 2000);
    await e.sql('qa', 'CHECKPOINT');
    await e.idle();
    const before = pageRestores();
    e.ok('restore', 'pending', '--container', 'qa');
    assert.equal(pageRestores(), before + 1, 'the restore went in place, by changed pages');
    assert.equal(Number((await e.sql<{ n: string }>('qa', 'SELECT count(*) AS n FROM hinted'))[0].n), 0, 'the rows of the aborted transaction stay invisible');
    assert.deepEqual((await amcheck(url)).problems, []);
    await e.sql('qa', 'DROP TABLE hinted');
  });

  test(`${CYCLES} random cycles of changes, bookmarks, restores (to bookmarks and to moments) and branches: every restore is its data, and amcheck finds nothing`, async () => {
    const rand = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const made: Array<{ name: string; sums: Record<string, string> }> = [];
    let branches = 1;
    let activations = 0;
    let tables = 0;
    // What each inactive branch held when it was left: a switch back must find exactly that
    // (on blocks its volume may have been captured ahead, given to another branch and made again).
    const left = new Map<string, Record<string, string>>();
    let active = 'main';
    const leave = async () => left.set(active, logged(await e.checksum('qa')));
    let summarised = 0;
    let restores = 0;
    let momentRestores = 0;
    // Each branch's moments, noted after the changes of a cycle, with its data then: a point-in-time
    // restore to one must give exactly that data (issue 13), whatever happened since.
    const moments = new Map<string, Array<{ at: string; sums: Record<string, string> }>>();
    const restoresBefore = pageRestores();
    const changes: Array<() => string> = [
      () => `UPDATE accounts SET abalance = abalance + 1 WHERE aid % ${50 + Math.floor(rand() * 200)} = ${Math.floor(rand() * 50)}`,
      () => { const at = Math.floor(rand() * 290000); return `UPDATE accounts SET filler = 'c' WHERE aid BETWEEN ${at} AND ${at + 2000}`; },
      () => `INSERT INTO accounts SELECT a, 1, 'i' FROM generate_series((SELECT max(aid) + 1 FROM accounts), (SELECT max(aid) + 3000 FROM accounts)) a`,
      () => `DELETE FROM accounts WHERE aid % ${100 + Math.floor(rand() * 100)} = 1`,
      () => `CREATE TABLE t${++tables} AS SELECT g AS k, md5(g::text) AS v FROM generate_series(1, ${1000 + Math.floor(rand() * 20000)}) g`,
      () => { const t = Math.max(1, Math.ceil(rand() * tables)); return `DROP TABLE IF EXISTS t${t}`; },
      () => { const t = Math.max(1, Math.ceil(rand() * tables)); return `CREATE TABLE IF NOT EXISTS t${t} (k int, v text); TRUNCATE t${t}; INSERT INTO t${t} SELECT g, 'x' FROM generate_series(1, 500) g`; },
      () => 'VACUUM FULL accounts',
      () => `INSERT INTO scratch SELECT g, 'v' FROM generate_series((SELECT coalesce(max(k), 0) + 1 FROM scratch), (SELECT coalesce(max(k), 0) + 200 FROM scratch)) g`,
      () => 'VACUUM accounts',
    ];
    for (let i = 0; i < CYCLES; i++) {
      for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) await e.sql('qa', pick(changes)());
      const noted = (await e.sql<{ m: Date }>('qa', 'SELECT clock_timestamp() AS m'))[0].m.toISOString();
      moments.set(active, [...(moments.get(active) ?? []), { at: noted, sums: logged(await e.checksum('qa')) }]);
      await new Promise((r) => setTimeout(r, 20)); // the next commit is after the moment
      const action = made.length === 0 ? 'bookmark' : pick(['bookmark', 'bookmark', 'restore', 'moment', 'branch', 'activate']);
      if (action === 'bookmark') {
        const name = `c${i}`;
        e.ok('bookmark', 'create', name, '--container', 'qa');
        if (/the WAL summaries name/.test(reads().at(-1)!)) summarised++;
        made.push({ name, sums: logged(await e.checksum('qa')) });
      } else if (action === 'restore') {
        const b = pick(made);
        e.ok('restore', b.name, '--container', 'qa');
        restores++;
        const sums = await e.checksum('qa');
        assert.deepEqual(logged(sums), b.sums, `cycle ${i}: restore ${b.name} (seed ${SEED})`);
        assert.match(sums[UNLOGGED], /^0:/, 'the unlogged table starts empty');
        assert.deepEqual((await amcheck(url)).problems, [], `cycle ${i}: amcheck after restore ${b.name} (seed ${SEED})`);
      } else if (action === 'moment') {
        const m = pick(moments.get(active)!);
        e.ok('restore', '--at', m.at, '--container', 'qa');
        momentRestores++;
        assert.deepEqual(logged(await e.checksum('qa')), m.sums, `cycle ${i}: restore to ${m.at} on ${active} (seed ${SEED})`);
        assert.deepEqual((await amcheck(url)).problems, [], `cycle ${i}: amcheck after the restore to ${m.at} (seed ${SEED})`);
        await e.idle(); // the new history is restorable once its capture is done
      } else if (action === 'branch') {
        const b = pick(made);
        await leave();
        active = `b${branches++}`;
        e.ok('branch', 'create', active, '--container', 'qa', '--from-bookmark', b.name, '--activate');
        assert.deepEqual(logged(await e.checksum('qa')), b.sums, `cycle ${i}: branch from ${b.name} (seed ${SEED})`);
      } else {
        const names = e.ok<Array<{ name: string; active: boolean }>>('branch', 'list', '--container', 'qa').filter((b) => !b.active);
        if (names.length) {
          await leave();
          active = pick(names).name;
          e.ok('branch', 'activate', active, '--container', 'qa');
          activations++;
          assert.deepEqual(logged(await e.checksum('qa')), left.get(active), `cycle ${i}: back on branch ${active} (seed ${SEED})`);
          assert.deepEqual((await amcheck(url)).problems, [], `cycle ${i}: amcheck on branch ${active} (seed ${SEED})`);
        }
      }
    }
    await e.idle();
    assert.deepEqual((await amcheck(url)).problems, []);
    assert.ok(summarised > 0, 'some bookmarks read only the pages the summaries named');
    const inPlace = pageRestores() - restoresBefore;
    assert.ok(restores === 0 || inPlace > 0, 'some restores rewrote only the pages the WAL named');
    console.log(`# ${CYCLES} cycles (seed ${SEED}): ${made.length} bookmarks, ${summarised} of them from the WAL summaries; `
      + `${restores} restores, ${inPlace} of them in place by changed pages; ${momentRestores} restores to a moment; ${branches - 1} branches, ${activations} switches back`);
  });
});
