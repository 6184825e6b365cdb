/**
 * The ways people copy a database today, on the same data, on the same file
 * system as the driver they are compared with, with the same PostgreSQL 18:
 * - floor:    one fast stop plus start of PostgreSQL (what any stop-based switch costs at least)
 * - createdb: CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY (Stellar's and DSLR's method)
 * - copy:     cp -a of the stopped data directory (coreutils >= 9 clones on btrfs/XFS: reported as such)
 * The floor and createdb runs follow the same untimed 1% change as Slipstream's
 * operations, so every side pays the same checkpoint of dirty pages.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { changeStatement, type ChangePattern } from './dataset';
import { exec, timed } from './exec';
import { PG18_BIN, PgCluster } from './pgCluster';
import type { Master } from './master';
import { allocatedBytes, type Site } from './sites';
import { repeat, type Summary } from './stats';

export interface PeerFigures {
  floor: Summary;
  createdb: Summary;
  copy: Summary;
  /** What cp -a did here: 'copied' or 'cloned (reflink)'. */
  copyMode: string;
}

export async function measurePeers(site: Site, master: Master, runs: number, pattern: ChangePattern,
  log: (s: string) => void): Promise<PeerFigures> {
  const ds = master.ds;
  const dir = path.join(site.dir, `peer-${ds.name}`);
  await fs.promises.mkdir(dir);
  await fs.promises.chmod(dir, 0o755);
  const data = path.join(dir, 'data');
  await exec('cp', ['-a', '--reflink=never', master.dataDir, data]); // untimed: a real, unshared copy to start from
  const pg = await PgCluster.at(PG18_BIN, data);
  await pg.start();
  const change = () => pg.sql([changeStatement(ds, pattern, 0)]);
  const floor = await repeat(runs, change, () => timed(async () => { await pg.stop(); await pg.start(); }));
  log(`    floor     median ${floor.median.toFixed(3)} s`);
  const createdb = await repeat(runs, change, (i) => timed(() =>
    pg.sql([`CREATE DATABASE copy_${i} TEMPLATE postgres STRATEGY FILE_COPY`], 'template1')));
  log(`    createdb  median ${createdb.median.toFixed(3)} s`);
  await pg.sql(Array.from({ length: runs }, (_, i) => `DROP DATABASE copy_${i}`), 'template1');
  await pg.stop();
  const { copy, copyMode } = await copies(site, data, runs);
  log(`    cp -a     median ${copy.median.toFixed(3)} s (${copyMode})`);
  await fs.promises.rm(dir, { recursive: true, force: true });
  return { floor, createdb, copy, copyMode };
}

async function copies(site: Site, data: string, runs: number): Promise<{ copy: Summary; copyMode: string }> {
  const target = `${data}-copy`;
  const copy = await repeat(runs, async () => undefined, async () => {
    const t = await timed(() => exec('cp', ['-a', data, target]));
    await fs.promises.rm(target, { recursive: true, force: true });
    return t;
  });
  // Once, untimed: did that copy take space, or share the extents?
  const before = await site.usedBytes(path.dirname(data));
  await exec('cp', ['-a', data, target]);
  const grew = (await site.usedBytes(path.dirname(data))) - before;
  await fs.promises.rm(target, { recursive: true, force: true });
  const size = await allocatedBytes(data);
  return { copy, copyMode: grew < size / 4 ? 'cloned (reflink)' : 'copied' };
}
