/**
 * Every file operation on a volume goes through this module.
 *
 * A volume's files belong to its container's OS user. That user is superuser in
 * the container's database and can run programs, so under a root engine any path
 * inside a volume may be swapped for a symlink at the worst moment: a bookmark
 * would copy a root-only file in, a restore would write and chown /etc/passwd.
 * Node has no openat(), so:
 *  - a directory is opened once, with O_DIRECTORY|O_NOFOLLOW, and its children are
 *    reached through /proc/self/fd/<fd>/<name>. The kernel resolves that through the
 *    open directory itself (it is openat(fd, name)): renaming or replacing the
 *    directory afterwards cannot move us somewhere else;
 *  - every open has O_NOFOLLOW, and what we open must be what the scan saw (the
 *    same device and inode), a regular file with one link and the volume's owner;
 *  - modes and owners are set through the open handle (fchmod, fchown), or with
 *    lchown for symlinks; nothing is chmodded or chowned by path.
 * The engine also ends every process of the container's OS user before it works
 * in a volume (postgres/tenantProcesses.ts). This module is the second wall.
 *
 * Paths above a volume (the pool, `volumes/`, `snapshots/`) are root's own, so
 * opening a volume's root by path is safe; only what lies inside needs care.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';
import type { FileOwner } from './driver';
import { tmpSuffix } from './util';

const O = fs.constants;
const DIR_FLAGS = O.O_RDONLY | O.O_DIRECTORY | O.O_NOFOLLOW;

export type EntryKind = 'dir' | 'file' | 'symlink' | 'other';

export interface TreeEntry {
  /** Path relative to the tree root, '/'-separated, never empty. */
  rel: string;
  kind: EntryKind;
  st: fs.BigIntStats;
}

interface Identity {
  dev: bigint;
  ino: bigint;
}

function kindOf(st: fs.BigIntStats): EntryKind {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

function same(a: Identity, b: Identity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The tenant changed the tree under us: refuse rather than follow. */
function changedUnderUs(where: string, what: string): EngineError {
  const err = new EngineError('VolumeFailed', `${where} ${what} while the engine was working in it, so the engine stopped `
    + 'rather than follow it. A program of the container\'s OS user may still have been running; run the operation again.');
  if (what === 'was replaced') replacedErrors.add(err);
  return err;
}

const replacedErrors = new WeakSet<Error>();

/**
 * A file that is gone, or another inode under the same name, since the scan. A copy of a
 * running database (an online backup) meets these as PostgreSQL works, and skips them:
 * WAL replay from the backup's start rebuilds whatever they held. A symlink, a second hard
 * link or a foreign owner is never this: those still stop the copy.
 */
export function vanished(err: unknown): boolean {
  return code(err) === 'ENOENT' || replacedErrors.has(err as Error);
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** A directory held open. Its children are named relative to the handle, never by path. */
export class Dir {
  private constructor(private readonly fh: fs.promises.FileHandle, readonly st: fs.BigIntStats, readonly label: string) {}

  /** Open `p` as a directory without following a final symlink; with `expect`, it must be that inode. */
  static async open(p: string, label: string, expect?: Identity): Promise<Dir> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(p, DIR_FLAGS);
    } catch (err) {
      if (code(err) === 'ELOOP' || code(err) === 'ENOTDIR') throw changedUnderUs(label, 'is no longer a directory');
      throw err;
    }
    const st = await fh.stat({ bigint: true });
    if (expect && !same(st, expect)) {
      await fh.close();
      throw changedUnderUs(label, 'was replaced');
    }
    return new Dir(fh, st, label);
  }

  /** The path through which the kernel finds `name` inside this very directory. */
  at(name: string): string {
    if (!name || name === '.' || name === '..' || name.includes('/')) throw new Error(`bad entry name ${JSON.stringify(name)}`);
    return `/proc/self/fd/${this.fh.fd}/${name}`;
  }

  openDir(name: string, expect?: Identity): Promise<Dir> {
    return Dir.open(this.at(name), `${this.label}/${name}`, expect);
  }

  list(): Promise<string[]> {
    return fs.promises.readdir(`/proc/self/fd/${this.fh.fd}`);
  }

  lstat(name: string): Promise<fs.BigIntStats> {
    return fs.promises.lstat(this.at(name), { bigint: true });
  }

  /** undefined when there is no such entry. */
  lstatSync(name: string): fs.BigIntStats | undefined {
    return fs.lstatSync(this.at(name), { bigint: true, throwIfNoEntry: false });
  }

  setMode(mode: number): Promise<void> {
    return this.fh.chmod(mode);
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  setOwner(owner: FileOwner): Promise<void> {
    return this.fh.chown(owner.uid, owner.gid);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Run `fn` on a directory opened without following symlinks, then close it. */
async function withDir<T>(p: string, fn: (d: Dir) => Promise<T>): Promise<T> {
  const d = await Dir.open(p, p);
  try {
    return await fn(d);
  } finally {
    await d.close();
  }
}

export interface FileCheck {
  /** The inode the scan saw; the opened file must be it. */
  expect?: Identity;
  /** Refuse a file not owned by this user id (a volume's files are all its owner's). */
  ownerUid?: number;
}

/**
 * A volume's tree, reached only through directory handles. scan() records what it
 * saw; later opens must find the same inodes. Not for concurrent use by two operations.
 */
/** Entries lstat'ed between pauses of a scan. */
const LSTATS = 256;

export class VolumeTree {
  private readonly dirs = new Map<string, Promise<Dir>>();
  private readonly seen = new Map<string, Identity>();

  private constructor(readonly root: string, private readonly rootDir: Dir) {
    this.dirs.set('', Promise.resolve(rootDir));
  }

  static async open(root: string): Promise<VolumeTree> {
    return new VolumeTree(root, await Dir.open(root, path.basename(root)));
  }

  /** Run `fn` with the tree open, and close every handle after. */
  static async with<T>(root: string, fn: (t: VolumeTree) => Promise<T>): Promise<T> {
    const tree = await VolumeTree.open(root);
    try {
      return await fn(tree);
    } finally {
      await tree.close();
    }
  }

  get rootStat(): fs.BigIntStats {
    return this.rootDir.st;
  }

  /** fsync every directory opened so far: the entries made in them survive a crash. */
  async syncDirs(): Promise<void> {
    for (const d of this.dirs.values()) await (await d).sync();
  }

  /** lstat every entry under `sub` (the whole tree by default), parents before children
   *  (pre-order), descending only into directories opened without following links and
   *  found to be what lstat saw. */
  async scan(sub = ''): Promise<TreeEntry[]> {
    const out: TreeEntry[] = [];
    const walk = async (d: Dir, relDir: string): Promise<void> => {
      const names = (await d.list()).sort();
      const found: (TreeEntry | undefined)[] = new Array(names.length);
      // On this thread: the kernel answers an lstat from its cache in microseconds, and through
      // the thread pool each cost 100 µs or more (0.14 s of a push's 1,030). A pause every
      // LSTATS lets other requests in however many entries a tenant makes.
      for (let i = 0; i < names.length; i++) {
        if (i > 0 && i % LSTATS === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        // An entry gone between readdir and lstat is simply not there (a running database's temp files).
        const st = d.lstatSync(names[i]);
        if (st) found[i] = { rel: relDir ? `${relDir}/${names[i]}` : names[i], kind: kindOf(st), st };
      }
      for (const e of found) {
        if (!e) continue;
        this.seen.set(e.rel, e.st);
        out.push(e);
        if (e.kind !== 'dir') continue;
        const child = await d.openDir(path.basename(e.rel), e.st).catch((err) => { if (vanished(err)) return undefined; throw err; });
        if (!child) continue;
        try {
          await walk(child, e.rel);
        } finally {
          await child.close();
        }
      }
    };
    await walk(await this.dir(sub), sub);
    return out;
  }

  /** The directory at `rel` ('' is the root), opened component by component. */
  dir(rel: string): Promise<Dir> {
    let d = this.dirs.get(rel);
    if (!d) {
      const { parent, name } = split(rel);
      d = this.dir(parent).then((p) => p.openDir(name, this.seen.get(rel)));
      this.dirs.set(rel, d);
      d.catch(() => this.dirs.delete(rel));
    }
    return d;
  }

  private async parentOf(rel: string): Promise<{ d: Dir; name: string }> {
    const { parent, name } = split(rel);
    return { d: await this.dir(parent), name };
  }

  /** Open a regular file with O_NOFOLLOW. It must be the inode the scan saw (if it saw
   *  one), have a single link, and belong to `check.ownerUid` when given. */
  async openFile(rel: string, flags: number, mode = 0o600, check: FileCheck = {}): Promise<fs.promises.FileHandle> {
    const { d, name } = await this.parentOf(rel);
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(d.at(name), flags | O.O_NOFOLLOW, mode);
    } catch (err) {
      if (code(err) === 'ELOOP') throw changedUnderUs(rel, 'became a symlink');
      throw err;
    }
    // O_CREAT|O_EXCL with O_NOFOLLOW made a new regular file or failed: nothing to check,
    // and a clone makes a thousand of them, so the stat is skipped.
    if ((flags & (O.O_CREAT | O.O_EXCL)) === (O.O_CREAT | O.O_EXCL)) return fh;
    try {
      const st = await fh.stat({ bigint: true });
      const expect = check.expect ?? this.seen.get(rel);
      if (!st.isFile()) throw changedUnderUs(rel, 'is not a regular file');
      if (expect && !(flags & O.O_CREAT) && !same(st, expect)) throw changedUnderUs(rel, 'was replaced');
      if (st.nlink > 1n) throw changedUnderUs(rel, 'has another hard link');
      if (check.ownerUid !== undefined && Number(st.uid) !== check.ownerUid) throw changedUnderUs(rel, 'belongs to another user');
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Open the file the scan saw, for reading. */
  readFile(e: TreeEntry, ownerUid?: number): Promise<fs.promises.FileHandle> {
    return this.openFile(e.rel, O.O_RDONLY, 0, { expect: e.st, ownerUid });
  }

  async readlink(rel: string): Promise<string> {
    const { d, name } = await this.parentOf(rel);
    return fs.promises.readlink(d.at(name)).catch((err) => {
      // The scan saw a symlink; something else has its name now.
      if (code(err) === 'EINVAL') throw changedUnderUs(rel, 'was replaced');
      throw err;
    });
  }

  async symlink(target: string, rel: string, owner: FileOwner | undefined): Promise<void> {
    const { d, name } = await this.parentOf(rel);
    await fs.promises.symlink(target, d.at(name));
    if (owner) await fs.promises.lchown(d.at(name), owner.uid, owner.gid);
  }

  /** lchown never follows the final link, and the parent is a handle. */
  async lchown(rel: string, owner: FileOwner): Promise<void> {
    const { d, name } = await this.parentOf(rel);
    await fs.promises.lchown(d.at(name), owner.uid, owner.gid);
  }

  async mkdir(rel: string, mode: number): Promise<void> {
    const { d, name } = await this.parentOf(rel);
    await fs.promises.mkdir(d.at(name), { mode });
    this.seen.set(rel, await d.lstat(name));
  }

  /** Set a directory's mode and owner through its handle ('' is the root). */
  async fixDir(rel: string, mode: number, owner: FileOwner | undefined): Promise<void> {
    const d = await this.dir(rel);
    await d.setMode(mode);
    if (owner) await d.setOwner(owner);
  }

  /** Remove the entry at `rel`, a whole directory tree included, without following links. */
  async remove(rel: string): Promise<void> {
    const { d, name } = await this.parentOf(rel);
    await removeEntry(d, name);
    this.seen.delete(rel);
  }

  async close(): Promise<void> {
    const all = [...this.dirs.values()];
    this.dirs.clear();
    for (const d of await Promise.allSettled(all)) if (d.status === 'fulfilled') await d.value.close();
  }
}

function split(rel: string): { parent: string; name: string } {
  const i = rel.lastIndexOf('/');
  return i < 0 ? { parent: '', name: rel } : { parent: rel.slice(0, i), name: rel.slice(i + 1) };
}

/** Remove `name` in `d`: a directory's contents through its own handle first. A
 *  directory swapped for a symlink half-way is unlinked as the link it now is. */
async function removeEntry(d: Dir, name: string): Promise<void> {
  let st: fs.BigIntStats;
  try {
    st = await d.lstat(name);
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    throw err;
  }
  if (!st.isDirectory()) return unlinkQuietly(d.at(name));
  let child: Dir;
  try {
    child = await d.openDir(name, st);
  } catch {
    return unlinkQuietly(d.at(name));
  }
  try {
    for (const n of await child.list()) await removeEntry(child, n);
  } finally {
    await child.close();
  }
  try {
    await fs.promises.rmdir(d.at(name));
  } catch (err) {
    if (code(err) === 'ENOTDIR') return unlinkQuietly(d.at(name));
    if (code(err) !== 'ENOENT') throw err;
  }
}

async function unlinkQuietly(p: string): Promise<void> {
  try {
    await fs.promises.unlink(p);
  } catch (err) {
    if (code(err) !== 'ENOENT') throw err;
  }
}

/** Remove the entry `name` of the root-owned directory `parent` (a pool folder). */
async function removeIn(parent: string, name: string): Promise<void> {
  await withDir(parent, (d) => removeEntry(d, name));
}

/** Remove whatever is at `p` (a tree too) without following links. Its parent must be
 *  root's own; what lies inside may be a tenant's (a runtime directory, say). */
export function removePath(p: string): Promise<void> {
  return removeIn(path.dirname(p), path.basename(p)).catch((err) => {
    if (code(err) !== 'ENOENT') throw err; // the parent is gone too: nothing to remove
  });
}

/** Remove a directory tree so that it never looks half-deleted under its own
 *  name: rename it into `trashDir` (root's, same file system) first, then delete. */
export async function removeTree(p: string, trashDir: string): Promise<void> {
  const trash = `trash-${tmpSuffix()}`;
  try {
    await fs.promises.rename(p, path.join(trashDir, trash));
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    throw err;
  }
  await removeIn(trashDir, trash);
}

/**
 * Create the empty file `name` in a volume's top directory, in place of whatever the tenant
 * left under that name (a symlink, a directory). The directory is opened without following
 * a link and the file is created through the handle with O_EXCL: a name the tenant swaps in
 * meanwhile fails the call instead of being written through.
 */
export async function replaceWithEmptyFile(dir: string, name: string, owner: FileOwner | undefined): Promise<void> {
  await withDir(dir, async (d) => {
    await removeEntry(d, name);
    const fh = await fs.promises.open(d.at(name), O.O_WRONLY | O.O_CREAT | O.O_EXCL | O.O_NOFOLLOW, 0o600);
    try {
      if (owner) await fh.chown(owner.uid, owner.gid);
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

/** Empty a pool folder of crash leftovers (init(), while the engine holds its lock). */
export async function clearDir(dir: string, filter: (name: string) => boolean = () => true): Promise<void> {
  await withDir(dir, async (d) => {
    for (const name of await d.list()) if (filter(name)) await removeEntry(d, name);
  });
}

/** lstat every entry under `root` through handles (see VolumeTree.scan). */
export function scanTree(root: string): Promise<TreeEntry[]> {
  return VolumeTree.with(root, (t) => t.scan());
}

/**
 * Give every entry under `root` to `owner`, the root directory last. Every file of a
 * volume is its owner's (PostgreSQL makes them, the drivers chown what they write),
 * so a root already the owner's means the walk has nothing to do.
 */
export async function chownTree(root: string, owner: FileOwner | undefined): Promise<void> {
  if (!owner) return;
  await VolumeTree.with(root, async (t) => {
    if (Number(t.rootStat.uid) === owner.uid && Number(t.rootStat.gid) === owner.gid) return;
    for (const e of await t.scan()) {
      if (Number(e.st.uid) !== owner.uid || Number(e.st.gid) !== owner.gid) await t.lchown(e.rel, owner);
    }
    await t.fixDir('', Number(t.rootStat.mode) & 0o7777, owner);
  });
}

/** The owner of a tree's root, to keep when copying it (only root may give files away). */
export async function ownerToKeep(root: string): Promise<FileOwner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const st = await fs.promises.lstat(root);
  return { uid: st.uid, gid: st.gid };
}

/** Create (or fix) a volume's top directory: 0700 and owned by the owner, as
 *  PostgreSQL demands of a data directory. Its parent is root's. */
export async function prepareVolumeDir(dir: string, owner: FileOwner | undefined): Promise<void> {
  await fs.promises.mkdir(dir, { mode: 0o700 });
  await fixVolumeDir(dir, owner);
}

export async function fixVolumeDir(dir: string, owner: FileOwner | undefined): Promise<void> {
  await withDir(dir, async (d) => {
    await d.setMode(0o700);
    if (owner && (Number(d.st.uid) !== owner.uid || Number(d.st.gid) !== owner.gid)) await d.setOwner(owner);
  });
}

/** Fail when a volume that should be created already has contents. An empty
 *  one is accepted, so a re-run after a crash succeeds. */
export async function checkCanCreate(dir: string, id: string): Promise<boolean> {
  let names: string[];
  try {
    names = await withDir(dir, (d) => d.list());
  } catch (err) {
    if (code(err) === 'ENOENT') return false;
    throw err;
  }
  if (names.length > 0) throw new EngineError('VolumeFailed', `volume ${id} already exists and is not empty`);
  return true;
}

/** Allocated bytes under `dir`, each inode counted once. On a COW file system
 *  this over-counts blocks shared between clones. */
export async function allocatedBytes(dir: string): Promise<number> {
  try {
    await fs.promises.lstat(dir);
  } catch (err) {
    if (code(err) === 'ENOENT') return 0;
    throw err;
  }
  const seen = new Set<bigint>();
  let total = 0;
  for (const e of await scanTree(dir)) {
    if (seen.has(e.st.ino)) continue;
    seen.add(e.st.ino);
    total += Number(e.st.blocks) * 512;
  }
  return total;
}
