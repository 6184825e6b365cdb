import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { log } from '../engine';
import { EngineError } from '../errors';
import { mapLimit, syncDir } from '../volumes/util';
import { removePath } from '../volumes/volumeFiles';
import type { PgBinaries } from './binaries';
import { copyMode, scanInstall, sha256File, sourceKey, type InstallEntry } from './installScan';

/**
 * A root engine runs PostgreSQL as unprivileged users, who must be able to run its
 * binaries and read its libraries and share files. The embedded PostgreSQL lives in
 * the checkout's node_modules, which may be where they cannot go (a clone in /root,
 * or in a `mktemp -d` folder: 0700). So a root engine always runs PostgreSQL from a
 * copy: COPIES/<key>, made once per installed version, root's, folders 0755 and files
 * 0444 or 0555, under folders that only root can write. Every tenant's database runs
 * these files, so no tenant may be able to change them.
 */

/** Written last into a finished copy: where it came from and what every file hashed to. */
const STAMP = 'slipstream-copy.json';

interface Stamp {
  source: string;
  made: string;
  files: Record<string, string>;
}

/** The copy of the installation that holds `bins`, made or checked, and its binaries. */
export async function reachableCopy(bins: PgBinaries, copies: string): Promise<PgBinaries> {
  const prefix = path.dirname(bins.dir);
  const entries = await scanInstall(prefix);
  await makeSafePlace(copies);
  const dir = path.join(copies, sourceKey(entries));
  const problem = await checkCopy(dir, entries);
  if (problem !== undefined) {
    if (problem !== 'missing') {
      log(`the PostgreSQL copy ${dir} is not as it was made (${problem}); making it again`);
      await retire(dir, copies);
    }
    await makeCopy(prefix, entries, dir, copies);
  }
  const bin = path.join(dir, path.basename(bins.dir));
  return { dir: bin, initdb: path.join(bin, 'initdb'), pgCtl: path.join(bin, 'pg_ctl'), postgres: path.join(bin, 'postgres') };
}

/**
 * COPIES and every folder above it must be root's and writable by nobody else (a
 * sticky folder such as /tmp counts: others cannot rename or remove root's entries in
 * it), or a tenant could swap the copy for programs of its own. Folders that are missing
 * are made 0711: passable, not listable.
 */
export async function makeSafePlace(copies: string): Promise<void> {
  const parts = path.resolve(copies).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const dir = path.sep + parts.slice(0, i).join(path.sep);
    let st = await fs.promises.lstat(dir).catch(() => undefined);
    if (!st) {
      const made = await fs.promises.mkdir(dir, { mode: 0o700 }).then(() => true, (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
        return false;
      });
      if (made) await fs.promises.chmod(dir, 0o711); // 0700 first, whatever the umask; then passable
      st = await fs.promises.lstat(dir);
    }
    const unsafe = !st.isDirectory() ? 'is not a folder' : st.uid !== 0 ? `belongs to user id ${st.uid}, not root`
      : (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0 ? 'can be written by users other than root' : undefined;
    if (unsafe) {
      throw new EngineError('InvalidArgument', `${dir} ${unsafe}, so a copy of PostgreSQL there could be replaced by someone else. ` +
        `A root engine runs its databases from ${copies}: make each folder above it root's and not writable by others (chmod go-w).`);
    }
  }
}

/** undefined when `dir` is a finished copy of `entries`, all root's with the modes it was made with. */
async function checkCopy(dir: string, entries: readonly InstallEntry[]): Promise<string | undefined> {
  const stamp = await fs.promises.lstat(path.join(dir, STAMP)).catch(() => undefined);
  if (!stamp) return (await fs.promises.lstat(dir).catch(() => undefined)) ? 'no stamp' : 'missing';
  for (const e of entries) {
    const st = await fs.promises.lstat(path.join(dir, e.rel)).catch(() => undefined);
    if (!st) return `${e.rel} is missing`;
    if (st.uid !== 0) return `${e.rel} belongs to user id ${st.uid}`;
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
    if (kind !== e.kind) return `${e.rel} is a ${kind}`;
    if (kind === 'link') {
      if (await fs.promises.readlink(path.join(dir, e.rel)) !== e.target) return `${e.rel} points elsewhere`;
      continue;
    }
    if ((st.mode & 0o7777) !== copyMode(e)) return `${e.rel} has mode ${(st.mode & 0o7777).toString(8)}`;
    if (kind === 'file' && st.size !== e.size) return `${e.rel} has another size`;
  }
  return undefined;
}

/** Copy into a private folder, check every byte, then rename it into place. */
async function makeCopy(prefix: string, entries: readonly InstallEntry[], dir: string, copies: string): Promise<void> {
  const started = Date.now();
  await removeAbandoned(copies);
  const tmp = path.join(copies, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.promises.mkdir(tmp, { mode: 0o700 });
  try {
    const files: Record<string, string> = {};
    // Folders first, in order; then files side by side: the hashing and syncing of a
    // thousand small files takes seconds one by one.
    for (const e of entries.filter((x) => x.kind === 'dir')) await copyEntry(prefix, tmp, e, files);
    await mapLimit(entries.filter((x) => x.kind !== 'dir'), 8, (e) => copyEntry(prefix, tmp, e, files));
    const stamp: Stamp = { source: prefix, made: new Date().toISOString(), files };
    await fs.promises.writeFile(path.join(tmp, STAMP), JSON.stringify(stamp, null, 1), { mode: 0o444, flag: 'wx' });
    await fs.promises.chmod(tmp, 0o755);
    await syncDir(tmp);
    await fs.promises.rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another engine made the same copy first: theirs is as good as ours.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
    await syncDir(copies);
  } finally {
    await removePath(tmp);
  }
  log(`copied PostgreSQL from ${prefix} to ${dir} (${entries.length} entries, ${Date.now() - started} ms), where its unprivileged users can run it`);
}

async function copyEntry(prefix: string, tmp: string, e: InstallEntry, files: Record<string, string>): Promise<void> {
  const to = path.join(tmp, e.rel);
  if (e.kind === 'dir') {
    await fs.promises.mkdir(to, { recursive: true });
  } else if (e.kind === 'link') {
    await fs.promises.symlink(e.target!, to);
    return;
  } else {
    const from = path.join(prefix, e.rel);
    await fs.promises.copyFile(from, to, fs.constants.COPYFILE_EXCL);
    const [want, got] = await Promise.all([sha256File(from), sha256File(to)]);
    if (want !== got || (await fs.promises.stat(to)).size !== e.size) {
      throw new EngineError('DatabaseFailed', `copying ${from} to ${to} gave other bytes (or the source changed meanwhile); start the engine again.`);
    }
    files[e.rel] = got;
    const handle = await fs.promises.open(to, 'r');
    await handle.datasync().finally(() => handle.close());
  }
  await fs.promises.chmod(to, copyMode(e)); // mkdir's and copyFile's modes pass through the umask
}

/** A copy that is not as it was made moves aside under a temporary name, then goes. */
async function retire(dir: string, copies: string): Promise<void> {
  const aside = path.join(copies, `.old-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.promises.rename(dir, aside);
  await removePath(aside);
}

/** Half-made copies of engines that died while copying. */
async function removeAbandoned(copies: string): Promise<void> {
  for (const name of await fs.promises.readdir(copies)) {
    const pid = /^\.(?:tmp|old)-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && !isAlive(Number(pid))) await removePath(path.join(copies, name));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
