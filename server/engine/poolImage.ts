/**
 * A root engine's pool on a loop-mounted image (`engine start --pool-image SIZE`):
 * a sparse file in the engine's home with btrfs (or XFS with reflink) on it,
 * mounted at the pool before the driver probe, so that `--driver auto` finds
 * copy-on-write on a machine whose own file system (ext4) has none.
 *
 * The first start makes the image and the home's settings record it; every later
 * start mounts it again when it is not mounted (after a reboot). The engine never
 * unmounts it: `engine stop` stops every database, and a mount left in place costs
 * nothing and survives an engine crash with its databases still running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PoolImageStatus } from '../protocol';
import { findSystemTool } from '../common/executables';
import { formatImageSize, parsePoolImageSize, POOL_IMAGE_NEEDS_ROOT } from '../common/poolImage';
import { log } from './engine';
import { EngineError } from './errors';
import { faultPoint } from './faults';
import { run, syncDir, tmpSuffix } from './volumes/util';

/** What the home's settings keep about its image. */
export interface PoolImage {
  file: string;
  bytes: number;
  fs: 'btrfs' | 'xfs';
}

/** What runEngine knows when it opens the pool. */
export interface PoolImageRequest {
  home: string;
  pool: string;
  /** --pool-image as given, if it was. */
  wanted?: string;
  /** The image the home's settings record, if any. */
  saved?: PoolImage;
  /** No settings yet: this is the home's first start (or a first start that crashed). */
  newHome: boolean;
}

const FS_MAGIC: Record<number, PoolImage['fs']> = { 0x9123683e: 'btrfs', 0x58465342: 'xfs' };

/** The image file's one place: in the home, which only the engine's owner (root) can enter. */
export function poolImageFile(home: string): string {
  return path.join(home, 'pool.img');
}

/** Mount the pool's image when the home has one (or is asked for one); undefined when the
 *  pool is a plain directory. Throws with what to do when the request cannot be met. */
export async function openPoolImage(req: PoolImageRequest): Promise<PoolImage | undefined> {
  if (req.saved) {
    if (req.wanted !== undefined) checkSameSize(req.saved, req.wanted);
    return mountImage(req.saved.file, req.pool);
  }
  const file = poolImageFile(req.home);
  if (!req.newHome) {
    if (req.wanted !== undefined) {
      throw new EngineError('InvalidArgument', `this home's pool ${req.pool} is a plain directory, not on an image; it cannot move onto one. Leave out --pool-image, or use another --home.`);
    }
    return undefined;
  }
  if (req.wanted === undefined) {
    if (imageSize(file) !== undefined) {
      throw new EngineError('InvalidArgument', `${file} exists but this home has no record of it (a first start with --pool-image that was interrupted?). Start again with --pool-image SIZE to use it, or remove the file.`);
    }
    return undefined;
  }
  return firstStart(file, req.pool, wantedBytes(req.wanted));
}

function wantedBytes(wanted: string): number {
  const size = parsePoolImageSize(wanted);
  if ('error' in size) throw new EngineError('InvalidArgument', size.error);
  return size.bytes;
}

function checkSameSize(saved: PoolImage, wanted: string): void {
  if (wantedBytes(wanted) === saved.bytes) return;
  throw new EngineError('InvalidArgument', `this home's pool is on ${saved.file} (${formatImageSize(saved.bytes)}); it cannot change to --pool-image ${wanted}. Leave out --pool-image, or use another --home.`);
}

/** Make the image (or adopt one a crashed first start made whole), then mount it. */
async function firstStart(file: string, pool: string, bytes: number): Promise<PoolImage> {
  requireRoot();
  await removeTempImages(file);
  const found = imageSize(file);
  if (found === undefined) {
    await makeImage(file, bytes);
    await faultPoint('pool-image:after-make');
  } else if (found !== bytes) {
    throw new EngineError('InvalidArgument', `${file} exists with ${formatImageSize(found)}, not the ${formatImageSize(bytes)} asked for, and this home has no record of it. Start with --pool-image ${formatImageSize(found).replace(/ (.)iB$/, '$1')} to use it, or remove the file.`);
  } else {
    log(`pool image: ${file} was made by an earlier start that did not finish; using it`);
  }
  return mountImage(file, pool);
}

/** The image's size, or undefined when there is none. Never through a symlink: `mount`
 *  would loop-mount whatever a link named, so anything but a regular file is refused. */
function imageSize(file: string): number | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!st.isFile()) throw new EngineError('InvalidArgument', `${file} is not a regular file, so it is not a pool image this engine made. Remove it and start again.`);
  return st.size;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new EngineError('InvalidArgument', `${POOL_IMAGE_NEEDS_ROOT}.`);
}

/** A crash during mkfs leaves a temp image; it was never used, so it goes. */
async function removeTempImages(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.tmp-`;
  for (const name of await fs.promises.readdir(dir)) {
    if (name.startsWith(prefix)) await fs.promises.rm(path.join(dir, name), { force: true });
  }
}

/** A sparse root-only file with a file system on it, made under a temp name and renamed
 *  whole, so `pool.img` is either absent or complete. */
async function makeImage(file: string, bytes: number): Promise<void> {
  const mkfs = await chooseMkfs();
  const tmp = `${file}.tmp-${tmpSuffix()}`;
  try {
    const fh = await fs.promises.open(tmp, 'wx', 0o600);
    try {
      await fh.truncate(bytes);
    } finally {
      await fh.close();
    }
    await run(mkfs.bin, mkfs.args(tmp));
    const done = await fs.promises.open(tmp, 'r');
    await done.sync().finally(() => done.close());
    await fs.promises.rename(tmp, file);
    await syncDir(path.dirname(file));
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw new EngineError('VolumeFailed', `cannot make the pool image ${file}: ${(err as Error).message}`);
  }
  log(`pool image: made ${file} (${formatImageSize(bytes)}, sparse) with ${path.basename(mkfs.bin)}${mkfs.note}`);
}

/** btrfs when the kernel and btrfs-progs have it (atomic online snapshots), else XFS with reflink. */
async function chooseMkfs(): Promise<{ bin: string; args: (f: string) => string[]; note: string }> {
  const kernel = kernelFileSystems();
  const btrfs = kernel.has('btrfs') ? findSystemTool('mkfs.btrfs') : undefined;
  if (btrfs && findSystemTool('btrfs')) return { bin: btrfs, args: (f) => ['-q', f], note: '' };
  const xfs = kernel.has('xfs') ? findSystemTool('mkfs.xfs') : undefined;
  const why = kernel.has('btrfs') ? 'btrfs-progs is not installed' : 'the kernel has no btrfs';
  if (xfs) return { bin: xfs, args: (f) => ['-q', '-m', 'reflink=1', f], note: ` (XFS with reflink: ${why}; install btrfs-progs for the btrfs driver's atomic snapshots)` };
  if (!kernel.has('btrfs') && !kernel.has('xfs')) {
    throw new EngineError('InvalidArgument', '--pool-image needs btrfs or xfs in the kernel (neither is in /proc/filesystems). Leave out --pool-image to use the blocks driver.');
  }
  throw new EngineError('InvalidArgument', '--pool-image needs mkfs.btrfs or mkfs.xfs: install the Debian package btrfs-progs (preferred) or xfsprogs, then start again.');
}

function kernelFileSystems(): Set<string> {
  try {
    return new Set(fs.readFileSync('/proc/filesystems', 'utf8').split('\n').map((l) => l.trim().split(/\s+/).pop() ?? ''));
  } catch {
    return new Set();
  }
}

/** Mount `file` at `pool` unless it is already mounted there; what is mounted, checked. */
async function mountImage(file: string, pool: string): Promise<PoolImage> {
  requireRoot();
  const bytes = imageSize(file);
  if (bytes === undefined) {
    throw new EngineError('NotFound', `the pool image ${file} is missing, and this home's volumes are on it. Put the file back (from a backup) and start again, or use another --home.`);
  }
  const current = mountedAt(pool);
  if (current && !isLoopOf(current.source, file)) {
    throw new EngineError('InvalidArgument', `${pool} has ${current.source} (${current.fsType}) mounted on it, not the pool image ${file}. Unmount it and start again.`);
  }
  if (!current) {
    await mountFresh(file, pool);
    await faultPoint('pool-image:after-mount');
  } else log(`pool image: ${file} is already mounted at ${pool}`);
  // The image's root directory is the pool: root's, and walkable (not listable) by PostgreSQL's users.
  await fs.promises.chown(pool, 0, 0);
  await fs.promises.chmod(pool, 0o711);
  return { file, bytes, fs: await imageFs(pool, file) };
}

/** nodev,nosuid,noexec: tenants write files into their data directories on this file
 *  system; none of them may become a device, a set-uid program or anything to run. */
async function mountFresh(file: string, pool: string): Promise<void> {
  await fs.promises.mkdir(pool, { recursive: true, mode: 0o711 });
  if ((await fs.promises.readdir(pool)).length > 0) {
    throw new EngineError('InvalidArgument', `${pool} is not empty; mounting the pool image ${file} over it would hide its files. Move them away (or choose another --pool) and start again.`);
  }
  const mount = findSystemTool('mount');
  if (!mount) throw new EngineError('InvalidArgument', '--pool-image needs the mount tool: install the Debian package mount.');
  try {
    await run(mount, ['-o', 'loop,nodev,nosuid,noexec', file, pool]);
  } catch (err) {
    throw new EngineError('VolumeFailed', `cannot loop-mount the pool image ${file} at ${pool}: ${(err as Error).message}`);
  }
  log(`pool image: mounted ${file} at ${pool} (nodev,nosuid,noexec)`);
}

async function imageFs(pool: string, file: string): Promise<PoolImage['fs']> {
  const kind = FS_MAGIC[(await fs.promises.statfs(pool)).type >>> 0];
  if (!kind) throw new EngineError('VolumeFailed', `the pool image ${file} holds neither btrfs nor xfs; it is not one this engine made.`);
  return kind;
}

/** The topmost mount at `dir`, from /proc/self/mountinfo. */
export function mountedAt(dir: string): { source: string; fsType: string } | undefined {
  let found: { source: string; fsType: string } | undefined;
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right || unescapeMount(left.split(' ')[4] ?? '') !== path.resolve(dir)) continue;
    const [fsType, source] = right.split(' ');
    found = { source: unescapeMount(source), fsType };
  }
  return found;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Is `source` a loop device whose backing file is `file`? */
function isLoopOf(source: string, file: string): boolean {
  const m = /^\/dev\/(loop\d+)$/.exec(source);
  if (!m) return false;
  try {
    return fs.readFileSync(`/sys/block/${m[1]}/loop/backing_file`, 'utf8').trim() === path.resolve(file);
  } catch {
    return false;
  }
}

/** For `engine status`: the image, and whether it is mounted at the pool right now. */
export function poolImageStatus(image: PoolImage, pool: string): PoolImageStatus {
  const current = mountedAt(pool);
  return { file: image.file, bytes: image.bytes, fs: image.fs, mounted: current !== undefined && isLoopOf(current.source, image.file) };
}

/** A new root home on the blocks driver could do better: say how in the log (only on the
 *  first start, the only one where --pool-image can still be given). */
export function poolImageHint(driver: string, image: PoolImage | undefined, newHome: boolean): void {
  if (!newHome || driver !== 'blocks' || image || process.getuid?.() !== 0) return;
  log('hint: on the blocks driver switch and restore cost O(size); where the file system cannot clone files, a home started with --pool-image SIZE gets btrfs on a loop-mounted image (docs/architecture.md)');
}
