import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { BookmarkInfo, BranchInfo, ContainerInfo, TimelinePage } from '../../server/protocol';
import { homeFiles } from '../../server/common/home';
import { Store } from '../../server/engine/store';
import { createDriver } from '../../server/engine/volumes';
import { FIXTURES, TestEngine } from '../support/engine';

// The upgrade gives each branch one volume; a spare built in the background at start would
// race the counts below.
process.env.SLIPSTREAM_SPARES = 'off';

/**
 * A home made by engine 0.1 kept one working volume per container and each inactive
 * branch's data only as a snapshot (its head). This test drives a real engine, stops
 * it, and rewrites the home into that shape with the engine's own store and driver:
 * the container gets the active branch's volume, every inactive branch's volume is
 * snapshotted and deleted. One container also gets a 0.1 restore cut by a crash (its
 * journal entry, its volume not yet loaded). The next engine start must upgrade the
 * home, keep every branch's data, and switch and restore as usual.
 */
let e: TestEngine;
const sums: Record<string, Record<string, string>> = {};

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
  await e.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('-1', 'deleted'), ('''''', '')`);
  e.ok('branch', 'create', 'other', '--container', 'qa', '--from-branch', 'main', '--activate');
  await e.sql('qa', 'DELETE FROM employees WHERE id % 2 = 0');
  e.ok('bookmark', 'create', 'other half', '--container', 'qa');
  sums.other = await e.checksum('qa');
  e.ok('branch', 'activate', 'main', '--container', 'qa');
  sums.main = await e.checksum('qa');
  e.ok('container', 'create', 'mid', '--template', 'employees');
  e.ok('bookmark', 'create', 'mid all', '--container', 'mid');
  sums.midAll = await e.checksum('mid');
  await e.sql('mid', 'DELETE FROM employees');
  e.ok('engine', 'stop');
  await makeOld(e.home);
});
after(async () => e?.destroy());

/** Rewrite the stopped engine's home into the shape engine 0.1 left. */
async function makeOld(home: string): Promise<void> {
  const store = new Store(homeFiles(home).meta);
  const driver = await createDriver('blocks', { pool: poolOf(home) });
  try {
    for (const c of store.allContainers()) {
      const volumeId = store.branch(c.activeBranchId)!.volumeId;
      for (const b of store.branchesOf(c.id)) {
        const old: Record<string, unknown> = { ...b, headSnapshotId: b.baseSnapshotId };
        delete old.volumeId;
        if (b.id !== c.activeBranchId) {
          old.headSnapshotId = `snap_old${b.id.slice(3)}`;
          await driver.snapshot(b.volumeId, String(old.headSnapshotId));
          await driver.deleteVolume(b.volumeId);
          store.tx(() => store.putCapture(String(old.headSnapshotId), c.id)); // 0.1 recorded its captures too
        }
        store.tx(() => store.putBranch(old as never));
      }
      store.tx(() => store.putContainer({ ...c, volumeId } as never));
    }
    const mid = store.allContainers().find((c) => c.name === 'mid')!;
    const bm = store.allBookmarks().find((b) => b.name === 'mid all')!;
    store.tx(() => store.putJournalEntry({
      id: 'op_old0restore', op: 'restore', startedAt: new Date().toISOString(), step: 'begin',
      data: { containerId: mid.id, branchId: mid.activeBranchId, snapshotId: bm.snapshotId, event: 'restored', bookmarkId: bm.id, bookmarkName: bm.name },
    }));
  } finally {
    await store.close();
  }
}

function poolOf(home: string): string {
  const m = /: pool (\S+), /.exec(fs.readFileSync(homeFiles(home).log, 'utf8'));
  if (!m) throw new Error('no pool in the engine log');
  return m[1];
}

const volumesOnDisk = (home: string) => fs.readdirSync(path.join(poolOf(home), 'volumes')).length;
const branchCount = () => e.ok<ContainerInfo[]>('container', 'list')
  .reduce((n, c) => n + e.ok<BranchInfo[]>('branch', 'list', '--container', c.name).length, 0);

test('an 0.1 home: each branch gets its volume at start, and keeps its data', async () => {
  e.ok('engine', 'start');
  assert.match(fs.readFileSync(homeFiles(e.home).log, 'utf8'), /giving each branch its own volume/);
  assert.deepEqual(await e.checksum('qa'), sums.main, 'the active branch kept the container\'s volume');
  e.ok('branch', 'activate', 'other', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), sums.other, 'the inactive branch was made from its head');
  e.ok('branch', 'activate', 'main', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), sums.main);
  assert.equal(volumesOnDisk(e.home), branchCount(), 'one volume per branch, the 0.1 heads turned into volumes');
});

test('an 0.1 restore cut by a crash finishes during the upgrade', async () => {
  assert.deepEqual(await e.checksum('mid'), sums.midAll);
  const last = e.ok<TimelinePage>('timeline', '--container', 'mid').events[0];
  assert.deepEqual([last?.kind, last?.user], ['restored', 'engine (recovery)']);
  assert.equal(e.ok<ContainerInfo>('container', 'show', 'mid').state, 'running');
});

test('after the upgrade: restore, reset and a second start work as on a new home', async () => {
  e.ok('restore', 'other half', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), sums.other, 'a bookmark restores into the upgraded branch');
  await e.sql('qa', 'DELETE FROM employees');
  e.ok('reset', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), sums.other);
  e.ok('engine', 'stop');
  e.ok('engine', 'start');
  assert.ok(e.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'other half'));
  assert.deepEqual(await e.checksum('qa'), sums.other, 'a second start changes nothing');
  e.ok('branch', 'activate', 'other', '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), sums.other);
  assert.equal(volumesOnDisk(e.home), branchCount(), 'no volume left behind');
});
