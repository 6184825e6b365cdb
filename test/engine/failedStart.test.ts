import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import type { ContainerInfo, EngineStatus } from '../../server/protocol';
import { CLI, FIXTURES, TestEngine } from '../support/engine';
import { mountTmpfs, whyNoTmpfs, type LoopFs } from '../support/loopfs';

/**
 * A database that cannot start is reported as failed, with the reason and what
 * to do, in `container list`/`show` (human and --json) and `engine status`;
 * the next `engine start` retries it and says what happened. Two deterministic
 * causes: the container's port taken by another program (runs everywhere), and
 * a pool with no byte left (needs root for a size-limited tmpfs).
 */

/** The human output (no --json) of the real CLI. */
function human(e: TestEngine, ...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, '--home', e.home, ...args], {
    encoding: 'utf8', timeout: 300_000, env: { ...process.env, SLIPSTREAM_HOME: '' },
  });
  assert.equal(r.status, 0, `slipstream ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const show = (e: TestEngine, name: string) => e.ok<ContainerInfo>('container', 'show', name);
const listed = (e: TestEngine, name: string) => e.ok<ContainerInfo[]>('container', 'list').find((c) => c.name === name)!;

/** Assert that `name` is reported as failed for `reason` everywhere a user looks. */
function assertFailed(e: TestEngine, name: string, reason: RegExp): void {
  const c = listed(e, name);
  assert.equal(c.state, 'failed', `container list --json says ${c.state}`);
  assert.match(c.failure?.reason ?? '', reason);
  assert.match(c.failure?.action ?? '', /container start/);
  assert.equal(show(e, name).state, 'failed');
  const st = e.ok<EngineStatus>('engine', 'status');
  assert.deepEqual(st.failed.map((f) => f.container), [name], 'engine status lists the failed container');
  assert.match(human(e, 'container', 'list'), new RegExp(`${name}.*failed`));
  assert.match(human(e, 'container', 'show', name), /state\s+failed: /);
  assert.match(human(e, 'engine', 'status'), new RegExp(`failed\\s+1: ${name}`));
}

describe('a database that cannot start: port taken', () => {
  let e: TestEngine;
  let port: number;
  let sums: Record<string, string>;

  before(async () => {
    e = await TestEngine.start();
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    port = e.ok<ContainerInfo>('container', 'create', 'qa', '--template', 'employees').port;
    sums = await e.checksum('qa');
  });
  after(async () => e?.destroy());

  test('runtime files live in the engine home, not on the pool; old ones on the pool are removed', () => {
    const c = show(e, 'qa');
    const pool = e.ok<EngineStatus>('engine', 'status').pool;
    assert.ok(fs.existsSync(path.join(e.home, 'run', c.id, 'postgres.log')), 'HOME/run/<container> holds the runtime files');
    assert.ok(!fs.existsSync(path.join(pool, 'run')), 'nothing runtime on the pool');
    e.ok('engine', 'stop');
    fs.mkdirSync(path.join(pool, 'run', c.id), { recursive: true });
    fs.writeFileSync(path.join(pool, 'run', c.id, 'postgres.log'), 'left by an older engine\n');
    e.ok('engine', 'start');
    assert.ok(!fs.existsSync(path.join(pool, 'run')), 'the old runtime folder on the pool is gone');
    assert.equal(show(e, 'qa').state, 'running');
  });

  test('a taken port: failed with the reason everywhere; engine start retries and brings it back', async () => {
    e.ok('engine', 'stop');
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const started = e.ok<EngineStatus>('engine', 'start');
      assertFailed(e, 'qa', new RegExp(`port ${port} is taken`));
      const qa = started.startup.find((s) => s.container === 'qa');
      assert.equal(qa?.result, 'failed', 'engine start says the database did not start');
      assert.match(fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8'), /qa.*did not start.*port .* is taken/);
      // Still taken: the retry says so again.
      e.ok('engine', 'stop');
      const again = human(e, 'engine', 'start');
      assert.match(again, /still failed.*qa.*port .* is taken/s);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    e.ok('engine', 'stop');
    const back = e.ok<EngineStatus>('engine', 'start');
    assert.deepEqual(back.startup.find((s) => s.container === 'qa'), { container: 'qa', owner: back.user, result: 'started', wasFailed: true });
    assert.deepEqual(back.failed, []);
    assert.equal(listed(e, 'qa').state, 'running');
    assert.equal(listed(e, 'qa').failure, undefined);
    assert.deepEqual(await e.checksum('qa'), sums, 'the data is intact');
  });

  test('a database killed behind the engine is not reported as running; container start brings it back', async (t) => {
    const [{ pid }] = await e.sql<{ pid: string }>('qa', `SELECT split_part(pg_read_file('postmaster.pid'), E'\\n', 1) AS pid`);
    process.kill(Number(pid), 'SIGKILL');
    for (let i = 0; i < 50 && listed(e, 'qa').state === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    // Where PID 1 does not reap, the killed postmaster stays a zombie, and its socket lock
    // names a pid that kill(pid, 0) still finds. A live process of the container's user stands in for it.
    const qa = listed(e, 'qa');
    const lock = path.join(e.home, 'run', qa.id, 'socket', `.s.PGSQL.${qa.port}.lock`);
    assert.ok(fs.existsSync(lock), `the killed postmaster left ${lock}`);
    const { uid, gid } = fs.statSync(path.dirname(lock));
    const standIn = spawn('sleep', ['60'], { uid, gid, stdio: 'ignore' });
    t.after(() => standIn.kill('SIGKILL'));
    fs.writeFileSync(lock, `${standIn.pid}\n`);
    assertFailed(e, 'qa', /not running/);
    const c = e.ok<ContainerInfo>('container', 'start', 'qa');
    assert.equal(c.state, 'running');
    assert.deepEqual(await e.checksum('qa'), sums);
  });
});

describe('a database that cannot start: the pool is full', () => {
  const skip = whyNoTmpfs();
  if (skip) {
    test('a full pool: the database shows as failed, and comes back once there is space', (t) => { t.skip(skip); });
    return;
  }
  let tmpfs: LoopFs | undefined;
  let mnt: string;
  let e: TestEngine;

  before(async () => {
    tmpfs = mountTmpfs(300);
    mnt = tmpfs.dir;
    e = await TestEngine.start({ driver: 'blocks', pool: path.join(mnt, 'pool') });
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    e.ok('container', 'create', 'qa', '--template', 'employees');
  });
  after(async () => {
    await e?.destroy();
    await tmpfs?.cleanup();
  });

  /** Fill the file system to the last byte (again, when `file` exists). */
  function fillUp(file: string): void {
    const fd = fs.openSync(file, 'a');
    try {
      for (const size of [1 << 20, 4096, 1]) {
        const chunk = Buffer.alloc(size, 0xa5);
        try {
          for (;;) fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  test('a full pool: the database shows as failed, and comes back once there is space', async () => {
    const sums = await e.checksum('qa');
    // A spare still being built would fail on the full pool and free its copy, and that
    // room, not the fill, would decide what the bookmark meets. Fill a quiet pool.
    await e.idle();
    const filler = path.join(mnt, 'filler');
    fillUp(filler);
    // A bookmark on blocks stops the database for a clean snapshot; with no byte left the
    // snapshot fails. Its rollback deletes the chunks it wrote, so whether the database can
    // start again depends on how much that frees: either answer is fine, a wrong one is not.
    const r = e.cli('bookmark', 'create', 'when full', '--container', 'qa');
    assert.equal(r.code, 1, 'the bookmark failed');
    assert.match((r.json as { error: { message: string } }).error.message, /no space left/i);
    const after = listed(e, 'qa');
    if (after.state === 'failed') assertFailed(e, 'qa', /no space left on the pool/);
    else assert.deepEqual(await e.checksum('qa'), sums, `container list says ${after.state}, and the database answers`);

    // Full when the database must start (it cannot write postmaster.pid): failed, and the
    // retry at engine start fails again and says so.
    e.ok('engine', 'stop');
    fillUp(filler); // whatever the stop freed
    const still = e.ok<EngineStatus>('engine', 'start');
    const qa = still.startup.find((s) => s.container === 'qa');
    assert.equal(qa?.result, 'failed');
    assert.equal(qa?.wasFailed, after.state === 'failed', 'the start knows whether it was failed before');
    assert.match(qa?.reason ?? '', /no space left/);
    assertFailed(e, 'qa', /no space left/);

    fs.rmSync(filler);
    e.ok('engine', 'stop');
    const out = human(e, 'engine', 'start');
    assert.match(out, /came back.*qa/s, out);
    assert.equal(listed(e, 'qa').state, 'running');
    assert.deepEqual(e.ok<EngineStatus>('engine', 'status').failed, []);
    assert.deepEqual(await e.checksum('qa'), sums, 'the data is intact');
  });
});
