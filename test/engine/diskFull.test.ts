import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import type { BookmarkInfo, BranchInfo, ContainerInfo } from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';
import { mountTmpfs, whyNoTmpfs, type LoopFs } from '../support/loopfs';

/**
 * The pool on a small file system (a tmpfs with a size limit) with almost no room
 * left: the bookmark fails cleanly with NoSpace, nothing changes (bookmarks,
 * branches, data), the database still runs; once space is freed, the same bookmark
 * works and restores to its data. A snapshot of a running database is refused
 * before it starts (data.ts, checkRoom): its checkpoint would need WAL room, and
 * PostgreSQL stops with a PANIC when it has none.
 */
const SIZE_MIB = 400;
const ROOM_MIB = 4;

describe('disk full during a snapshot', () => {
  const skip = whyNoTmpfs();
  if (skip) {
    test('a bookmark on a full pool fails with NoSpace and changes nothing', (t) => { t.skip(skip); });
    return;
  }
  let tmpfs: LoopFs | undefined;
  let mnt: string;
  let e: TestEngine;
  let filler: string;

  before(async () => {
    tmpfs = mountTmpfs(SIZE_MIB);
    mnt = tmpfs.dir;
    filler = path.join(mnt, 'filler');
    e = await TestEngine.start({ driver: 'blocks', pool: path.join(mnt, 'pool') });
    e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
    e.ok('container', 'create', 'qa', '--template', 'employees');
    e.ok('bookmark', 'create', 'before', '--container', 'qa');
    e.ok('branch', 'create', 'side', '--container', 'qa', '--from-template');
  });
  after(async () => {
    await e?.destroy();
    await tmpfs?.cleanup();
  });

  /** An order-independent digest of every row of every user table; unlike a sorted md5 it
   *  needs no temporary files, so it runs on a full disk. */
  const digest = async (): Promise<string> => {
    const tables = await e.sql<{ t: string }>('qa', `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables
       WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`);
    const parts: string[] = [];
    for (const { t } of tables) {
      const [r] = await e.sql<{ n: string; h: string }>('qa', `SELECT count(*) AS n, coalesce(sum(hashtext(x::text)::bigint), 0) AS h FROM ${t} x`);
      parts.push(`${t}=${r.n}:${r.h}`);
    }
    return parts.join(' ');
  };

  const freeMiB = () => {
    const s = fs.statfsSync(mnt);
    return (s.bavail * s.bsize) / 1048576;
  };

  /** Fill the file system with one big file, leaving `room` MiB free. */
  function fill(room: number): void {
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(1024 * 1024, 0xa5);
    try {
      while (freeMiB() > room + 1) fs.writeSync(fd, chunk);
      fs.fsyncSync(fd);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      fs.closeSync(fd);
    }
  }

  test('a bookmark on a full pool fails with NoSpace and changes nothing; after freeing space it works', async () => {
    // ~30 MB of new rows: the snapshot must store them as new chunks.
    await e.sql('qa', `CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS pad FROM generate_series(1, 300000) g`);
    await e.sql('qa', 'CHECKPOINT');
    const data = await digest();
    const state = () => JSON.stringify({
      m: e.ok<BookmarkInfo[]>('bookmark', 'list').map((b) => [b.id, b.name]),
      b: e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').map((b) => [b.name, b.active]),
      c: e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.port, c.state, c.activeBranch]),
    });
    const before = state();
    console.log(`pool: ${SIZE_MIB} MiB tmpfs, ${freeMiB().toFixed(0)} MiB free before filling`);
    fill(ROOM_MIB);
    console.log(`filled: ${freeMiB().toFixed(1)} MiB left`);

    const t0 = Date.now();
    const full = e.cli('bookmark', 'create', 'when full', '--container', 'qa');
    const err = (full.json as { error?: { code: string; message: string } })?.error;
    console.log(`bookmark on a full pool: exit ${full.code}, ${err?.code} after ${Date.now() - t0} ms: ${err?.message}`);
    assert.equal(full.code, 1, 'the bookmark failed');
    assert.match(err?.message ?? '', /space/i);
    // The code is checked last, so the rest of the story still runs and reports.
    assert.equal(state(), before, 'no bookmark, branch or container changed');
    assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').state, 'running');
    assert.equal(await digest(), data, 'the database still runs, with its data');
    // Other operations that need space fail cleanly too, and change nothing.
    const r = e.cli('branch', 'create', 'full-capture', '--container', 'qa', '--from-branch', 'main');
    console.log(`branch capture on a full pool: exit ${r.code} ${(r.json as { error?: { code: string } })?.error?.code ?? 'ok'}`);
    const captureCode = (r.json as { error?: { code: string } })?.error?.code;
    if (r.code === 0) e.ok('branch', 'delete', 'full-capture', '--container', 'qa');
    assert.equal(state(), before);
    assert.equal(await digest(), data);

    fs.rmSync(filler);
    console.log(`freed: ${freeMiB().toFixed(0)} MiB free`);
    const bm = e.ok<BookmarkInfo>('bookmark', 'create', 'when full', '--container', 'qa');
    await e.sql('qa', 'DROP TABLE big');
    e.ok('restore', bm.id, '--container', 'qa');
    assert.equal(await digest(), data, 'the bookmark made after freeing space holds the data');
    e.ok('restore', 'before', '--container', 'qa');
    assert.ok(!(await e.sql<{ t: string }>('qa', `SELECT tablename AS t FROM pg_tables WHERE tablename = 'big'`)).length, 'the older bookmark is intact too');
    console.log('disk full: data lost = 0');
    assert.equal(err?.code, 'NoSpace', 'a full disk during a bookmark is reported as NoSpace');
    if (r.code !== 0) assert.equal(captureCode, 'NoSpace', 'a full disk during a branch capture is reported as NoSpace');
  });
});
