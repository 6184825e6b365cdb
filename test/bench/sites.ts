/**
 * Where each volume driver runs: blocks on the ordinary file system (ext4
 * here), btrfs and reflink (XFS) on loop-mounted images sized for the
 * datasets. The peers run on the same file system as the driver they are
 * compared with, since cp -a and CREATE DATABASE behave differently on each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountLoopFs } from '../support/loopfs';
import { onCleanup } from './cleanup';
import { exec } from './exec';
import { traversable } from './pgCluster';
import { reapPostgresUnder } from './reaper';

export type DriverName = 'blocks' | 'btrfs' | 'reflink';

export interface Site {
  driver: DriverName;
  fsType: string;
  /** A directory on that file system, traversable by the PostgreSQL user. */
  dir: string;
  /** Bytes really used under `dir` (shared extents counted once), after a sync. */
  usedBytes(dir: string): Promise<number>;
  release(): Promise<void>;
}

export type SiteOrSkip = Site | { driver: DriverName; skip: string };

export async function openSite(driver: DriverName, workDir: string, imageMiB: number): Promise<SiteOrSkip> {
  if (driver === 'blocks') return blocksSite(workDir);
  const kind = driver === 'btrfs' ? 'btrfs' : 'xfs';
  const mount = await mountLoopFs(kind, imageMiB);
  if ('skip' in mount) return { driver, skip: mount.skip };
  const release = onCleanup(`unmount the ${kind} loop image`, async () => {
    await reap(mount.dir);
    await mount.cleanup();
  });
  const dir = path.join(mount.dir, 'bench');
  await fs.promises.mkdir(dir);
  await traversable(dir);
  // On a file system of its own, the used-block count is exact and counts shared extents once.
  return { driver, fsType: kind, dir, usedBytes: () => fsUsed(mount.dir), release };
}

async function blocksSite(workDir: string): Promise<Site> {
  const dir = path.join(workDir, 'blocks');
  await fs.promises.mkdir(dir);
  await traversable(dir);
  const fsType = (await exec('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir])).trim();
  // The root file system is shared with other work: count our own files instead.
  const release = onCleanup(`remove ${dir}`, async () => {
    await reap(dir);
    await fs.promises.rm(dir, { recursive: true, force: true });
  });
  return { driver: 'blocks', fsType, dir, usedBytes: allocatedBytes, release };
}

async function reap(dir: string): Promise<void> {
  const n = await reapPostgresUnder(dir);
  if (n) process.stderr.write(`cleanup: stopped ${n} PostgreSQL server(s) still running under ${dir}\n`);
}

async function fsUsed(dir: string): Promise<number> {
  await exec('sync', ['-f', dir]);
  const st = await fs.promises.statfs(dir);
  return (st.blocks - st.bfree) * st.bsize;
}

/** Allocated bytes of a tree, each inode once (the blocks driver's chunks are not shared by the file system). */
export async function allocatedBytes(dir: string): Promise<number> {
  await exec('sync', ['-f', dir]);
  const seen = new Set<number>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.promises.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = await fs.promises.lstat(p);
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
      total += st.blocks * 512;
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}
