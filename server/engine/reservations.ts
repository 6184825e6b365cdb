import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { log } from './engine';

/**
 * Machine-wide reservations of the numbers a container keeps for life: its port
 * and, under root, its OS user id. One file per number names the engine home that
 * owns it. Without them, two engines on one machine could hand out the same number:
 * a port is free for a moment at every switch or restore, and a user id is only
 * ever seen on files.
 */
export type ReservationKind = 'ports' | 'uids';

function folder(kind: ReservationKind): string {
  return path.join(os.tmpdir(), `slipstream-${kind}`);
}

/**
 * The folder, world-writable with the sticky bit so that engines of different
 * users share it. mkdir's mode is masked by the umask (1777 became 1755, which
 * kept every engine but its creator out), so the mode is set again with chmod;
 * only the folder's owner (or root) can, and a folder someone else made wrongly
 * stays as it is: create() then says so.
 *
 * /tmp is writable by every container's OS user, and this machine's kernel may not
 * protect symlinks in sticky folders (fs.protected_symlinks = 0), so the folder must
 * be a real directory, never a link to somewhere else: a root engine replaces a link
 * and takes a folder someone else made (its owner could delete root's entries);
 * another engine refuses to use it.
 */
function ensureFolder(dir: string): void {
  const root = process.getuid?.() === 0;
  let st = lstatOrNull(dir);
  if (st && !st.isDirectory()) {
    if (!root) throw new Error(`${dir} is not a directory`);
    fs.rmSync(dir);
    st = null;
  }
  if (!st) fs.mkdirSync(dir, { mode: 0o1777 });
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const now = fs.fstatSync(fd);
    if (root && (now.uid !== 0 || now.gid !== 0)) fs.fchownSync(fd, 0, 0);
    if ((now.mode & 0o7777) !== 0o1777 && (root || now.uid === process.getuid?.())) fs.fchmodSync(fd, 0o1777);
  } finally {
    fs.closeSync(fd);
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** An entry's holder and writer, read without following a link or blocking on a FIFO. */
function readEntry(file: string): { holder: string; writer: number } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > 4096) return { holder: '', writer: -1 };
    return { holder: fs.readFileSync(fd, 'utf8'), writer: st.uid };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reserve `n` for `home`. True if it is now (or already was) home's. A reservation
 * is honoured only while its home exists and belongs to whoever wrote the file: the
 * folder is world-writable, so an entry written by anyone else (a container's program,
 * say) is a forgery, and one whose home is gone is stale. Either is taken over, where
 * this engine may remove the file.
 */
export function reserve(kind: ReservationKind, n: number, home: string): boolean {
  const dir = folder(kind);
  const file = path.join(dir, String(n));
  try {
    ensureFolder(dir);
  } catch (err) {
    return unusable(kind, n, dir, err);
  }
  if (create(kind, n, file, home)) return true;
  let holder: string;
  let writer: number;
  try {
    ({ holder, writer } = readEntry(file));
  } catch (err) {
    // A link planted in the folder is a forgery like any other; anything else
    // (released this moment, unreadable) means: try the next number.
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') return false;
    holder = '';
    writer = -1;
  }
  if (holder === home) return true;
  if (honoured(holder, writer)) return false;
  try {
    fs.rmSync(file); // the sticky bit lets only its writer (or root) remove it
  } catch {
    return false;
  }
  return create(kind, n, file, home);
}

/** Create the reservation file; false if it exists. */
function create(kind: ReservationKind, n: number, file: string, home: string): boolean {
  try {
    fs.writeFileSync(file, home, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    return unusable(kind, n, path.dirname(file), err);
  }
}

const warned = new Set<string>();

/** Without a usable folder the caller's own checks (is the port free, is the uid
 *  on any file) decide, so the number counts as reserved. But another engine on
 *  this machine could then hand out the same number: say so in the log, once. */
function unusable(kind: ReservationKind, n: number, dir: string, err: unknown): boolean {
  if (!warned.has(dir)) {
    warned.add(dir);
    const what = kind === 'ports' ? 'port' : 'OS user id';
    log(`cannot reserve ${what} ${n} in ${dir} (${(err as Error).message}); reserving is skipped, so another engine on this machine `
      + `could hand out the same ${what}s. Fix: as root, chmod 1777 ${dir}`);
  }
  return true;
}

function honoured(holder: string, writer: number): boolean {
  try {
    return path.isAbsolute(holder) && fs.statSync(holder).uid === writer;
  } catch {
    return false;
  }
}

export function release(kind: ReservationKind, n: number, home: string): void {
  const file = path.join(folder(kind), String(n));
  try {
    if (readEntry(file).holder === home) fs.rmSync(file, { force: true });
  } catch {
    // never reserved, or already released
  }
}
