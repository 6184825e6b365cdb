import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConnectionInfo } from '../../server/protocol';
import { contiguousPieces } from '../../server/engine/volumes/compaction';
import { amcheck } from '../support/amcheck';
import { TestEngine } from '../support/engine';
import { mountLoopFs, type LoopFs } from '../support/loopfs';

/**
 * reflink snapshots are compacted in the background (server/engine/volumes/compaction.ts):
 * after a scattered change, a bookmark's large files lie in one extent per dirty run of
 * pages, and XFS clones them in time proportional to that. The engine rewrites them
 * contiguously, with the same bytes, so a restore or a branch from the bookmark clones a
 * few extents; a clustered change leaves files that keep sharing their blocks.
 */
const MiB = 1024 * 1024;

describe('compaction of reflink snapshots', async () => {
  const mount = await mountLoopFs('xfs', 2048);
  const filefrag = ['/usr/sbin/filefrag', '/sbin/filefrag'].find((p) => fs.existsSync(p));
  const skip = 'skip' in mount ? `reflink driver: ${mount.skip}` : !filefrag ? 'filefrag (e2fsprogs) is not installed' : undefined;
  if (skip) {
    test('compaction on reflink', (t) => { t.skip(skip); });
    return;
  }
  const fsMount = mount as LoopFs;
  const pool = `${fsMount.dir}/pool`;
  let e: TestEngine;
  let url: string;
  const snapshots = () => fs.readdirSync(path.join(pool, 'snapshots')).filter((n) => !n.startsWith('.'));
  const compacted = () => fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').split('\n').filter((l) => /: rewrote \d+ fragmented file/.test(l));
  /** The largest file of a snapshot's table `accounts`, and its contiguous pieces. */
  const largest = (snapshotId: string) => {
    const dir = path.join(pool, 'snapshots', snapshotId);
    const files = execFileSync('find', [dir, '-type', 'f', '-size', '+8M'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const sized = files.map((f) => ({ f, size: fs.statSync(f).size })).sort((a, b) => b.size - a.size);
    assert.ok(sized.length > 0, `snapshot ${snapshotId} has a file of over 8 MiB`);
    const { f, size } = sized[0];
    return { size, pieces: contiguousPieces(execFileSync(filefrag!, ['-v', f], { encoding: 'utf8', maxBuffer: 64 * MiB })) };
  };

  before(async () => {
    e = await TestEngine.start({ driver: 'reflink', pool });
    const sql = path.join(e.home, 'seed.sql');
    // ~36 MB of rows at fillfactor 100, as pgbench's accounts: an UPDATE moves each row to another
    // page. Large enough for compaction (files of 8 MiB and more); small enough for npm test.
    fs.writeFileSync(sql, `CREATE TABLE accounts (aid int PRIMARY KEY, abalance int, filler char(84)) WITH (fillfactor = 100);
      INSERT INTO accounts SELECT a, 0, '' FROM generate_series(1, 300000) a; VACUUM (FREEZE, ANALYZE);\n`);
    e.ok('template', 'create', 'acc', '--sql', sql);
    e.ok('container', 'create', 'qa', '--template', 'acc');
    url = e.ok<ConnectionInfo>('container', 'url', 'qa').url;
  });
  after(async () => {
    await e?.destroy();
    await fsMount.cleanup();
  });

  test('a bookmark after a scattered change is rewritten contiguously, and restores byte for byte', async () => {
    await e.sql('qa', 'UPDATE accounts SET abalance = abalance + 1 WHERE aid % 100 = 0');
    await e.idle();
    const before = new Set(snapshots());
    const before_ = compacted().length;
    e.ok('bookmark', 'create', 'scattered', '--container', 'qa');
    const sums = await e.checksum('qa');
    await e.idle();
    const made = snapshots().filter((s) => !before.has(s));
    assert.equal(made.length, 1, 'the bookmark made one snapshot');
    assert.equal(compacted().length, before_ + 1, `the engine log says the snapshot was compacted:\n${compacted().join('\n')}`);
    assert.match(compacted().at(-1)!, new RegExp(`snapshot ${made[0]}: rewrote`));
    const { size, pieces } = largest(made[0]);
    assert.ok(pieces * MiB <= size, `${pieces} contiguous pieces in a file of ${(size / MiB).toFixed(0)} MiB`);
    await e.sql('qa', 'DELETE FROM accounts WHERE aid % 3 = 0');
    e.ok('restore', 'scattered', '--container', 'qa');
    assert.deepEqual(await e.checksum('qa'), sums, 'the restored data is the bookmark\'s');
    const check = await amcheck(url);
    assert.deepEqual(check.problems, []);
    assert.ok(check.heaps > 0 && check.indexes > 0);
  });

  test('a bookmark after a clustered change keeps sharing its blocks', async () => {
    // A container of its own: qa's reads since its scattered change set hint bits on half its
    // pages, which is a scattered change too. The template was frozen, so reads dirty nothing.
    e.ok('container', 'create', 'batch', '--template', 'acc');
    await e.sql('batch', 'UPDATE accounts SET abalance = abalance + 1 WHERE aid BETWEEN 1000 AND 11000');
    await e.idle();
    const n = compacted().length;
    e.ok('bookmark', 'create', 'clustered', '--container', 'batch');
    await e.idle();
    assert.equal(compacted().length, n, `no file was rewritten:\n${compacted().slice(n).join('\n')}`);
    e.ok('container', 'delete', 'batch');
  });

  test('a bookmark deleted right after it is made (its compaction under way or queued) leaves no copy in the pool', async () => {
    await e.sql('qa', 'UPDATE accounts SET abalance = abalance + 1 WHERE aid % 100 = 1');
    await e.idle();
    e.ok('bookmark', 'create', 'short-lived', '--container', 'qa');
    e.ok('bookmark', 'delete', 'short-lived', '--container', 'qa');
    await e.idle();
    assert.deepEqual(fs.readdirSync(path.join(pool, 'tmp')), [], 'no compaction copy is left in the pool');
    const list = e.ok<Array<{ name: string }>>('bookmark', 'list', '--container', 'qa');
    assert.deepEqual(list.map((b) => b.name), ['scattered']);
  });

  test('kill -9 before a compacted file is renamed into place loses nothing (fault point compact:before-rename)', async () => {
    await e.sql('qa', 'UPDATE accounts SET abalance = abalance + 1 WHERE aid % 100 = 2');
    await e.idle();
    e.ok('engine', 'stop');
    const started = e.cliWith({ SLIPSTREAM_FAULT: 'compact:before-rename' }, 'engine', 'start');
    assert.equal(started.code, 0, started.stderr);
    const pid = (started.json as { pid: number }).pid;
    const sums = await e.checksum('qa');
    e.ok('bookmark', 'create', 'cut', '--container', 'qa'); // answered; the compaction behind it dies
    for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(pid), 'the engine died at compact:before-rename');
    e.ok('engine', 'start');
    assert.deepEqual(fs.readdirSync(path.join(pool, 'tmp')), [], 'the start removed the copy that was never renamed');
    await e.sql('qa', 'DELETE FROM accounts');
    e.ok('restore', 'cut', '--container', 'qa');
    assert.deepEqual(await e.checksum('qa'), sums, 'the bookmark restores to its data');
    assert.deepEqual((await amcheck(url)).problems, []);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
