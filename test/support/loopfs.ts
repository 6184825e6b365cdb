/**
 * A real btrfs or XFS file system for tests, on a sparse image file mounted
 * through a loop device. Needs root, the file system in the kernel and its
 * mkfs tool; otherwise it says why, and the caller skips with that reason.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type LoopFs = { dir: string; cleanup(): Promise<void> };

const BIN_DIRS = ['/sbin', '/usr/sbin', '/bin', '/usr/bin'];

/** mkfs.xfs refuses images under 300 MiB; btrfs needs ~115 MiB. Images are
 *  sparse, so the floor costs no disk space. */
const MIN_MIB: Record<'btrfs' | 'xfs', number> = { btrfs: 128, xfs: 300 };

function which(name: string): string | undefined {
  for (const dir of BIN_DIRS) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

function sh(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** Why this machine cannot mount `kind` here, or the tools to do it. */
function prerequisites(kind: 'btrfs' | 'xfs'): { skip: string } | { mkfs: string; mount: string; umount: string; losetup?: string } {
  if (process.platform !== 'linux') return { skip: `${kind} loop mounts need Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { skip: `${kind} loop mounts need root (running as uid ${process.getuid?.()})` };
  let filesystems = '';
  try {
    filesystems = fs.readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return { skip: 'cannot read /proc/filesystems' };
  }
  if (!filesystems.split('\n').some((l) => l.trim().split(/\s+/).pop() === kind)) {
    return { skip: `the kernel has no ${kind} support (not in /proc/filesystems)` };
  }
  const mkfs = which(`mkfs.${kind}`);
  if (!mkfs) return { skip: `mkfs.${kind} is not installed (apt-get install ${kind === 'btrfs' ? 'btrfs-progs' : 'xfsprogs'})` };
  const mount = which('mount');
  const umount = which('umount');
  if (!mount || !umount) return { skip: 'mount/umount are not installed' };
  return { mkfs, mount, umount, losetup: which('losetup') };
}

export async function mountLoopFs(kind: 'btrfs' | 'xfs', sizeMiB: number): Promise<LoopFs | { skip: string }> {
  const tools = prerequisites(kind);
  if ('skip' in tools) return tools;
  const base = await fs.promises.mkdtemp(path.join(os.tmpdir(), `slipstream-${kind}-`));
  const img = path.join(base, 'image');
  const dir = path.join(base, 'mnt');
  // mkdtemp makes 0700; PostgreSQL runs as an unprivileged user that must walk down to its pool.
  await fs.promises.chmod(base, 0o755);
  await fs.promises.mkdir(dir);
  const cleanup = async (): Promise<void> => {
    // The loop device is found before unmounting: mount's autoclear usually
    // detaches it, and losetup -d makes sure of it.
    const dev = tools.losetup ? (await sh(tools.losetup, ['-j', img]).catch(() => '')).split(':')[0] : '';
    await sh(tools.umount, [dir]).catch(() => sh(tools.umount, ['-l', dir]).catch(() => undefined));
    if (dev && tools.losetup) await sh(tools.losetup, ['-d', dev]).catch(() => undefined);
    await fs.promises.rm(base, { recursive: true, force: true });
  };
  try {
    await fs.promises.writeFile(img, '');
    await fs.promises.truncate(img, Math.max(sizeMiB, MIN_MIB[kind]) * 1024 * 1024);
    await sh(tools.mkfs, kind === 'xfs' ? ['-q', '-m', 'reflink=1', img] : ['-q', img]);
    await sh(tools.mount, ['-o', 'loop', img, dir]);
  } catch (err) {
    // A container may be root without the right to mount: a reason to skip, not a failure.
    await cleanup();
    return { skip: `cannot mount a ${kind} loop image: ${(err as Error).message}` };
  }
  return { dir, cleanup };
}

/** Why this machine cannot mount a size-limited tmpfs, or undefined when it can. */
export function whyNoTmpfs(): string | undefined {
  if (process.platform !== 'linux') return `a size-limited tmpfs needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `mounting a tmpfs needs root (running as uid ${process.getuid?.()})`;
  return undefined;
}

/** A tmpfs of `sizeMiB` for a pool that a test fills up (check whyNoTmpfs first). */
export function mountTmpfs(sizeMiB: number): LoopFs {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-tmpfs-'));
  fs.chmodSync(base, 0o755); // PostgreSQL runs as an unprivileged user that must reach the pool
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir]);
  } catch (err) {
    fs.rmSync(base, { recursive: true, force: true });
    throw err;
  }
  const cleanup = async (): Promise<void> => {
    execFileSync('umount', ['-l', dir]);
    fs.rmSync(base, { recursive: true, force: true });
  };
  return { dir, cleanup };
}
