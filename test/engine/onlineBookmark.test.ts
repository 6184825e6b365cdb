import assert from 'node:assert/strict';
import * as path from 'path';
import { Client } from 'pg';
import { after, before, describe, test } from 'node:test';
import type { BookmarkInfo, ConnectionInfo } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { driverSites, type DriverSite } from '../support/drivers';
import { FIXTURES, TestEngine } from '../support/engine';

/**
 * A bookmark never stops the database: a session open across it keeps its backend,
 * on every driver. blocks and reflink copy the running database inside an online
 * base backup; btrfs takes an atomic snapshot. Taken while a writer commits row after
 * row, the bookmark restores to a committed prefix of them, every table intact.
 */
describe('bookmarks of a running database', async () => {
  const sites = await driverSites(1024);
  after(async () => { for (const s of sites) await s.cleanup(); });
  for (const site of sites) {
    describe(`${site.driver} driver`, () => {
      if (site.skip) {
        test(`online bookmarks on ${site.driver}`, (t) => { t.skip(site.skip); });
        return;
      }
      onlineOn(site);
    });
  }
});

function onlineOn(site: DriverSite): void {
  let e: TestEngine;
  let url: string;
  before(async () => {
    e = await TestEngine.start({ driver: site.driver, pool: site.pool });
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    e.ok('container', 'create', 'qa', '--template', 'employees');
    url = e.ok<ConnectionInfo>('container', 'url', 'qa').url;
  });
  after(async () => e?.destroy());

  test('a session open across a bookmark keeps its backend, and the bookmark says how and when', async () => {
    const session = new Client({ connectionString: url });
    await session.connect();
    try {
      const pid = (await session.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      await session.query('BEGIN');
      await session.query('CREATE TABLE kept (n int)');
      const bm = e.ok<BookmarkInfo>('bookmark', 'create', 'while connected', '--container', 'qa');
      // The open transaction is still there to commit: the server never went away.
      await session.query('INSERT INTO kept VALUES (1)');
      await session.query('COMMIT');
      assert.equal((await session.query('SELECT pg_backend_pid() AS p')).rows[0].p, pid, 'the same backend still serves the session');
      assert.equal(bm.consistency, site.driver === 'btrfs' ? 'atomic-snapshot' : 'online-backup');
      assert.ok(bm.asOf && Math.abs(Date.parse(bm.asOf) - Date.now()) < 600_000, `as of ${bm.asOf}`);
      assert.match(bm.lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    } finally {
      await session.end();
    }
  });

  test('the WAL settings that keep branches small are in force (walSettings.ts)', async () => {
    const show = async (name: string) => (await e.sql<{ v: string }>('qa', `SELECT current_setting('${name}') AS v`))[0].v;
    assert.equal(await show('wal_compression'), 'pglz');
    // Copy-on-write volumes neither keep old segments renamed nor write new ones full of zeros.
    const cow = site.driver !== 'blocks';
    assert.equal(await show('wal_recycle'), cow ? 'off' : 'on');
    assert.equal(await show('wal_init_zero'), cow ? 'off' : 'on');
    // The WAL summaries name the pages changed since a capture (walSummaries.ts), and data cannot turn them off.
    assert.equal(await show('summarize_wal'), 'on');
    // Hint bits reach the WAL, so a restore in place never keeps one the bookmark contradicts.
    assert.equal(await show('wal_log_hints'), 'on');
    await e.sql('qa', 'ALTER SYSTEM SET summarize_wal = off');
    await e.sql('qa', 'SELECT pg_reload_conf()');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await show('summarize_wal'), 'on', 'the command line beats ALTER SYSTEM');
    await e.sql('qa', 'ALTER SYSTEM RESET summarize_wal');
  });

  test('a bookmark taken under a steady writer restores to a committed prefix, intact', async () => {
    await e.sql('qa', 'CREATE TABLE ticks (n int PRIMARY KEY, pad text)');
    const writer = new Client({ connectionString: url });
    writer.on('error', () => undefined); // the restore below ends every session; this one is closed by then
    await writer.connect();
    let n = 0;
    let writing = true;
    const loop = (async () => {
      while (writing) await writer.query('INSERT INTO ticks VALUES ($1::int, repeat(md5($1::int::text), 20))', [++n]);
    })();
    try {
      while (n < 200) await new Promise((r) => setTimeout(r, 20));
      const before = n;
      e.ok<BookmarkInfo>('bookmark', 'create', 'under load', '--container', 'qa');
      const afterBookmark = n;
      writing = false;
      await loop;
      await writer.end();
      const employees = (await e.checksum('qa'))['public.employees'];
      await e.sql('qa', 'DELETE FROM ticks; DELETE FROM employees');
      e.ok('restore', 'under load', '--container', 'qa');
      const [{ count, max }] = await e.sql<{ count: string; max: number }>('qa', 'SELECT count(*), max(n) FROM ticks');
      assert.equal(Number(count), max, 'rows 1..k with no gap: a committed prefix');
      assert.ok(max >= before - 1 && max <= afterBookmark, `k=${max} lies between ${before} and ${afterBookmark}`);
      assert.equal((await e.checksum('qa'))['public.employees'], employees, 'the other tables are as they were');
      const check = await amcheck(url);
      assert.deepEqual(check.problems, []);
      assert.ok(check.heaps > 0 && check.indexes > 0);
    } finally {
      writing = false;
      await loop.catch(() => undefined);
      await writer.end().catch(() => undefined);
    }
  });
}
