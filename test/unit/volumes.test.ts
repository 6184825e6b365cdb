/**
 * Volume drivers against real files: one shared suite for every driver
 * (blocks on a temp dir; btrfs and reflink on loop-mounted btrfs and XFS
 * images, skipped with a printed reason where that is impossible), then the
 * blocks driver's own promises: O(delta) restores, dedup, garbage collection
 * and recovery from a crash before its state was saved.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { DriverName } from '../../server/protocol';
import { EngineError } from '../../server/engine/errors';
import { BlocksDriver, chunkRuns } from '../../server/engine/volumes/blocks';
import { CHUNK_SIZE, ChunkStore, chunkId, storedChunkIds } from '../../server/engine/volumes/blocks/chunkStore';
import type { FileOwner, VolumeDriver, VolumeProgress } from '../../server/engine/volumes/driver';
import { createDriver, probeDriver } from '../../server/engine/volumes/index';
import type { ListedEntry } from '../../server/engine/volumes/snapshotReader';
import { mountLoopFs } from '../support/loopfs';

const KiB = 1024;
const MiB = 1024 * KiB;

/** As root, volumes belong to an unprivileged user, as PostgreSQL's would. */
const OWNER: FileOwner | undefined = process.getuid?.() === 0 ? { uid: 4321, gid: 4321 } : undefined;

// ---------------------------------------------------------------- helpers

type Owned<D> = Omit<D, 'restore' | 'createVolume'> & {
  restore(volumeId: string, snapshotId: string, progress?: VolumeProgress): Promise<void>;
  createVolume(volumeId: string): Promise<void>;
};

/** The driver as the engine uses it for one container: every restore and create
 *  gives the volume to `owner`. */
function ownedBy<D extends VolumeDriver>(driver: D, owner: FileOwner | undefined): Owned<D> {
  return new Proxy(driver, {
    get(target, prop) {
      if (prop === 'restore') return (v: string, s: string, progress?: VolumeProgress) => target.restore(v, s, { owner, progress });
      if (prop === 'createVolume') return (v: string) => target.createVolume(v, owner);
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as Owned<D>;
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
function bytes(n: number, seed: number): Buffer {
  const key = createHash('sha256').update(`seed ${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Bytes as PostgreSQL fills pages: a few distinct ones each 8 KiB, then padding. They compress. */
function pagesLike(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n, ' ');
  for (let at = 0; at < n; at += 8 * KiB) bytes(64, seed * 1e6 + at).copy(out, at);
  return out;
}

/** mkdir -p, each new directory owned by the volume's owner. */
async function mkdirs(root: string, rel: string): Promise<void> {
  let cur = root;
  for (const part of rel.split('/').filter((x) => x && x !== '.')) {
    cur = path.join(cur, part);
    if (fs.existsSync(cur)) continue;
    await fs.promises.mkdir(cur, { mode: 0o700 });
    if (OWNER) await fs.promises.chown(cur, OWNER.uid, OWNER.gid);
  }
}

/** Write a file as PostgreSQL would: given mode, owned by the volume's owner. */
async function put(root: string, rel: string, data: Buffer | string, mode = 0o600): Promise<void> {
  const p = path.join(root, rel);
  await mkdirs(root, path.dirname(rel));
  await fs.promises.writeFile(p, data);
  await fs.promises.chmod(p, mode);
  if (OWNER) await fs.promises.chown(p, OWNER.uid, OWNER.gid);
}

async function mkdirOwned(root: string, rel: string, mode: number): Promise<void> {
  const p = path.join(root, rel);
  await mkdirs(root, rel);
  await fs.promises.chmod(p, mode);
  if (OWNER) await fs.promises.chown(p, OWNER.uid, OWNER.gid);
}

async function symlinkOwned(root: string, rel: string, target: string): Promise<void> {
  const p = path.join(root, rel);
  await fs.promises.symlink(target, p);
  if (OWNER) await fs.promises.lchown(p, OWNER.uid, OWNER.gid);
}

/** Every entry under `root` with its kind, mode and content hash (or link target). */
async function fingerprint(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fs.promises.readdir(path.join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(root, r);
      const st = await fs.promises.lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        await walk(r);
      } else if (st.isSymbolicLink()) {
        out[r] = `link -> ${await fs.promises.readlink(p)}`;
      } else {
        const sha = createHash('sha256').update(await fs.promises.readFile(p)).digest('hex');
        out[r] = `file ${mode} ${st.size} ${sha}`;
      }
    }
  };
  await walk('');
  return out;
}

/** The volume dir is 0700 and, with an owner, everything in it is the owner's. */
async function assertVolumeDir(root: string, owner = OWNER): Promise<void> {
  const st = await fs.promises.stat(root);
  assert.equal(st.mode & 0o777, 0o700, 'volume dir must be 0700');
  if (!owner) return;
  const check = async (p: string): Promise<void> => {
    const s = await fs.promises.lstat(p);
    assert.deepEqual([s.uid, s.gid], [owner.uid, owner.gid], `${p} must belong to the owner`);
    if (s.isDirectory()) for (const n of await fs.promises.readdir(p)) await check(path.join(p, n));
  };
  await check(root);
}

/** A small data directory with every awkward case the drivers must handle. */
async function populate(root: string): Promise<void> {
  await put(root, 'empty', '');
  await put(root, 'odd.bin', bytes(100_003, 1)); // not a chunk multiple
  await put(root, 'shrinks.bin', bytes(300 * KiB, 2));
  await put(root, 'grows.bin', bytes(10 * KiB, 3));
  await put(root, 'zeros.bin', Buffer.concat([Buffer.alloc(192 * KiB), Buffer.from('x')]));
  await put(root, 'base/1/16384', bytes(200 * KiB, 4));
  await put(root, 'base/1/deep/er/file', 'hello', 0o640);
  await put(root, 'global/pg_control', bytes(8 * KiB, 5));
  await mkdirOwned(root, 'conf', 0o750);
  await put(root, 'conf/x.conf', 'a = 1\n', 0o644);
  await mkdirOwned(root, 'pg_wal', 0o700); // an empty directory
  await symlinkOwned(root, 'link', 'base/1/16384');
}

/** Change everything in a different way: contents, sizes, types, modes, links. */
async function mutate(root: string, seed: number): Promise<void> {
  const j = (r: string) => path.join(root, r);
  await fs.promises.truncate(j('shrinks.bin'), 70 * KiB + 5);
  await fs.promises.appendFile(j('grows.bin'), bytes(500 * KiB, seed));
  const fh = await fs.promises.open(j('odd.bin'), 'r+');
  await fh.write(bytes(100, seed + 1), 0, 100, 70_000);
  await fh.close();
  const zh = await fs.promises.open(j('zeros.bin'), 'r+');
  await zh.write(Buffer.from(`seed ${seed}`), 0, undefined, 65 * KiB);
  await zh.close();
  await fs.promises.rm(j('base/1/deep'), { recursive: true });
  await fs.promises.writeFile(j('new.bin'), bytes(77 * KiB, seed + 2));
  await fs.promises.mkdir(j('newdir/sub'), { recursive: true });
  await fs.promises.writeFile(j('newdir/sub/f'), `made by ${seed}`);
  await fs.promises.rm(j('link'));
  await fs.promises.symlink('odd.bin', j('link'));
  await fs.promises.chmod(j('global/pg_control'), 0o644);
  await fs.promises.rm(j('empty'));
  await fs.promises.mkdir(j('empty')); // a file became a directory
  await fs.promises.rm(j('conf'), { recursive: true });
  await fs.promises.writeFile(j('conf'), 'now a file'); // a directory became a file
  await fs.promises.writeFile(j('pg_wal/000000010000000000000001'), bytes(16 * KiB, seed + 3));
  await chownTree(root); // PostgreSQL, running as the owner, would have made them its own
}

async function chownTree(p: string): Promise<void> {
  if (!OWNER) return;
  await fs.promises.lchown(p, OWNER.uid, OWNER.gid);
  if ((await fs.promises.lstat(p)).isDirectory()) {
    for (const n of await fs.promises.readdir(p)) await chownTree(path.join(p, n));
  }
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof EngineError && err.code === code);
}

/** Stall the driver at `point` (faults.ts) and run `swap` while it waits, as a tenant's
 *  program racing the engine would; resolves once the swap is done. */
function swapDuring(point: string, swap: () => Promise<void>): Promise<void> {
  process.env.SLIPSTREAM_STALL = point;
  process.env.SLIPSTREAM_STALL_MS = '1500';
  return new Promise((resolve, reject) => setTimeout(() => {
    delete process.env.SLIPSTREAM_STALL;
    swap().then(resolve, reject);
  }, 300));
}

/** Rename `rel` aside (to rel.real) and put a symlink to `target` in its place. */
async function swapForLink(root: string, rel: string, target: string): Promise<void> {
  await fs.promises.rename(path.join(root, rel), path.join(root, `${rel}.real`));
  await fs.promises.symlink(target, path.join(root, rel));
}

/** Does any file the engine made in the pool (not in volumes/, where the tenant writes)
 *  contain `needle`? The pools in these tests are small. */
async function poolHolds(pool: string, needle: string): Promise<boolean> {
  for (const e of await fs.promises.readdir(pool, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || path.relative(pool, e.parentPath ?? e.path).split(path.sep)[0] === 'volumes') continue;
    const data = await fs.promises.readFile(path.join(e.parentPath ?? e.path, e.name)).catch(() => Buffer.alloc(0));
    if (data.includes(needle)) return true;
  }
  return false;
}

// ---------------------------------------------------------------- pools

interface Pool {
  pool: string;
  cleanup(): Promise<void>;
}

async function tmpPool(): Promise<Pool> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'slipstream-vol-'));
  return { pool: path.join(dir, 'pool'), cleanup: () => fs.promises.rm(dir, { recursive: true, force: true }) };
}

async function loopPool(kind: 'btrfs' | 'xfs'): Promise<Pool | { skip: string }> {
  const m = await mountLoopFs(kind, 512);
  if ('skip' in m) return m;
  return { pool: path.join(m.dir, 'pool'), cleanup: m.cleanup };
}

const DRIVERS: Array<{ name: DriverName; where: string; setup: () => Promise<Pool | { skip: string }> }> = [
  { name: 'blocks', where: 'a temp dir', setup: tmpPool },
  { name: 'btrfs', where: 'a loop-mounted btrfs image', setup: () => loopPool('btrfs') },
  { name: 'reflink', where: 'a loop-mounted XFS image', setup: () => loopPool('xfs') },
];

// ---------------------------------------------------------------- the shared suite

async function sharedSuite(t: TestContext, name: DriverName, pool: string): Promise<void> {
  const raw = await createDriver(name, { pool });
  const driver = ownedBy(raw, OWNER);
  assert.equal(driver.name, name);
  const vol = (id: string) => driver.volumePath(id);
  let treeA: Record<string, string> = {};
  let treeB: Record<string, string> = {};

  await t.test('snapshot, change everything, restore: identical tree', async () => {
    await driver.createVolume('v1');
    await assertVolumeDir(vol('v1'));
    await populate(vol('v1'));
    treeA = await fingerprint(vol('v1'));
    await driver.snapshot('v1', 's-a');
    assert.equal(await driver.hasSnapshot('s-a'), true);
    await mutate(vol('v1'), 10);
    assert.notDeepEqual(await fingerprint(vol('v1')), treeA);
    await driver.restore('v1', 's-a');
    assert.deepEqual(await fingerprint(vol('v1')), treeA);
    await assertVolumeDir(vol('v1'));
  });

  await t.test('restore into a new volume is a private clone', async () => {
    await driver.restore('v2', 's-a');
    assert.deepEqual(await fingerprint(vol('v2')), treeA);
    await assertVolumeDir(vol('v2'));
    await mutate(vol('v2'), 20);
    assert.deepEqual(await fingerprint(vol('v1')), treeA, 'the source must not see the clone\'s changes');
    await fs.promises.writeFile(path.join(vol('v1'), 'odd.bin'), 'changed in v1');
    assert.equal(await fs.promises.readFile(path.join(vol('v2'), 'odd.bin'), 'utf8') === 'changed in v1', false);
    await driver.restore('v1', 's-a');
  });

  await t.test('switch back and forth between two snapshots', async () => {
    await driver.restore('v3', 's-a');
    await mutate(vol('v3'), 30);
    treeB = await fingerprint(vol('v3'));
    await driver.snapshot('v3', 's-b');
    for (const [snap, want] of [['s-a', treeA], ['s-b', treeB], ['s-a', treeA], ['s-b', treeB], ['s-b', treeB]] as const) {
      await driver.restore('v3', snap);
      assert.deepEqual(await fingerprint(vol('v3')), want, `after restoring ${snap}`);
    }
    await assertVolumeDir(vol('v3'));
  });

  await t.test("a snapshot loaded into another owner's volume becomes wholly that owner's", async (tt) => {
    if (!OWNER) return tt.skip('only root can give files to another user');
    const other = { uid: OWNER.uid + 1, gid: OWNER.gid + 1 };
    await raw.restore('v7', 's-b', { owner: other }); // a clone of another container's bookmark
    assert.deepEqual(await fingerprint(vol('v7')), treeB);
    await assertVolumeDir(vol('v7'), other);
    await raw.restore('v7', 's-a', { owner: other }); // restoring over a volume of its own
    await assertVolumeDir(vol('v7'), other);
    await raw.snapshot('v7', 's-other');
    await driver.restore('v3', 's-other'); // and back into the first owner's volume
    assert.deepEqual(await fingerprint(vol('v3')), treeA);
    await assertVolumeDir(vol('v3'));
    await raw.deleteVolume('v7');
  });

  await t.test('deleteSnapshot of an unused snapshot keeps the others whole', async () => {
    await mutate(vol('v1'), 40);
    await driver.snapshot('v1', 's-unused');
    await driver.deleteSnapshot('s-unused');
    assert.equal(await driver.hasSnapshot('s-unused'), false);
    await driver.deleteSnapshot('s-unused'); // missing: a no-op
    await driver.restore('v1', 's-a');
    assert.deepEqual(await fingerprint(vol('v1')), treeA);
    await driver.restore('v4', 's-b');
    assert.deepEqual(await fingerprint(vol('v4')), treeB);
  });

  await t.test('a restore interrupted half-way and run again ends correct', async () => {
    await driver.restore('v5', 's-a');
    await mutate(vol('v5'), 50);
    // The progress callback throwing is how an abort mid-way looks to a driver.
    let calls = 0;
    const boom = () => { calls++; throw new Error('simulated crash'); };
    await assert.rejects(driver.restore('v5', 's-b', boom), /simulated crash/);
    assert.ok(calls > 0, 'restore must report progress');
    // Crash leftovers, then an engine restart (a new driver on the same pool).
    await fs.promises.writeFile(path.join(pool, 'tmp', 'leftover'), 'x');
    const again = ownedBy(await createDriver(name, { pool }), OWNER);
    assert.deepEqual(await fs.promises.readdir(path.join(pool, 'tmp')), []);
    await again.restore('v5', 's-b');
    assert.deepEqual(await fingerprint(vol('v5')), treeB);
    // The crash between "delete the old volume" and "put the new one in".
    await again.deleteVolume('v5');
    await again.restore('v5', 's-a');
    assert.deepEqual(await fingerprint(vol('v5')), treeA);
    await assertVolumeDir(vol('v5'));
  });

  // What a tenant's program does while the engine works in its volume (issue 10, finding 1):
  // swap a file for a symlink to a root-only file between the driver's scan and its open.
  if (name !== 'btrfs') {
    const outside = path.join(pool, '..', 'root-only-secret');
    const secret = `secret ${Math.random()}`;
    await fs.promises.writeFile(outside, secret, { mode: 0o600 });

    await t.test('a file swapped for a symlink after the scan is not read into a snapshot', async () => {
      await driver.restore('v8', 's-a');
      await fs.promises.appendFile(path.join(vol('v8'), 'odd.bin'), 'changed since the snapshot');
      const swapped = swapDuring('volume:after-scan', () => swapForLink(vol('v8'), 'odd.bin', outside));
      await assert.rejects(driver.snapshot('v8', 's-swap'), (err: unknown) => err instanceof EngineError
        && err.code === 'VolumeFailed' && /odd\.bin became a symlink/.test(err.message));
      await swapped;
      assert.equal(await driver.hasSnapshot('s-swap'), false);
      assert.equal(await poolHolds(pool, secret), false, 'the root-only file\'s content is nowhere in the pool');
      await fs.promises.rm(path.join(vol('v8'), 'odd.bin'));
      await fs.promises.rename(path.join(vol('v8'), 'odd.bin.real'), path.join(vol('v8'), 'odd.bin'));
    });

    await t.test('a hard link to a file outside the volume is refused, not read', async () => {
      await fs.promises.link(outside, path.join(vol('v8'), 'hardlink'));
      await assert.rejects(driver.snapshot('v8', 's-hard'), (err: unknown) => err instanceof EngineError
        && err.code === 'VolumeFailed' && /hardlink has another hard link/.test(err.message));
      assert.equal(await poolHolds(pool, secret), false);
      await fs.promises.rm(path.join(vol('v8'), 'hardlink'));
    });
  }
  if (name === 'blocks') {
    await t.test('a file swapped for a symlink before a restore writes is not written through', async () => {
      const canary = path.join(pool, '..', 'root-only-canary');
      await fs.promises.writeFile(canary, 'canary', { mode: 0o600 });
      await mutate(vol('v8'), 60);
      const swapped = swapDuring('volume:before-write', () => swapForLink(vol('v8'), 'odd.bin', canary));
      await assert.rejects(driver.restore('v8', 's-a'), (err: unknown) => err instanceof EngineError
        && err.code === 'VolumeFailed' && /odd\.bin became a symlink/.test(err.message));
      await swapped;
      assert.equal(await fs.promises.readFile(canary, 'utf8'), 'canary', 'the file behind the link is untouched');
      assert.equal((await fs.promises.stat(canary)).uid, process.getuid?.(), 'and still its owner\'s');
      await driver.restore('v8', 's-a'); // run again (nothing swaps now): the link is replaced by the real file
      assert.deepEqual(await fingerprint(vol('v8')), treeA);
      await assertVolumeDir(vol('v8'));
    });
  }

  await t.test('empty volumes, deletes and bad input', async () => {
    await driver.createVolume('v6');
    await driver.createVolume('v6'); // re-run after a crash: still empty, accepted
    await driver.snapshot('v6', 's-empty');
    await put(vol('v6'), 'x/y', 'data');
    await rejectsWith(driver.createVolume('v6'), 'VolumeFailed');
    await driver.restore('v6', 's-empty');
    assert.deepEqual(await fs.promises.readdir(vol('v6')), []);
    await driver.deleteVolume('v6');
    await driver.deleteVolume('v6');
    assert.equal(fs.existsSync(vol('v6')), false);
    await rejectsWith(driver.restore('v1', 'no-such-snapshot'), 'NotFound');
    await rejectsWith(driver.snapshot('no-such-volume', 's-x'), 'NotFound');
    await rejectsWith(driver.snapshot('v1', 's-a'), 'VolumeFailed');
    await rejectsWith(driver.restore('../escape', 's-a'), 'InvalidArgument');
    await rejectsWith(driver.snapshot('v1', '.hidden'), 'InvalidArgument');
    assert.equal(await driver.hasSnapshot('s-a'), true);
    assert.ok((await driver.diskUsage()) > 0);
  });
}

for (const d of DRIVERS) {
  test(`${d.name} driver on ${d.where}`, async (t) => {
    const env = await d.setup();
    if ('skip' in env) {
      t.diagnostic(`${d.name} skipped: ${env.skip}`);
      t.skip(env.skip);
      return;
    }
    try {
      if (d.name !== 'blocks') assert.equal((await probeDriver(env.pool)).driver, d.name, 'probe must pick this driver here');
      await sharedSuite(t, d.name, env.pool);
    } finally {
      await env.cleanup();
    }
  });
}

// ---------------------------------------------------------------- driver choice

test('probe and explicit choice on a file system without clones', async (t) => {
  const env = await tmpPool();
  try {
    const probe = await probeDriver(env.pool);
    if (probe.driver !== 'blocks') {
      t.skip(`${os.tmpdir()} can clone files (${probe.reason}); this test needs one that cannot, like ext4`);
      return;
    }
    assert.match(probe.reason, /cannot clone/);
    await rejectsWith(createDriver('btrfs', { pool: env.pool }), 'InvalidArgument');
    await assert.rejects(createDriver('btrfs', { pool: env.pool }), /needs the pool on a btrfs file system.*auto/);
    await rejectsWith(createDriver('reflink', { pool: env.pool }), 'InvalidArgument');
    assert.equal((await createDriver('auto', { pool: env.pool })).name, 'blocks');
  } finally {
    await env.cleanup();
  }
});

// ---------------------------------------------------------------- blocks only

/** Chunks the pool's store holds, as its pack indexes (and any loose chunk files) say. */
async function chunkFiles(pool: string): Promise<number> {
  return (await storedChunkIds(path.join(pool, 'chunks'))).size;
}

/** Age a file's times so it can never look "racy" (see StateStore.load). */
async function age(p: string): Promise<void> {
  const past = new Date(Date.now() - 3600_000);
  await fs.promises.utimes(p, past, past);
}

test('blocks: restore and snapshot cost follows the delta', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  const big = path.join(driver.volumePath('big'), 'base/1/big');
  await driver.createVolume('big');
  await put(driver.volumePath('big'), 'base/1/big', bytes(64 * MiB, 7));
  await put(driver.volumePath('big'), 'other', bytes(16 * MiB, 8));
  await age(big);
  await age(path.join(driver.volumePath('big'), 'other'));
  const original = createHash('sha256').update(await fs.promises.readFile(big)).digest('hex');
  await driver.snapshot('big', 'b1');

  // Change one 8 KiB page inside one chunk.
  const fh = await fs.promises.open(big, 'r+');
  await fh.write(bytes(8 * KiB, 9), 0, 8 * KiB, 40 * MiB + 8 * KiB);
  await fh.close();

  driver.resetStats();
  await driver.snapshot('big', 'b2');
  assert.equal(driver.stats.chunksWritten, 1, 'a snapshot stores only the changed chunk');
  assert.equal(driver.stats.bytesHashed, 64 * MiB, 'only the changed file is read, not the unchanged 16 MiB one');

  driver.resetStats();
  await driver.restore('big', 'b1');
  assert.equal(driver.stats.volumeBytesWritten, CHUNK_SIZE, 'restore rewrites one chunk, not 64 MiB');
  assert.equal(driver.stats.chunksWritten, 0);
  assert.equal(driver.stats.bytesHashed, 0, 'the state from the snapshot says nothing changed: nothing is read');
  assert.equal(createHash('sha256').update(await fs.promises.readFile(big)).digest('hex'), original);

  // The same page changed again without a snapshot: the stat mismatch makes
  // restore rehash that file, and still only one chunk is written.
  const fh2 = await fs.promises.open(big, 'r+');
  await fh2.write(bytes(8 * KiB, 10), 0, 8 * KiB, 40 * MiB + 8 * KiB);
  await fh2.close();
  driver.resetStats();
  await driver.restore('big', 'b2');
  assert.equal(driver.stats.volumeBytesWritten, CHUNK_SIZE);
  assert.equal(driver.stats.bytesHashed, 64 * MiB, 'the changed file is rehashed, the other is not');

  // A clone of the big volume: the file is written, but nothing new is stored.
  driver.resetStats();
  await driver.restore('big-clone', 'b1');
  assert.equal(driver.stats.chunksWritten, 0);
  assert.equal(createHash('sha256').update(await fs.promises.readFile(path.join(driver.volumePath('big-clone'), 'base/1/big'))).digest('hex'), original);
});

test('blocks: identical content is stored once, zeros not at all', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('d');
  const v = driver.volumePath('d');
  const content = bytes(1 * MiB, 11);
  await put(v, 'a.bin', content);
  await put(v, 'b.bin', content);
  await put(v, 'sub/c.bin', content.subarray(0, 512 * KiB)); // the first 8 chunks of a.bin
  await put(v, 'zero.bin', Buffer.alloc(1 * MiB));
  await driver.snapshot('d', 'd1');
  assert.equal(await chunkFiles(env.pool), 16, '1 MiB of distinct data = 16 chunks of 64 KiB');
  assert.equal(driver.stats.chunksWritten, 16);

  // Another volume with the same data, snapshotted: nothing new is stored.
  await driver.restore('d2', 'd1');
  await fs.promises.rm(path.join(env.pool, 'volstate', 'd2.json')); // force a full re-read
  driver.resetStats();
  await driver.snapshot('d2', 'd2s');
  assert.equal(driver.stats.chunksWritten, 0);
  assert.equal(driver.stats.bytesHashed, 3 * MiB + 512 * KiB);
  assert.equal(await chunkFiles(env.pool), 16);
});

test('blocks: garbage collection keeps what manifests and volume states use', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('g');
  const v = driver.volumePath('g');
  await put(v, 'shared', pagesLike(128 * KiB, 20)); // compressed in the store: the sweep moves them, compressed again
  await put(v, 'unique', bytes(256 * KiB, 21));
  await age(path.join(v, 'shared'));
  await age(path.join(v, 'unique'));
  await driver.snapshot('g', 'g1');
  assert.equal(await chunkFiles(env.pool), 6);

  // No manifest needs the chunks now, but the volume state does: the next
  // snapshot reuses its chunk lists without reading the files.
  await driver.deleteSnapshot('g1');
  assert.equal(await chunkFiles(env.pool), 6);
  driver.resetStats();
  await driver.snapshot('g', 'g2');
  assert.equal(driver.stats.bytesHashed, 0);
  await driver.restore('g-clone', 'g2');
  assert.deepEqual(await fingerprint(driver.volumePath('g-clone')), await fingerprint(v));

  // Once neither a manifest nor a volume needs "unique", its 4 chunks go.
  await fs.promises.rm(path.join(v, 'unique'));
  await driver.snapshot('g', 'g3');
  await driver.deleteSnapshot('g2');
  await driver.deleteVolume('g-clone');
  assert.equal(await chunkFiles(env.pool), 2);
  await driver.restore('g-check', 'g3');
  assert.deepEqual(await fingerprint(driver.volumePath('g-check')), await fingerprint(v));
});

test('blocks: a crash after the data but before the state converges on re-run', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('c');
  const v = driver.volumePath('c');
  await populate(v);
  const treeA = await fingerprint(v);
  await driver.snapshot('c', 'c1');
  await mutate(v, 60);
  const treeB = await fingerprint(v);
  await driver.snapshot('c', 'c2');

  // Restore c1 completes on disk, but "crash" before its state is saved:
  // the state on disk is still the one describing c2.
  const stateFile = path.join(env.pool, 'volstate', 'c.json');
  const stale = await fs.promises.readFile(stateFile);
  await driver.restore('c', 'c1');
  await fs.promises.writeFile(stateFile, stale);
  await driver.restore('c', 'c2');
  assert.deepEqual(await fingerprint(v), treeB);
  await driver.restore('c', 'c1');
  assert.deepEqual(await fingerprint(v), treeA);

  // A damaged state only costs a rehash.
  await fs.promises.writeFile(stateFile, '{ not json');
  await driver.restore('c', 'c2');
  assert.deepEqual(await fingerprint(v), treeB);
  await assertVolumeDir(v);
});

test('blocks: a full disk is a NoSpace error', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a small tmpfs');
    return;
  }
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'slipstream-full-'));
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
  } catch (err) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs: ${(err as Error).message}`);
    return;
  }
  try {
    const driver = ownedBy(new BlocksDriver({ pool: path.join(dir, "pool") }), OWNER);
    await driver.init();
    await driver.createVolume('full');
    await put(driver.volumePath('full'), 'data', bytes(2 * MiB, 30));
    // The chunk store needs another 2 MiB that the 3 MiB disk does not have.
    await rejectsWith(driver.snapshot('full', 'f1'), 'NoSpace');
    assert.equal(await driver.hasSnapshot('f1'), false, 'a failed snapshot leaves no manifest');
  } finally {
    execFileSync('umount', [dir]);
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
});

test('blocks: a capture is one pack; a crash before its index leaves nothing, a torn index record is ignored', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('p');
  const v = driver.volumePath('p');
  await put(v, 'a.bin', bytes(1 * MiB, 40));
  await driver.snapshot('p', 'p1');
  const packs = path.join(env.pool, 'chunks', 'packs');
  const names = () => fs.promises.readdir(packs).then((l) => l.sort());
  assert.equal((await names()).length, 2, `one pack and its index: ${await names()}`);
  const [idx] = (await names()).filter((n) => n.endsWith('.idx'));
  // What a crash leaves: a pack no index names, and half a record appended to an index.
  await fs.promises.writeFile(path.join(packs, 'zzz-crashed.pack'), bytes(256 * KiB, 41));
  await fs.promises.appendFile(path.join(packs, idx), bytes(20, 42));
  const again = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await again.init();
  assert.deepEqual(await names(), [idx.replace('.idx', '.pack'), idx].sort(), 'the unnamed pack is gone');
  await again.restore('p-copy', 'p1');
  assert.deepEqual(await fingerprint(again.volumePath('p-copy')), await fingerprint(v));
  assert.equal(await chunkFiles(env.pool), 16);
});

test('blocks: a capture bigger than a pack write restores byte for byte; stale chunks are read in runs', async (t) => {
  assert.deepEqual(chunkRuns(new Set([7, 0, 1, 2, 5, 3, 40, 41]), 41, 3),
    [{ first: 0, count: 3 }, { first: 3, count: 1 }, { first: 5, count: 1 }, { first: 7, count: 1 }, { first: 40, count: 1 }]);
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('w');
  const v = driver.volumePath('w');
  // 9 MiB of distinct chunks and 3 MiB more in another file: the pack is written in several
  // buffers, from two files at once, and a chunk both files hold is stored once.
  const shared = bytes(64 * KiB, 47);
  await put(v, 'base/1/a', Buffer.concat([bytes(9 * MiB, 46), shared]));
  await put(v, 'base/1/b', Buffer.concat([shared, bytes(3 * MiB, 48)]));
  await driver.snapshot('w', 'w1');
  await driver.restore('w-copy', 'w1');
  assert.deepEqual(await fingerprint(driver.volumePath('w-copy')), await fingerprint(v));
  assert.equal(await chunkFiles(env.pool), (9 + 3) * 16 + 1, 'every distinct chunk once');
});

test('blocks: chunks that compress are stored compressed, restore byte for byte, and a damaged one fails loudly', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('z');
  const v = driver.volumePath('z');
  await put(v, 'base/1/pages', pagesLike(2 * MiB, 50));
  await driver.snapshot('z', 'z1');
  const packs = path.join(env.pool, 'chunks', 'packs');
  const [pack] = (await fs.promises.readdir(packs)).filter((n) => n.endsWith('.pack'));
  const stored = (await fs.promises.stat(path.join(packs, pack))).size;
  assert.ok(stored < (2 * MiB) / 4, `${stored} bytes stored for 2 MiB of pages`);
  await driver.restore('z-copy', 'z1');
  assert.deepEqual(await fingerprint(driver.volumePath('z-copy')), await fingerprint(v));
  const fh = await fs.promises.open(path.join(packs, pack), 'r+');
  await fh.write(Buffer.from('x'), 0, 1, 30); // inside the first chunk: every one is compressed
  await fh.close();
  await assert.rejects(driver.restore('z-again', 'z1'), /chunk [0-9a-f]{64} in the chunk store is damaged/);
});

test('blocks: a pack that cannot be written fails its capture, and nothing else', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const store = new ChunkStore(path.join(env.pool, 'store'));
  await store.init();
  await fs.promises.rm(store.packsDir, { recursive: true }); // every pack write fails
  const batch = store.batch();
  // 60 KiB chunks that do not compress: one put overflows the 4 MiB buffer and does not wait.
  const put60 = async (i: number) => { const d = bytes(60 * KiB, 60 + i); await batch.put(chunkId(d), d); };
  const failed = (async () => {
    for (let i = 0; i < 80; i++) await put60(i);
    await new Promise((r) => setTimeout(r, 50));
    await batch.seal();
  })();
  await assert.rejects(failed, /ENOENT/);
  await batch.abandon();
});

test('blocks: a damaged pack fails the restore loudly instead of restoring wrong data', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('d');
  await put(driver.volumePath('d'), 'a.bin', bytes(512 * KiB, 43));
  await driver.snapshot('d', 'd1');
  const packs = path.join(env.pool, 'chunks', 'packs');
  const [pack] = (await fs.promises.readdir(packs)).filter((n) => n.endsWith('.pack'));
  const fh = await fs.promises.open(path.join(packs, pack), 'r+');
  await fh.write(Buffer.from('x'), 0, 1, 200 * KiB);
  await fh.close();
  await assert.rejects(driver.restore('d-copy', 'd1'), /chunk [0-9a-f]{64} in the chunk store is damaged/);
});

test('blocks: snapshotLast takes big files into the store as they are; the snapshot restores byte for byte', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const driver = ownedBy(new BlocksDriver({ pool: env.pool }), OWNER);
  await driver.init();
  await driver.createVolume('build');
  const v = driver.volumePath('build');
  const big = Buffer.concat([bytes(9 * MiB, 44), Buffer.alloc(1 * MiB), bytes(2 * MiB, 44)]); // zeros and a repeat inside
  await put(v, 'base/1/16384', big);
  await put(v, 'base/1/small', bytes(100 * KiB, 45));
  const want = await fingerprint(v);
  await driver.snapshotLast('build', 'tpl');
  assert.equal(driver.stats.bytesAdopted, big.length, 'the big file was taken, not copied');
  assert.ok(driver.stats.chunkBytesWritten <= 100 * KiB, `only the small file was copied: ${driver.stats.chunkBytesWritten} bytes`);
  const packs = path.join(env.pool, 'chunks', 'packs');
  const taken = (await fs.promises.readdir(packs)).filter((n) => n.endsWith('.pack'));
  const modes = await Promise.all(taken.map((n) => fs.promises.stat(path.join(packs, n)).then((st) => st.mode & 0o777)));
  assert.ok(modes.includes(0o400), `the taken file is read-only in the store: ${modes.map((m) => m.toString(8))}`);
  await driver.deleteVolume('build');
  await driver.restore('copy', 'tpl');
  assert.deepEqual(await fingerprint(driver.volumePath('copy')), want);
  // Deleting the snapshot frees the taken file with it.
  await driver.deleteVolume('copy');
  await driver.deleteSnapshot('tpl');
  assert.deepEqual(await fs.promises.readdir(packs), []);
});

/** A snapshot's files as a remote's list gives them (ids unread, from the manifest), and each chunk's bytes. */
async function listOf(driver: Pick<VolumeDriver, 'readSnapshot'>, snapshotId: string): Promise<{ listed: ListedEntry[]; chunks: Map<string, Buffer> }> {
  const chunks = new Map<string, Buffer>();
  const listed = await driver.readSnapshot(snapshotId, async (r) => {
    const out: ListedEntry[] = [];
    for (const e of r.entries) {
      if (e.type !== 'file') { out.push(e); continue; }
      const ids = [...r.ids!(e)];
      for (const [i, id] of ids.entries()) if (!chunks.has(id)) chunks.set(id, await r.readChunk(e.path, i));
      out.push({ ...e, chunks: ids });
    }
    return out;
  });
  return { listed, chunks };
}

test('blocks: importSnapshot makes a snapshot from a list, asking only for the chunks the pool lacks; a failed fill leaves nothing', async (t) => {
  const env = await tmpPool();
  t.after(() => env.cleanup());
  const there = ownedBy(new BlocksDriver({ pool: path.join(env.pool, 'there') }), OWNER);
  const here = ownedBy(new BlocksDriver({ pool: path.join(env.pool, 'here') }), OWNER);
  await there.init();
  await here.init();
  await there.createVolume('v');
  await populate(there.volumePath('v'));
  await put(there.volumePath('v'), 'base/1/big', Buffer.concat([bytes(1 * MiB, 46), Buffer.alloc(256 * KiB), bytes(64 * KiB, 46)]));
  await there.snapshot('v', 'one');
  const one = await listOf(there, 'one');
  const asked: string[] = [];
  const fill = (chunks: Map<string, Buffer>) => async (ids: readonly string[], put: (id: string, raw: Buffer) => Promise<void>) => {
    asked.push(...ids);
    for (const id of ids) await put(id, chunks.get(id)!);
  };
  await here.importSnapshot('one', one.listed, fill(one.chunks));
  assert.deepEqual(new Set(asked), new Set([...one.chunks.keys()].filter((id) => id !== '0')), 'every stored chunk once, zeros never');
  assert.equal(asked.length, new Set(asked).size);
  await here.restore('copy', 'one');
  assert.deepEqual(await fingerprint(here.volumePath('copy')), await fingerprint(there.volumePath('v')));

  // After a change to one chunk, only that chunk is asked for.
  const fh = await fs.promises.open(path.join(there.volumePath('v'), 'base/1/big'), 'r+');
  await fh.write(bytes(8 * KiB, 47), 0, 8 * KiB, 3 * CHUNK_SIZE);
  await fh.close();
  await there.snapshot('v', 'two');
  const two = await listOf(there, 'two');
  asked.length = 0;
  await here.importSnapshot('two', two.listed, fill(two.chunks));
  assert.equal(asked.length, 1);
  await here.restore('copy', 'two');
  assert.deepEqual(await fingerprint(here.volumePath('copy')), await fingerprint(there.volumePath('v')));

  // A fill that fails, or leaves a chunk out, leaves no snapshot and no pack.
  await put(there.volumePath('v'), 'base/1/new', bytes(300 * KiB, 48));
  await there.snapshot('v', 'three');
  const three = await listOf(there, 'three');
  const packs = path.join(env.pool, 'here', 'chunks', 'packs');
  const before = (await fs.promises.readdir(packs)).sort();
  await assert.rejects(here.importSnapshot('three', three.listed, async (ids, put) => {
    await put(ids[0], three.chunks.get(ids[0])!);
    throw new Error('the remote went away');
  }), /the remote went away/);
  await assert.rejects(here.importSnapshot('three', three.listed, async (ids, put) => put(ids[0], three.chunks.get(ids[0])!)),
    /chunks of snapshot three never came/);
  assert.equal(await here.hasSnapshot('three'), false);
  assert.deepEqual((await fs.promises.readdir(packs)).sort(), before);
});
