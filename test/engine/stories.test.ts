import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'pg';
import type { BookmarkInfo, BranchInfo, ConnectionInfo, ContainerInfo, TemplateInfo, TimelinePage } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { driverSites, type DriverSite } from '../support/drivers';
import { FIXTURES, TestEngine } from '../support/engine';

/**
 * The user's stories 1 and 2, through the real CLI, a real engine daemon and real
 * PostgreSQL 18, once per volume driver the machine allows; and what every branch
 * owning its volume promises: switches keep each branch's data, a restore swaps
 * volumes under a connected client.
 */
const EDGE_ROWS = `INSERT INTO employees (first_name, last_name, email) VALUES
  ('-1', 'negative', NULL), ('deleted', 'deleted', 'deleted'), ('''''', '', ''''), ('Zoë', E'tab\\there', 'ünïcødé@example.com')`;

describe('user stories on every driver', async () => {
  const sites = await driverSites();
  after(async () => { for (const s of sites) await s.cleanup(); });

  for (const site of sites) {
    describe(`${site.driver} driver`, () => {
      if (site.skip) {
        test(`stories 1 and 2 on ${site.driver}`, (t) => { t.skip(site.skip); });
        return;
      }
      storiesOn(site);
    });
  }
});

function storiesOn(site: DriverSite): void {
  let e: TestEngine;
  before(async () => {
    e = await TestEngine.start({ driver: site.driver, pool: site.pool });
    e.ok<TemplateInfo>('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  });
  after(async () => e?.destroy());

  test('story 1: edge-case rows, bookmark, destroy, restore: every row back, twice', async () => {
    const qa = e.ok<ContainerInfo>('container', 'create', 'qa', '--template', 'employees');
    assert.equal(qa.driver, site.driver);
    assert.equal(qa.activeBranch, 'main');
    await e.sql('qa', EDGE_ROWS);
    const before = await e.checksum('qa');
    assert.match(before['public.employees'], /^504:/);

    const bm = e.ok<BookmarkInfo>('bookmark', 'create', 'after edge case data', '--container', 'qa', '--tag', 'edge', '--note', 'QA data');
    assert.equal(bm.branch, 'main');
    assert.deepEqual(bm.tags, ['edge']);
    assert.equal(bm.consistency, site.driver === 'btrfs' ? 'atomic-snapshot' : 'online-backup', 'a bookmark never stops the database');

    for (let round = 1; round <= 2; round++) {
      await e.sql('qa', 'DELETE FROM employees');
      assert.equal((await e.sql<{ n: string }>('qa', 'SELECT count(*) AS n FROM employees'))[0].n, '0');
      e.ok('restore', 'after edge case data', '--container', 'qa');
      assert.deepEqual(await e.checksum('qa'), before, `round ${round}: every row back, byte for byte`);
    }
    const port = e.ok<ContainerInfo>('container', 'show', 'qa').port;
    assert.equal(port, qa.port, 'the port never changes');
    const kinds = e.ok<TimelinePage>('timeline', '--container', 'qa').events.map((ev) => ev.kind);
    assert.deepEqual(kinds, ['restored', 'restored', 'bookmark-created', 'container-created'], 'newest first');
  });

  test('reset discards changes since the last operation', async () => {
    const before = await e.checksum('qa');
    await e.sql('qa', `UPDATE employees SET salary = 0`);
    e.ok('reset', '--container', 'qa');
    assert.deepEqual(await e.checksum('qa'), before);
  });

  test('story 2: shared bookmark, branch in a second container, isolation both ways, switch back', async () => {
    await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('Bug', '1234')`);
    const bug = e.ok<BookmarkInfo>('bookmark', 'create', 'Bug 1234 data', '--container', 'qa', '--share');
    assert.equal(bug.shared, true);
    const qaSum = await e.checksum('qa');

    const dev = e.ok<ContainerInfo>('container', 'create', 'dev', '--template', 'employees');
    assert.notEqual(dev.port, e.ok<ContainerInfo>('container', 'show', 'qa').port);
    const devOwn = await e.checksum('dev');
    assert.ok(e.ok<BookmarkInfo[]>('bookmark', 'list', '--shared').some((b) => b.id === bug.id));

    const br = e.ok<BranchInfo>('branch', 'create', 'bug-1234', '--container', 'dev', '--from-bookmark', bug.id, '--activate');
    assert.equal(br.active, true);
    assert.equal(e.ok<ContainerInfo>('container', 'show', 'dev').port, dev.port, 'same port after the switch');
    assert.deepEqual(await e.checksum('dev'), qaSum, 'dev sees QA\'s data');

    await e.sql('dev', `DELETE FROM employees WHERE last_name = '1234'`);
    assert.deepEqual(await e.checksum('qa'), qaSum, 'what dev changes, QA never sees');
    await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('only', 'qa')`);
    const devBranchSum = await e.checksum('dev');
    assert.equal((await e.sql<{ n: string }>('dev', `SELECT count(*) AS n FROM employees WHERE last_name = 'qa'`))[0].n, '0',
      'what QA changes, dev never sees');

    e.ok('branch', 'activate', 'main', '--container', 'dev');
    assert.deepEqual(await e.checksum('dev'), devOwn, 'dev has their own data again');
    e.ok('branch', 'activate', 'bug-1234', '--container', 'dev');
    assert.deepEqual(await e.checksum('dev'), devBranchSum, 'the bug branch kept dev\'s changes');
    const branches = e.ok<BranchInfo[]>('branch', 'list', '--container', 'dev');
    assert.deepEqual(branches.map((b) => [b.name, b.active]).sort(), [['bug-1234', true], ['main', false]]);
  });

  test('switching back and forth keeps each branch\'s own data, table by table, and intact', async () => {
    e.ok('container', 'create', 'ab', '--template', 'employees');
    e.ok('branch', 'create', 'with-index', '--container', 'ab', '--from-branch', 'main', '--activate');
    await e.sql('ab', `CREATE INDEX employees_last ON employees (last_name); UPDATE employees SET salary = salary + 1 WHERE id % 3 = 0;
      CREATE TABLE notes AS SELECT g AS id, repeat('x', g % 50) AS body FROM generate_series(1, 2000) g`);
    const indexed = await e.checksum('ab');
    e.ok('branch', 'activate', 'main', '--container', 'ab');
    await e.sql('ab', `DELETE FROM employees WHERE id % 5 = 0`);
    const plain = await e.checksum('ab');
    assert.notDeepEqual(plain, indexed);
    for (let round = 1; round <= 3; round++) {
      e.ok('branch', 'activate', 'with-index', '--container', 'ab');
      assert.deepEqual(await e.checksum('ab'), indexed, `round ${round}: the indexed branch kept its data`);
      e.ok('branch', 'activate', 'main', '--container', 'ab');
      assert.deepEqual(await e.checksum('ab'), plain, `round ${round}: main kept its data`);
    }
    e.ok('branch', 'activate', 'with-index', '--container', 'ab');
    const check = await amcheck(e.ok<ConnectionInfo>('container', 'url', 'ab').url);
    assert.deepEqual(check.problems, [], 'amcheck finds nothing wrong after the switches');
    assert.ok(check.indexes > 0);
    e.ok('branch', 'delete', 'main', '--container', 'ab');
    assert.deepEqual(await e.checksum('ab'), indexed, 'deleting the other branch leaves the active one alone');
    e.ok('container', 'delete', 'ab');
  });

  test('a switch stops the branch it leaves at once; its checkpoint is written behind, so it starts clean, intact', async () => {
    const c = e.ok<ContainerInfo>('container', 'create', 'left', '--template', 'employees');
    e.ok('branch', 'create', 'other', '--container', 'left', '--from-branch', 'main');
    await e.sql('left', `UPDATE employees SET salary = salary + 7; CREATE TABLE after_switch AS SELECT g AS id FROM generate_series(1, 5000) g`);
    const changed = await e.checksum('left');
    const pgLog = path.join(e.home, 'run', c.id, 'postgres.log');
    const since = fs.statSync(pgLog).size;
    e.ok('branch', 'activate', 'other', '--container', 'left');
    await e.idle(); // the background checkpoint of main
    e.ok('branch', 'activate', 'main', '--container', 'left');
    await e.idle(); // other's checkpoint behind this switch logs to the same file
    const text = fs.readFileSync(pgLog, 'utf8').slice(since);
    assert.match(text, /received immediate shutdown request/, 'the switch did not wait for a shutdown checkpoint');
    // Main's start is the last one that listens on TCP: a checkpoint behind a switch listens on none.
    const lastStart = text.split('starting PostgreSQL').filter((s) => /listening on IPv4/.test(s)).pop() ?? '';
    const said = fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').split('\n').filter((l) => /checkpoint/.test(l)).join('\n');
    assert.match(lastStart, /database system was shut down at/, `main was checkpointed behind the switch, so it starts clean:\n${lastStart}\n${said}`);
    assert.doesNotMatch(lastStart, /not properly shut down/);
    assert.deepEqual(await e.checksum('left'), changed, 'every change made before the switch is there');
    const check = await amcheck(e.ok<ConnectionInfo>('container', 'url', 'left').url);
    assert.deepEqual(check.problems, [], 'amcheck finds nothing wrong');
    e.ok('container', 'delete', 'left');
  });

  test('a restore while a client session is connected: the right data, and the database answers', async () => {
    e.ok('container', 'create', 'busy', '--template', 'employees');
    await e.sql('busy', EDGE_ROWS);
    const saved = await e.checksum('busy');
    e.ok('bookmark', 'create', 'busy before', '--container', 'busy');
    const session = new Client({ connectionString: e.ok<ConnectionInfo>('container', 'url', 'busy').url });
    session.on('error', () => undefined); // the restore ends this session; that is expected
    await session.connect();
    await session.query('BEGIN');
    await session.query('DELETE FROM employees');
    const restored = e.ok<BranchInfo>('restore', 'busy before', '--container', 'busy');
    assert.equal(restored.active, true);
    await assert.rejects(session.query('COMMIT'), 'the open transaction died with the old database');
    await session.end().catch(() => undefined);
    assert.deepEqual(await e.checksum('busy'), saved, 'the bookmark\'s data, byte for byte');
    assert.equal(e.ok<ContainerInfo>('container', 'show', 'busy').state, 'running');
    e.ok('container', 'delete', 'busy');
  });

  test('refresh moves the active branch to the template\'s latest version', async () => {
    const t = e.ok<TemplateInfo>('template', 'refresh', 'employees');
    assert.equal(t.latestVersion, 2);
    const c = e.ok<ContainerInfo>('refresh', '--container', 'qa');
    assert.equal(c.templateVersion, 2);
    assert.match((await e.checksum('qa'))['public.employees'], /^500:/);
  });

  test('engine restart: databases run again on their ports with their data', async () => {
    const before = { qa: await e.checksum('qa'), dev: await e.checksum('dev') };
    const ports = e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.port]);
    e.ok('engine', 'stop');
    for (const [name, port] of ports) assert.equal(await refused(Number(port)), true, `engine stop stopped ${name}'s database`);
    e.ok('engine', 'start', '--driver', site.driver, ...(site.pool ? ['--pool', site.pool] : []));
    assert.deepEqual(e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.port]), ports);
    assert.deepEqual({ qa: await e.checksum('qa'), dev: await e.checksum('dev') }, before);
  });
}

/** Whether nothing listens on the port any more. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}
