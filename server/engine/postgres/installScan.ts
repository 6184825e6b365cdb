import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { EngineError } from '../errors';

/**
 * What a PostgreSQL installation holds, read without following links: the parts
 * of PREFIX that initdb, pg_ctl and postgres use (bin, lib with its shared
 * libraries and extension modules, share). The embedded package lays them out
 * side by side and finds them relative to the running binary (its RUNPATH is
 * $ORIGIN/../lib), so a copy of these three folders runs anywhere.
 */
export const INSTALL_PARTS = ['bin', 'lib', 'share'] as const;

export interface InstallEntry {
  /** Relative to the installation's prefix, with '/' separators. */
  rel: string;
  kind: 'dir' | 'file' | 'link';
  size: number;
  /** A file that someone may execute is copied as 0555, any other as 0444. */
  exec: boolean;
  /** For a link: what it points at, a name inside the installation. */
  target?: string;
  /** Not copied: it only tells a changed source (a reinstall) from the one copied. */
  mtimeMs: number;
}

/** Every entry of PREFIX/{bin,lib,share}, directories before what they hold. */
export async function scanInstall(prefix: string): Promise<InstallEntry[]> {
  const entries: InstallEntry[] = [];
  for (const part of INSTALL_PARTS) {
    const st = await fs.promises.lstat(path.join(prefix, part)).catch(() => undefined);
    if (!st) {
      if (part === 'bin') throw new EngineError('InvalidArgument', `${prefix} has no bin folder: it is not a PostgreSQL installation.`);
      continue;
    }
    await walk(prefix, part, st, entries);
  }
  return entries;
}

async function walk(prefix: string, rel: string, st: fs.Stats, into: InstallEntry[]): Promise<void> {
  into.push(describe(prefix, rel, st, st.isSymbolicLink() ? await fs.promises.readlink(path.join(prefix, rel)) : undefined));
  if (!st.isDirectory()) return;
  const names = (await fs.promises.readdir(path.join(prefix, rel))).sort();
  for (const name of names) {
    const child = `${rel}/${name}`;
    await walk(prefix, child, await fs.promises.lstat(path.join(prefix, child)), into);
  }
}

function describe(prefix: string, rel: string, st: fs.Stats, target: string | undefined): InstallEntry {
  const base = { rel, size: 0, exec: false, mtimeMs: st.mtimeMs };
  if (st.isDirectory()) return { ...base, kind: 'dir' };
  if (st.isFile()) return { ...base, kind: 'file', size: st.size, exec: (st.mode & 0o111) !== 0 };
  if (st.isSymbolicLink() && target !== undefined && staysInside(rel, target)) return { ...base, kind: 'link', target };
  const what = st.isSymbolicLink() ? `a link to ${target} outside the installation` : 'neither a file, a folder nor a link';
  throw new EngineError('InvalidArgument', `${path.join(prefix, rel)} is ${what}: the engine copies only plain installations. ` +
    'Reinstall the embedded PostgreSQL (npm install), or pass --pg-bin DIR.');
}

/** A relative link that resolves inside the installation (the lib/*.so → *.so.N.M kind). */
function staysInside(rel: string, target: string): boolean {
  if (path.isAbsolute(target)) return false;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  return !resolved.startsWith('../') && resolved !== '..';
}

/** Names a source as it is now: a reinstall (other files, sizes or times) gets another name. */
export function sourceKey(entries: readonly InstallEntry[]): string {
  const h = createHash('sha256');
  for (const e of entries) h.update(`${e.rel}\0${e.kind}\0${e.size}\0${e.exec}\0${e.target ?? ''}\0${e.mtimeMs}\n`);
  return h.digest('hex').slice(0, 16);
}

/** The mode every entry has in a copy: nobody but root may change it, everyone may use it. */
export function copyMode(e: Pick<InstallEntry, 'kind' | 'exec'>): number {
  if (e.kind === 'dir') return 0o755;
  return e.exec ? 0o555 : 0o444;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  const handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false })) h.update(chunk as Buffer);
  } finally {
    await handle.close();
  }
  return h.digest('hex');
}
