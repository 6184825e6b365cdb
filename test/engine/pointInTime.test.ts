import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import type { ConnectionInfo, MomentRestored, TimelinePage } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { driverSites, type DriverSite } from '../support/drivers';
import { FIXTURES, TestEngine } from '../support/engine';

/**
 * restore --at: a branch's archived WAL brings its data back as of any moment, no bookmark
 * needed. Rows are committed at known moments; each restore must give back exactly the rows
 * committed by its moment (every table's checksum as it was then, amcheck clean), restoring
 * back and then forward into the abandoned history, across a branch switch, and after the
 * engine restarts. Moments that cannot be restored are refused and change nothing.
 */
describe('point-in-time restore', async () => {
  const sites = await driverSites(1024);
  after(async () => { for (const s of sites) await s.cleanup(); });
  for (const site of sites) {
    describe(`${site.driver} driver`, () => {
      if (site.skip) {
        test(`point-in-time restore on ${site.driver}`, (t) => { t.skip(site.skip); });
        return;
      }
      momentsOn(site);
    });
  }
});

describe('WAL retention: a container over its cap drops its oldest history, never a bookmark', () => {
  let e: TestEngine;
  before(async () => {
    e = await TestEngine.start({ driver: 'blocks' });
    await e.stop();
    e.ok('engine', 'start', '--driver', 'blocks');
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  });
  after(async () => e?.destroy());

  test('the cap drops the abandoned history; the bookmark taken in it still restores byte for byte', async () => {
    await e.stop();
    const started = e.cliWith({ SLIPSTREAM_WAL_CAP_MB: '40' }, 'engine', 'start', '--driver', 'blocks');
    assert.equal(started.code, 0, started.stderr);
    const st = e.ok<{ wal: { retentionHours: number; capMb: number; captureSeconds: number } }>('engine', 'status');
    assert.deepEqual(st.wal, { retentionHours: 168, capMb: 40, captureSeconds: 3600 });
    e.ok('container', 'create', 'qa', '--template', 'employees');
    await e.sql('qa', 'CREATE TABLE marks (n int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await e.sql('qa', 'INSERT INTO marks (n) VALUES (1)');
    const early = (await e.sql<{ m: Date }>('qa', 'SELECT clock_timestamp() AS m'))[0].m.toISOString();
    e.ok('bookmark', 'create', 'kept', '--container', 'qa');
    const kept = await e.checksum('qa');
    // About 60 MiB of WAL: more than the cap, all of it in this first span.
    await e.sql('qa', "CREATE TABLE churn AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 100000) g");
    await e.sql('qa', 'INSERT INTO marks (n) VALUES (2)');
    const late = (await e.sql<{ m: Date }>('qa', 'SELECT clock_timestamp() AS m'))[0].m.toISOString();
    const lateSums = await e.checksum('qa');
    await new Promise((r) => setTimeout(r, 150));
    e.ok('restore', '--at', late, '--container', 'qa'); // ends the first span and starts pruning
    assert.deepEqual(await e.checksum('qa'), lateSums);
    await e.idle();
    const show = e.ok<{ wal: { bytes: number; capMb: number; restorable: Array<{ from: string; to: string }> } }>('container', 'show', 'qa');
    assert.ok(show.wal.bytes <= 40 * 1048576, `the archive is within the cap: ${show.wal.bytes} bytes`);
    assert.ok(show.wal.restorable.every((r) => r.from > early), `the first span is gone: ${JSON.stringify(show.wal.restorable)}`);
    assert.match(e.fails('InvalidArgument', 'restore', '--at', early, '--container', 'qa').message, /outside what can be restored/);
    e.ok('restore', 'kept', '--container', 'qa');
    assert.deepEqual(await e.checksum('qa'), kept, 'the bookmark of the dropped history restores byte for byte');
    const check = await amcheck(e.ok<ConnectionInfo>('container', 'url', 'qa').url);
    assert.deepEqual(check.problems, []);
  });
});

describe('the engine captures a running branch at an interval, so a replay starts from the newest capture', () => {
  let e: TestEngine;
  before(async () => {
    e = await TestEngine.start({ driver: 'blocks' });
    await e.stop();
    const started = e.cliWith({ SLIPSTREAM_WAL_CAPTURE_SECONDS: '2' }, 'engine', 'start', '--driver', 'blocks');
    assert.equal(started.code, 0, started.stderr);
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  });
  after(async () => e?.destroy());

  type Show = { wal: { newestAnchorAt?: string; captureSeconds: number } };
  const newestAnchor = () => e.ok<Show>('container', 'show', 'iv').wal.newestAnchorAt;

  test('a branch that writes gets a new anchor; one that does not, none; a restore replays from the newest', async () => {
    assert.equal(e.ok<{ wal: { captureSeconds: number } }>('engine', 'status').wal.captureSeconds, 2);
    e.ok('container', 'create', 'iv', '--template', 'employees');
    const created = newestAnchor();
    assert.ok(created, "the branch's first snapshot is its first anchor");
    // About 6 MiB of WAL: more than the engine captures for. No autovacuum: its WAL would count as writes.
    await new Promise((r) => setTimeout(r, 1500)); // the engine's first look at the new branch
    await e.sql('iv', "CREATE TABLE churn WITH (autovacuum_enabled = off) AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 10000) g");
    let captured: string | undefined;
    for (let i = 0; i < 100 && !(captured && captured > created); i++) {
      await new Promise((r) => setTimeout(r, 200));
      captured = newestAnchor();
    }
    assert.ok(captured && captured > created, `no capture within 20 s of writing WAL (newest anchor ${captured}, created ${created})`);
    await e.sql('iv', 'UPDATE employees SET salary = salary + 1 WHERE id % 3 = 0');
    const moment = (await e.sql<{ m: Date }>('iv', 'SELECT clock_timestamp() AS m'))[0].m.toISOString();
    const sums = await e.checksum('iv');
    await new Promise((r) => setTimeout(r, 150));
    await e.sql('iv', 'DELETE FROM employees');
    const r = e.ok<MomentRestored>('restore', '--at', moment, '--container', 'iv');
    assert.ok(r.from.at >= captured && !r.from.bookmark, `replayed from the interval's capture (${captured}), not from ${r.from.at}`);
    assert.deepEqual(await e.checksum('iv'), sums, 'every table as it was at the moment');
    assert.deepEqual((await amcheck(e.ok<ConnectionInfo>('container', 'url', 'iv').url)).problems, []);
    // The restore's own capture is the new history's anchor; idle since, the branch gets no other.
    await e.idle();
    const afterRestore = newestAnchor();
    await new Promise((r) => setTimeout(r, 5000));
    const log = fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').split('\n').filter((l) => l.includes('captured an anchor')).join('\n');
    assert.equal(newestAnchor(), afterRestore, `an idle branch was captured again:\n${log}`);
  });
});

describe('an in-place restore whose replay fails says how to get the data back, and that works', () => {
  let e: TestEngine;
  before(async () => {
    e = await TestEngine.start({ driver: 'blocks' });
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  });
  after(async () => e?.destroy());

  test('the first history\'s WAL is deleted (as the tenant could); restoring into it fails; the hint brings the data back', async () => {
    e.ok('container', 'create', 'ip', '--template', 'employees');
    await e.sql('ip', "INSERT INTO employees (first_name, last_name) VALUES ('first', 'history')");
    const m1 = (await e.sql<{ m: Date }>('ip', 'SELECT clock_timestamp() AS m'))[0].m.toISOString();
    await new Promise((r) => setTimeout(r, 150));
    e.ok('restore', '--at', m1, '--container', 'ip'); // the second history begins
    await e.idle();
    await e.sql('ip', "INSERT INTO employees (first_name, last_name) VALUES ('second', 'history')");
    const sums = await e.checksum('ip');
    const current = (await e.sql<{ d: string }>('ip', "SELECT current_setting('basic_archive.archive_directory') AS d"))[0].d;
    const others = fs.readdirSync(path.dirname(current)).map((n) => path.join(path.dirname(current), n)).filter((d) => d !== current);
    assert.equal(others.length, 1, `one abandoned history: ${others.join(', ')}`);
    const segments = fs.readdirSync(others[0]).filter((f) => /^[0-9A-F]{24}$/.test(f));
    assert.ok(segments.length > 0, 'the first history archived its WAL');
    for (const f of segments) fs.rmSync(path.join(others[0], f));

    const r = e.cli('restore', '--at', m1, '--container', 'ip');
    const error = (r.json as { error?: { code: string; message: string } } | undefined)?.error;
    assert.equal(r.code, 1, `the restore without its WAL did not fail: ${r.stdout} ${r.stderr}`);
    const hint = /`slipstream restore --at (\S+) --container ip`/.exec(error?.message ?? '');
    assert.ok(hint, `the error says how to get the data back: ${error?.message}`);
    e.ok('restore', '--at', hint[1], '--container', 'ip');
    assert.deepEqual(await e.checksum('ip'), sums, 'the data as it was before the failed restore');
    assert.deepEqual((await amcheck(e.ok<ConnectionInfo>('container', 'url', 'ip').url)).problems, []);
  });
});

interface Mark { n: number; moment: string; rows: number[]; sums: Record<string, string> }

function momentsOn(site: DriverSite): void {
  let e: TestEngine;
  const marks: Mark[] = [];
  before(async () => {
    e = await TestEngine.start({ driver: site.driver, pool: site.pool });
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    e.ok('container', 'create', 'qa', '--template', 'employees');
    await e.sql('qa', 'CREATE TABLE marks (n int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
  });
  after(async () => e?.destroy());

  /** Commit row n (and change an employee, so more than one table moves), then note the moment
   *  just after the commit and every table's checksum as of it. */
  async function mark(n: number): Promise<Mark> {
    await e.sql('qa', 'INSERT INTO marks (n) VALUES ($1)', [n]);
    await e.sql('qa', 'UPDATE employees SET salary = salary + $1 WHERE id % 7 = $1 % 7', [n]);
    const moment = (await e.sql<{ m: Date }>('qa', 'SELECT clock_timestamp() AS m'))[0].m.toISOString();
    const m = { n, moment, rows: await markRows(), sums: await e.checksum('qa') };
    marks.push(m);
    await new Promise((r) => setTimeout(r, 150)); // the next commit is clearly after the moment
    return m;
  }

  async function markRows(): Promise<number[]> {
    return (await e.sql<{ n: number }>('qa', 'SELECT n FROM marks ORDER BY n')).map((x) => x.n);
  }

  /** The engine log's lines saying a capture could not go by the WAL summaries. */
  const wholeReads = () => fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').split('\n')
    .filter((l) => l.includes('files changed since the last capture are read whole'));

  async function restoreTo(m: Mark, what: string): Promise<MomentRestored> {
    const whole = wholeReads().length;
    const r = e.ok<MomentRestored>('restore', '--at', m.moment, '--container', 'qa');
    assert.equal(r.moment, m.moment);
    assert.deepEqual(await e.checksum('qa'), m.sums, `${what}: every table as it was at ${m.moment}`);
    assert.deepEqual(await markRows(), m.rows, `${what}: the rows committed by then, no more`);
    const check = await amcheck(e.ok<ConnectionInfo>('container', 'url', 'qa').url);
    assert.deepEqual(check.problems, [], `${what}: amcheck is clean`);
    // The new history is restorable once the engine's capture of it, in the background, is done.
    await e.idle();
    // That capture goes by the WAL summaries of the replayed timeline and the new one (blocks).
    if (site.driver === 'blocks') assert.deepEqual(wholeReads().slice(whole), [], `${what}: the capture after it read files whole`);
    return r;
  }

  test('rows come back exactly by time, restoring back and then forward again', async () => {
    const m1 = await mark(1);
    const m2 = await mark(2);
    const m3 = await mark(3);
    const back = await restoreTo(m1, 'back to the first moment');
    assert.ok(back.from.snapshotId && back.from.at <= m1.moment, 'replayed from an anchor before the moment');
    await restoreTo(m3, 'forward, into the history the first restore abandoned');
    await restoreTo(m2, 'back again, between the two');
  });

  test('a moment of the new history, across a switch to another branch and back', async () => {
    const m4 = await mark(4);
    await mark(5);
    e.ok('branch', 'create', 'other', '--container', 'qa', '--from-template', '--activate');
    await e.sql('qa', 'CREATE TABLE other_only (x int)');
    e.ok('branch', 'activate', 'main', '--container', 'qa');
    await restoreTo(m4, 'after a switch away and back');
  });

  test('after the engine restarts, every span is still there', async () => {
    await e.stop();
    e.ok('engine', 'start', '--driver', site.driver, ...(site.pool ? ['--pool', site.pool] : []));
    await restoreTo(marks.find((m) => m.n === 5)!, 'after a restart, to the abandoned fifth');
    await restoreTo(marks.find((m) => m.n === 2)!, 'after a restart, to the second');
  });

  test('branch create --at: a new branch from a moment of the active branch, and of an inactive one', async () => {
    const m2 = marks.find((m) => m.n === 2)!;
    const m4 = marks.find((m) => m.n === 4)!;
    e.ok('branch', 'create', 'then', '--container', 'qa', '--at', m2.moment, '--activate');
    assert.deepEqual(await e.checksum('qa'), m2.sums, 'the new branch holds the data as of the moment');
    assert.deepEqual(await markRows(), m2.rows);
    // main is inactive now: its history is still there to branch from.
    const b = e.ok<{ origin: { kind: string; branch: string; at?: string } }>('branch', 'create', 'then4', '--container', 'qa', '--from-branch', 'main', '--at', m4.moment, '--activate');
    assert.deepEqual(b.origin, { kind: 'branch', branch: 'main', at: m4.moment });
    assert.deepEqual(await e.checksum('qa'), m4.sums);
    assert.deepEqual((await amcheck(e.ok<ConnectionInfo>('container', 'url', 'qa').url)).problems, []);
    e.ok('branch', 'activate', 'main', '--container', 'qa');
  });

  test('the timeline marks each point-in-time restore', () => {
    const page = e.ok<TimelinePage>('timeline', '--container', 'qa');
    const moments = page.events.filter((ev) => ev.kind === 'restored' && ev.moment).map((ev) => ev.moment);
    assert.ok(moments.length >= 6, `point-in-time restores on the timeline: ${moments.join(', ')}`);
    assert.ok(moments.includes(marks.find((m) => m.n === 2)!.moment));
    // And what each branch can be restored to: main's spans, oldest first, ending now.
    const main = page.restorable.find((r) => r.branch === 'main')!;
    assert.ok(main.ranges.length >= 6, JSON.stringify(page.restorable));
    assert.ok(main.ranges.some((r) => r.from <= marks[0].moment && marks[0].moment <= r.to), 'the first moment is inside a range');
    assert.ok(main.ranges.every((r, i) => r.from <= r.to && (i === 0 || main.ranges[i - 1].from <= r.from)));
  });

  test('moments that cannot be restored are refused with the range, and change nothing', async () => {
    const before = await e.checksum('qa');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    assert.match(e.fails('InvalidArgument', 'restore', '--at', future, '--container', 'qa').message, /in the future.*can be restored to/);
    assert.match(e.fails('InvalidArgument', 'restore', '--at', '2001-01-01T00:00:00Z', '--container', 'qa').message, /outside what can be restored.*can be restored to \d{4}-/);
    // The CLI refuses a malformed moment before it reaches the engine; the engine refuses it too.
    const r = e.cli('restore', '--at', 'yesterday', '--container', 'qa');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not a moment/);
    const zoneless = e.cli('restore', '--at', '2026-12-01 10:00:00', '--container', 'qa');
    assert.equal(zoneless.code, 2, zoneless.stderr);
    assert.match(zoneless.stderr, /no zone/);
    assert.deepEqual(await e.checksum('qa'), before);
  });

  test('deleting the container deletes its WAL archives', async () => {
    const wal = path.join(site.pool ?? path.join(e.home, 'pool'), 'wal');
    assert.ok(fs.readdirSync(wal).length > 0, 'spans were archived');
    e.ok('container', 'delete', 'qa');
    await e.idle();
    assert.deepEqual(fs.readdirSync(wal), []);
  });
}
