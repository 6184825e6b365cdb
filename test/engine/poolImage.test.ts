/**
 * `engine start --pool-image SIZE` on this machine's own file system (ext4 in CI): a
 * root engine puts its pool on a loop-mounted btrfs (or XFS) image and gets the btrfs
 * (or reflink) driver. Story 1 and a second branch run on it with every table compared
 * by checksum; after a stop and an unmount (a reboot, as far as the pool knows) a start
 * without the flag mounts it again and the data is intact. Bad sizes, a non-root
 * start, a changed size and a plain-directory home are refused and change nothing.
 * Where this machine cannot loop-mount, the suite skips and says why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, test, type TestContext } from 'node:test';
import type { BranchInfo, ConnectionInfo, EngineStatus } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { CLI, FIXTURES, TestEngine } from '../support/engine';
import { mountLoopFs } from '../support/loopfs';

const USER = 'slipstream-noroot';

/** Why this machine cannot run the suite: the same checks as the drivers' loop images,
 *  and one real loop mount, since a container may be root without the right to mount. */
async function why(): Promise<string | false> {
  if (spawnSync('runuser', ['--help']).error) return 'runuser (util-linux) is missing';
  const probes: string[] = [];
  for (const kind of ['btrfs', 'xfs'] as const) {
    const probe = await mountLoopFs(kind, 128);
    if (!('skip' in probe)) {
      await probe.cleanup();
      return false;
    }
    probes.push(probe.skip);
  }
  return `this machine cannot loop-mount an image: ${probes.join('; ')}`;
}

let SKIP: string | false = 'not checked yet';
let base = '';
let e: TestEngine;
/** Every pool an image was mounted at, and the home its image is in: `after` unmounts them. */
const pools = new Map<string, string>();

before(async () => {
  SKIP = await why();
  if (SKIP) {
    process.stdout.write(`# poolImage: skipped: ${SKIP}\n`);
    return;
  }
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-poolimg-'));
  fs.chmodSync(base, 0o755);
  e = new TestEngine(path.join(base, 'home'));
});

after(() => {
  if (SKIP || !e) return;
  e.cli('engine', 'stop');
  for (const [pool, home] of pools) unmountImage(pool, home);
  fs.rmSync(base, { recursive: true, force: true });
  for (const pool of pools.keys()) if (pool.startsWith('/var/lib/slipstream/')) fs.rmSync(path.dirname(pool), { recursive: true, force: true });
});

/** The reason is only known once `before` has probed a real mount, after the tests were declared. */
function skipped(t: TestContext): boolean {
  if (SKIP) t.skip(SKIP);
  return Boolean(SKIP);
}

/** umount, then detach whatever loop device is still left on the image (autoclear usually does it). */
function unmountImage(pool: string, home = e.home): void {
  spawnSync('umount', [pool]);
  const img = path.join(home, 'pool.img');
  const dev = spawnSync('losetup', ['-j', img], { encoding: 'utf8' }).stdout.split(':')[0];
  if (dev) spawnSync('losetup', ['-d', dev]);
}

function mounted(pool: string): boolean {
  return spawnSync('mountpoint', ['-q', pool]).status === 0;
}

test('bad sizes are refused before anything is made', async (t) => {
  if (skipped(t)) return;
  for (const size of ['10X', '100M', '0G', 'abc', '1.5G', '99999T']) {
    const r = e.cli('engine', 'start', '--pool-image', size);
    assert.equal(r.code, 2, `--pool-image ${size}: ${r.stdout}${r.stderr}`);
    assert.match((r.json as { error: { message: string } }).error.message, /--pool-image must be/);
    assert.ok(!fs.existsSync(e.home), `--pool-image ${size} made no home`);
  }
});

test('a non-root start is refused with why, and makes nothing', async (t) => {
  if (skipped(t)) return;
  if (spawnSync('id', ['-u', USER]).status !== 0) {
    const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', USER], { encoding: 'utf8' });
    assert.equal(r.status, 0, `useradd: ${r.stderr}`);
  }
  const dir = path.join(base, 'noroot');
  fs.mkdirSync(dir);
  spawnSync('chown', [`${USER}:${USER}`, dir]);
  const home = path.join(dir, 'home');
  const r = spawnSync('runuser', ['-u', USER, '--', process.execPath, CLI, '--home', home, '--json', 'engine', 'start', '--pool-image', '1G'], {
    encoding: 'utf8', cwd: dir, env: { ...process.env, SLIPSTREAM_HOME: '', SLIPSTREAM_ENGINE: '', HOME: dir },
  });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const error = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'Unsupported');
  assert.match(error.message, /--pool-image needs a root engine: only root can loop-mount; without root the blocks driver is used/);
  assert.deepEqual(fs.readdirSync(dir), [], 'no home, no image');
});

test('a pool on an image: btrfs on ext4, story 1 and a second branch, intact after a remount', async (t) => {
  if (skipped(t)) return;
  e.ok('engine', 'start', '--pool-image', '1G');
  const st = e.ok<EngineStatus>('engine', 'status');
  pools.set(st.pool, e.home);
  const img = path.join(e.home, 'pool.img');
  assert.deepEqual({ ...st.poolImage, fs: undefined }, { file: img, bytes: 1024 ** 3, fs: undefined, mounted: true });
  assert.equal(st.driver, st.poolImage?.fs === 'btrfs' ? 'btrfs' : 'reflink');
  assert.ok(mounted(st.pool));
  const human = spawnSync(process.execPath, [CLI, '--home', e.home, 'engine', 'status'], { encoding: 'utf8' }).stdout;
  assert.match(human, new RegExp(`pool image +${img} \\((btrfs|xfs), 1 GiB, mounted at the pool\\)`));
  checkRootOnly(img, st.pool);

  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
  await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('-1', 'deleted'), ('''', '')`);
  const atBookmark = await e.checksum('qa');
  const bm = e.ok<{ id: string }>('bookmark', 'create', 'edge cases', '--container', 'qa');
  await e.sql('qa', 'DELETE FROM employees');
  const emptied = await e.checksum('qa');
  assert.notDeepEqual(emptied, atBookmark);

  e.ok<BranchInfo>('branch', 'create', 'bug', '--container', 'qa', '--from-bookmark', bm.id, '--activate');
  assert.deepEqual(await e.checksum('qa'), atBookmark, 'the new branch holds the bookmark');
  await e.sql('qa', `UPDATE employees SET last_name = 'on bug'`);
  const onBug = await e.checksum('qa');
  e.ok('branch', 'activate', 'main', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), emptied, 'main kept its own changes');
  e.ok('restore', 'edge cases', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), atBookmark, 'every row is back');
  await checkAmcheck();

  // A reboot, as far as the pool knows: the engine stops, the image is unmounted.
  e.ok('engine', 'stop');
  assert.ok(mounted(st.pool), 'engine stop leaves the image mounted');
  unmountImage(st.pool);
  assert.ok(!mounted(st.pool));

  // The image gone: a clear error naming the file, and nothing mounted or made.
  fs.renameSync(img, `${img}.away`);
  const missing = e.cli('engine', 'start');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`the pool image ${img} is missing`));
  assert.ok(!mounted(st.pool));
  fs.renameSync(`${img}.away`, img);

  e.ok('engine', 'start');
  const again = e.ok<EngineStatus>('engine', 'status');
  assert.equal(again.poolImage?.mounted, true, 'mounted again without the flag');
  assert.equal(again.driver, st.driver);
  assert.deepEqual(await e.checksum('qa'), atBookmark, 'main is intact after the remount');
  await checkAmcheck();
  e.ok('branch', 'activate', 'bug', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), onBug, 'the second branch is intact after the remount');

  // Starting an engine that already runs with the same size is not an error; another size is refused.
  e.ok('engine', 'stop');
  const other = e.cli('engine', 'start', '--pool-image', '2G');
  assert.equal(other.code, 1);
  assert.match(other.stderr, /cannot change to --pool-image 2G/);
  e.ok('engine', 'start', '--pool-image', '1G');
  assert.equal(e.ok<EngineStatus>('engine', 'status').poolImage?.mounted, true);
});

test('a home with a plain-directory pool is refused an image', async (t) => {
  if (skipped(t)) return;
  const plain = await TestEngine.start({ driver: 'blocks' });
  try {
    const pool = e.ok<EngineStatus>('engine', 'status').pool;
    plain.ok('engine', 'stop');
    const r = plain.cli('engine', 'start', '--pool-image', '1G');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is a plain directory, not on an image; it cannot move onto one/);
    assert.ok(!fs.existsSync(path.join(plain.home, 'pool.img')), 'no image made');
    assert.ok(mounted(pool), 'the other engine\'s image is untouched');
  } finally {
    await plain.destroy();
  }
});

/** The image and the pool are root's, and tenants cannot write to them; the mount is nodev,nosuid,noexec. */
function checkRootOnly(img: string, pool: string): void {
  const file = fs.statSync(img);
  assert.equal(file.uid, 0);
  assert.equal(file.mode & 0o077, 0, 'the image is 0600');
  const dir = fs.statSync(pool);
  assert.equal(dir.uid, 0);
  assert.equal(dir.mode & 0o022, 0, 'nobody but root writes to the pool');
  const opts = spawnSync('findmnt', ['-no', 'OPTIONS', pool], { encoding: 'utf8' }).stdout;
  for (const o of ['nodev', 'nosuid', 'noexec']) assert.ok(opts.split(',').includes(o), `${o} in ${opts}`);
}

async function checkAmcheck(): Promise<void> {
  const { url } = e.ok<ConnectionInfo>('container', 'url', 'qa');
  const check = await amcheck(url);
  assert.deepEqual(check.problems, []);
  assert.ok(check.heaps > 0 && check.indexes > 0);
}

test('an image made but never recorded (a first start that crashed): named when the flag is left out, adopted with it', async (t) => {
  if (skipped(t)) return;
  const crashed = new TestEngine(path.join(base, 'crashed'));
  try {
    crashed.ok('engine', 'start', '--pool-image', '1G');
    const pool = crashed.ok<EngineStatus>('engine', 'status').pool;
    pools.set(pool, crashed.home);
    crashed.ok('engine', 'stop');
    // What a crash between mkfs/mount and saving the settings leaves: an image (still
    // mounted) and a home with no settings.
    fs.rmSync(path.join(crashed.home, 'meta'), { recursive: true, force: true });
    const img = path.join(crashed.home, 'pool.img');
    const without = crashed.cli('engine', 'start');
    assert.equal(without.code, 1);
    assert.match(without.stderr, new RegExp(`${img} exists but this home has no record of it`));
    const other = crashed.cli('engine', 'start', '--pool-image', '2G');
    assert.equal(other.code, 1);
    assert.match(other.stderr, /exists with 1 GiB, not the 2 GiB asked for.*--pool-image 1G/);
    crashed.ok('engine', 'start', '--pool-image', '1G');
    const st = crashed.ok<EngineStatus>('engine', 'status');
    assert.equal(st.poolImage?.file, img);
    assert.equal(st.poolImage?.mounted, true);
  } finally {
    crashed.cli('engine', 'stop');
  }
});

test('kill -9 at the pool image\'s fault points: the image made but not mounted, and mounted before it was recorded; nothing lost', async (t) => {
  if (skipped(t)) return;
  const k = new TestEngine(path.join(base, 'killed'));
  try {
    const img = path.join(k.home, 'pool.img');
    const died = k.cliWith({ SLIPSTREAM_FAULT: 'pool-image:after-make' }, 'engine', 'start', '--pool-image', '1G');
    assert.notEqual(died.code, 0, `the engine should have died at pool-image:after-make: ${died.stdout}`);
    assert.ok(fs.lstatSync(img).isFile(), 'the image was made whole before the kill');
    k.ok('engine', 'start', '--pool-image', '1G');
    const st = k.ok<EngineStatus>('engine', 'status');
    pools.set(st.pool, k.home);
    assert.equal(st.poolImage?.mounted, true, 'the next start adopts the image and mounts it');
    assert.match(fs.readFileSync(path.join(k.home, 'engine.log'), 'utf8'), /was made by an earlier start that did not finish; using it/);

    k.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    k.ok('container', 'create', 'qa', '--template', 'employees');
    await k.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('before', 'the kill')`);
    const data = await k.checksum('qa');
    k.ok('engine', 'stop');
    unmountImage(st.pool, k.home);

    const again = k.cliWith({ SLIPSTREAM_FAULT: 'pool-image:after-mount' }, 'engine', 'start');
    assert.notEqual(again.code, 0, `the engine should have died at pool-image:after-mount: ${again.stdout}`);
    assert.ok(mounted(st.pool), 'killed with the image mounted');
    k.ok('engine', 'start');
    assert.equal(k.ok<EngineStatus>('engine', 'status').poolImage?.mounted, true);
    assert.deepEqual(await k.checksum('qa'), data, 'every table is as it was');
    const { url } = k.ok<ConnectionInfo>('container', 'url', 'qa');
    assert.deepEqual((await amcheck(url)).problems, []);
  } finally {
    k.cli('engine', 'stop');
  }
});
