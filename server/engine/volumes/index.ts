/**
 * Choosing a volume driver for a pool: probe what the pool's file system can
 * do, or check that the user's explicit choice can work there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DriverChoice, DriverName } from '../../protocol';
import { findSystemTool } from '../../common/executables';
import { EngineError } from '../errors';
import { BlocksDriver } from './blocks';
import { BtrfsDriver } from './btrfs';
import type { DriverOptions, VolumeDriver } from './driver';
import { ReflinkDriver } from './reflink';
import { guard, tmpSuffix } from './util';

export { BlocksDriver, BtrfsDriver, ReflinkDriver };
export type { DriverOptions, VolumeDriver } from './driver';

const BTRFS_MAGIC = 0x9123683e;

/** statfs magic numbers, only to name the file system in messages. */
const FS_NAMES: Record<number, string> = {
  [BTRFS_MAGIC]: 'btrfs',
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0xca451a4e: 'bcachefs',
  0x6969: 'nfs',
  0x5346544e: 'ntfs',
  0x65735546: 'fuse',
  0x01021997: 'v9fs',
};

interface PoolFacts {
  fsType: number;
  fsName: string;
  isRoot: boolean;
  btrfsTool: boolean;
  /** undefined when FICLONE works, else why not. */
  reflinkError: string | undefined;
}

function poolFacts(pool: string): Promise<PoolFacts> {
  return guard(`inspecting the volume pool ${pool}`, () => readPoolFacts(pool));
}

async function readPoolFacts(pool: string): Promise<PoolFacts> {
  await fs.promises.mkdir(pool, { recursive: true, mode: 0o711 });
  const fsType = (await fs.promises.statfs(pool)).type >>> 0;
  return {
    fsType,
    fsName: FS_NAMES[fsType] ?? `type 0x${fsType.toString(16)}`,
    isRoot: process.getuid?.() === 0,
    btrfsTool: findSystemTool('btrfs') !== undefined,
    reflinkError: await probeReflink(pool),
  };
}

/** Clone a small test file inside the pool; FICLONE either works or fails
 *  at once (EOPNOTSUPP/ENOTSUP on ext4, EXDEV across mounts). */
async function probeReflink(pool: string): Promise<string | undefined> {
  const src = path.join(pool, `.reflink-probe-${tmpSuffix()}`);
  const dst = `${src}.clone`;
  try {
    await fs.promises.writeFile(src, Buffer.alloc(4096, 1));
    await fs.promises.copyFile(src, dst, fs.constants.COPYFILE_FICLONE_FORCE);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  } finally {
    await fs.promises.rm(src, { force: true });
    await fs.promises.rm(dst, { force: true });
  }
}

function pick(f: PoolFacts): { driver: DriverName; reason: string } {
  if (f.fsType === BTRFS_MAGIC && f.isRoot && f.btrfsTool) {
    return { driver: 'btrfs', reason: 'the pool is on btrfs and the engine runs as root: O(1) atomic subvolume snapshots' };
  }
  const notBtrfs = f.fsType !== BTRFS_MAGIC ? `the pool is on ${f.fsName}`
    : !f.isRoot ? 'the pool is on btrfs but the engine is not root (subvolume deletion needs root)'
      : 'the pool is on btrfs but the btrfs tool (btrfs-progs) is missing';
  if (f.reflinkError === undefined) {
    return { driver: 'reflink', reason: `${notBtrfs}, which supports reflink file clones` };
  }
  return { driver: 'blocks', reason: `${notBtrfs}, which cannot clone files (${f.reflinkError}): using the chunk store` };
}

/** The best driver for a pool, and why (shown to the user). */
export async function probeDriver(pool: string): Promise<{ driver: DriverName; reason: string }> {
  return pick(await poolFacts(path.resolve(pool)));
}

/** Why an explicit choice cannot work on this pool, or undefined when it can. */
function refusal(choice: DriverName, f: PoolFacts, pool: string): string | undefined {
  const instead = `or choose the "auto" driver (it would pick "${pick(f).driver}")`;
  if (choice === 'btrfs') {
    if (f.fsType !== BTRFS_MAGIC) return `the btrfs driver needs the pool on a btrfs file system, but ${pool} is on ${f.fsName}. Move the pool to a btrfs file system, ${instead}.`;
    if (!f.isRoot) return `the btrfs driver needs the engine to run as root (to delete subvolumes). Run the engine as root, ${instead}.`;
    if (!f.btrfsTool) return `the btrfs driver needs the btrfs tool. Install btrfs-progs, ${instead}.`;
  }
  if (choice === 'reflink' && f.reflinkError !== undefined) {
    return `the reflink driver needs a file system that can clone files (XFS with reflink, btrfs, APFS, ZFS 2.2+, bcachefs), but cloning a file in ${pool} (${f.fsName}) failed with ${f.reflinkError}. Move the pool, ${instead}.`;
  }
  return undefined;
}

/** Make, check and initialise the driver for `choice` ('auto' probes). */
export async function createDriver(choice: DriverChoice, opts: DriverOptions): Promise<VolumeDriver> {
  const pool = path.resolve(opts.pool);
  let name: DriverName;
  if (choice === 'auto') {
    name = (await probeDriver(pool)).driver;
  } else if (choice === 'btrfs' || choice === 'reflink' || choice === 'blocks') {
    const why = refusal(choice, await poolFacts(pool), pool);
    if (why) throw new EngineError('InvalidArgument', why);
    name = choice;
  } else {
    throw new EngineError('InvalidArgument', `unknown volume driver ${JSON.stringify(choice)}: use auto, btrfs, reflink or blocks`);
  }
  const driver = name === 'btrfs' ? new BtrfsDriver({ ...opts, pool })
    : name === 'reflink' ? new ReflinkDriver({ ...opts, pool })
      : new BlocksDriver({ ...opts, pool });
  await driver.init();
  return driver;
}
