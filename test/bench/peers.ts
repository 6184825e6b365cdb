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
  /** TPC-B-like transactions per second without and with the engine's WAL archiving (issue 13). */
  archiving?: { off: number; on: number };
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
  const archiving = await archivingCost(pg, dir, ds.scale, log);
  await pg.stop();
  const { copy, copyMode } = await copies(site, data, runs);
  log(`    cp -a     median ${copy.median.toFixed(3)} s (${copyMode})`);
  await fs.promises.rm(dir, { recursive: true, force: true });
  return { floor, createdb, copy, copyMode, archiving };
}

/** The engine's WAL settings (walSettings.ts) on both sides; only archiving differs. */
const ENGINE_WAL = ['-c wal_compression=pglz', '-c summarize_wal=on', '-c wal_log_hints=on'];
const TPS_SECONDS = 20;

/**
 * What archiving every WAL segment costs a busy database: a TPC-B-like load (pgbench's default
 * transaction, from Node, 4 clients) without archiving and with the engine's (basic_archive into a
 * folder on the same file system), three times each, alternated and each after a checkpoint, so
 * the disk's mood weighs on both sides alike. The cluster is left running without archiving.
 */
async function archivingCost(pg: PgCluster, dir: string, scale: number, log: (s: string) => void): Promise<{ off: number; on: number }> {
  const archive = path.join(dir, 'wal-archive');
  await fs.promises.mkdir(archive);
  if (pg.owner) await fs.promises.chown(archive, pg.owner.uid, pg.owner.gid);
  const modes = { off: ENGINE_WAL, on: [...ENGINE_WAL, '-c archive_mode=on', '-c archive_library=basic_archive', `-c basic_archive.archive_directory=${archive}`] };
  const tps = { off: [] as number[], on: [] as number[] };
  for (const mode of ['off', 'on', 'off', 'on', 'off', 'on'] as const) {
    await pg.stop();
    await pg.start(modes[mode]);
    // Each run starts right after a checkpoint: the same burst of full-page images on both sides.
    await pg.sql(['CHECKPOINT']);
    tps[mode].push(await tpcb(pg, scale, TPS_SECONDS));
  }
  await pg.stop();
  await pg.start();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const result = { off: mean(tps.off), on: mean(tps.on) };
  log(`    archiving TPS ${result.off.toFixed(0)} without, ${result.on.toFixed(0)} with (${tps.off.map((x) => x.toFixed(0)).join('/')} vs ${tps.on.map((x) => x.toFixed(0)).join('/')})`);
  await fs.promises.rm(archive, { recursive: true, force: true });
  return result;
}

/** pgbench's TPC-B-like transaction, from 4 clients for `seconds`: transactions per second. */
async function tpcb(pg: PgCluster, scale: number, seconds: number): Promise<number> {
  const end = Date.now() + seconds * 1000;
  const rand = (n: number) => 1 + Math.floor(Math.random() * n);
  const client = async () => {
    const c = pg.connect();
    await c.connect();
    let done = 0;
    try {
      while (Date.now() < end) {
        const [aid, tid, bid, delta] = [rand(100000 * scale), rand(10 * scale), rand(scale), rand(10001) - 5001];
        await c.query('BEGIN');
        await c.query('UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2', [delta, aid]);
        await c.query('SELECT abalance FROM pgbench_accounts WHERE aid = $1', [aid]);
        await c.query('UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2', [delta, tid]);
        await c.query('UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2', [delta, bid]);
        await c.query('INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)', [tid, bid, aid, delta]);
        await c.query('COMMIT');
        done++;
      }
    } finally {
      await c.end();
    }
    return done;
  };
  const counts = await Promise.all([client(), client(), client(), client()]);
  return counts.reduce((a, b) => a + b, 0) / seconds;
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
