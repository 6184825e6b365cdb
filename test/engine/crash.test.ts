import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import { Client } from 'pg';
import type { BookmarkInfo, BranchInfo, ConnectionInfo, ContainerInfo, TemplateInfo, TimelinePage } from '../../server/protocol';
import { CLI, FIXTURES, TestEngine } from '../support/engine';
import { portFree } from '../../server/engine/ports';
import { homeFiles } from '../../server/common/home';

/**
 * kill -9 at the engine's named fault points (SLIPSTREAM_FAULT), then a normal
 * start: a completed operation is never lost, a half-made one never shows, and
 * the database runs again on its port with the data the metadata says it has.
 */
let e: TestEngine;

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
});
after(async () => e?.destroy());

/** Restart the engine so that it dies at `point`, run `args`, then start it normally. */
function crashAt(point: string, ...args: string[]): void {
  e.ok('engine', 'stop');
  const started = e.cliWith({ SLIPSTREAM_FAULT: point }, 'engine', 'start');
  assert.equal(started.code, 0, started.stderr);
  const r = e.cli(...args);
  assert.notEqual(r.code, 0, `${args.join(' ')} should have died at ${point}`);
  e.ok('engine', 'start');
}

const count = async () => Number((await e.sql<{ n: string }>('qa', 'SELECT count(*) AS n FROM employees'))[0].n);

test('a bookmark interrupted after its snapshot never shows, and the database runs', async () => {
  crashAt('bookmark-create:after-snapshot', 'bookmark', 'create', 'half', '--container', 'qa');
  assert.ok(!e.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'half'));
  assert.equal(await count(), 500);
  e.ok('bookmark', 'create', 'half', '--container', 'qa'); // the name is free again
});

test('a restore interrupted after recording its result finishes on restart', async () => {
  await e.sql('qa', 'DELETE FROM employees');
  crashAt('rewind:after-commit', 'restore', 'half', '--container', 'qa');
  assert.equal(await count(), 500);
  const last = e.ok<TimelinePage>('timeline', '--container', 'qa').events[0];
  assert.equal(last?.kind, 'restored');
});

test('an activate interrupted after stopping the old branch finishes the switch', async () => {
  e.ok('branch', 'create', 'empty-emps', '--container', 'qa', '--from-template', '--activate');
  await e.sql('qa', 'DELETE FROM employees');
  e.ok('branch', 'activate', 'main', '--container', 'qa');
  await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('kept', 'on main')`);
  for (const point of ['activate:after-stop', 'activate:after-start']) {
    crashAt(point, 'branch', 'activate', 'empty-emps', '--container', 'qa');
    assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').activeBranch, 'empty-emps', point);
    assert.equal(await count(), 0, point);
    e.ok('branch', 'activate', 'main', '--container', 'qa');
    assert.equal(await count(), 501, `${point}: main kept its change`);
  }
  assert.deepEqual(e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').filter((b) => b.active).map((b) => b.name), ['main']);
});

test('a container interrupted after cloning never shows, and its name and port are free', () => {
  crashAt('container-create:after-clone', 'container', 'create', 'half', '--template', 'employees', '--port', '26431');
  assert.ok(!e.ok<ContainerInfo[]>('container', 'list').some((c) => c.name === 'half'));
  const c = e.ok<ContainerInfo>('container', 'create', 'half', '--template', 'employees', '--port', '26431');
  assert.equal(c.port, 26431);
  e.ok('container', 'delete', 'half');
});

test('a template build interrupted after its snapshot never shows', () => {
  crashAt('template-build:after-snapshot', 'template', 'create', 'half', '--empty');
  assert.ok(!e.ok<TemplateInfo[]>('template', 'list').some((t) => t.name === 'half'));
  e.ok('template', 'create', 'half', '--empty');
});

test('kill -9 of the engine leaves databases running; the next engine adopts them', async () => {
  const pid = e.ok<{ pid: number }>('engine', 'status').pid;
  const { url } = e.ok<ConnectionInfo>('container', 'url', 'qa');
  process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  const direct = new Client({ connectionString: url });
  await direct.connect();
  const [row] = (await direct.query('SELECT count(*) AS n FROM employees')).rows;
  await direct.end();
  assert.equal(row.n, '501', 'the database kept running without the engine');
  e.ok('engine', 'start');
  assert.equal(await count(), 501);
  assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').state, 'running');
});

test('engine stop while a restore is half-way: no database starts behind it, and the next start finishes the restore', async () => {
  e.ok('container', 'create', 'stopper', '--template', 'employees');
  e.ok('bookmark', 'create', 'all rows', '--container', 'stopper');
  await e.sql('stopper', 'DELETE FROM employees');
  const { port } = e.ok<ConnectionInfo>('container', 'url', 'stopper');
  e.ok('engine', 'stop');
  // The restore waits 1.5 s between loading the data and starting the database; the
  // engine gives running operations only 0.3 s once told to stop, so the restore wakes
  // while the engine is stopping its databases and closing down.
  const started = e.cliWith({ SLIPSTREAM_STALL: 'load:before-start', SLIPSTREAM_STALL_MS: '1500', SLIPSTREAM_STOP_GRACE_MS: '300' }, 'engine', 'start');
  assert.equal(started.code, 0, started.stderr);
  const restore = spawn(process.execPath, [CLI, '--home', e.home, 'restore', 'all rows', '--container', 'stopper'], { stdio: 'ignore' });
  const restoreDone = new Promise<number | null>((resolve) => restore.on('exit', resolve));
  await until(() => fs.readFileSync(homeFiles(e.home).log, 'utf8').includes('fault point load:before-start: stalling'), 30_000);
  const stop = e.cli('engine', 'stop');
  assert.equal(stop.code, 0, stop.stderr);
  assert.notEqual(await restoreDone, 0, 'the restore did not finish: the engine stopped under it');
  await new Promise((r) => setTimeout(r, 4000)); // well past the stall: nothing may start the database now
  assert.equal(await portFree(port), true, `no database listens on ${port} after the engine stopped`);
  e.ok('engine', 'start');
  assert.equal(Number((await e.sql<{ n: string }>('stopper', 'SELECT count(*) AS n FROM employees'))[0].n), 500, 'the restore was finished on start');
  const last = e.ok<TimelinePage>('timeline', '--container', 'stopper').events[0];
  assert.equal(last?.kind, 'restored');
  e.ok('container', 'delete', 'stopper');
});

async function until(check: () => boolean, ms: number): Promise<void> {
  for (const deadline = Date.now() + ms; !check();) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

