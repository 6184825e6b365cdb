import * as fs from 'fs';
import * as path from 'path';
import { removePath } from '../volumes/volumeFiles';
import type { FileOwner } from '../volumes/driver';

/**
 * A cluster's runtime directory, written by the engine (root, on a team host)
 * and used by a PostgreSQL that runs as the container's OS user, whose programs
 * the tenant controls. Root must never write or read there through a path the
 * tenant can swap for a symlink, so:
 *
 *   RUN/              the engine's, 0711: the tenant can pass through, not add or rename
 *   RUN/pg_hba.conf   the engine's, 0644: written to a temporary name, then renamed
 *   RUN/postgres.log  created by the engine, then given to the container's user, who
 *                     appends to it; the engine reads it with O_NOFOLLOW
 *   RUN/foreign-data.<volume>  the engine's: that volume holds data from elsewhere, not yet sanitised
 *   RUN/socket/       the container's user's, 0700: the Unix socket and its lock file
 *
 * The socket directory is the tenant's, so what answers there is checked after
 * connecting (cluster.verifyServer) before the engine sends anything that matters.
 */

export interface RunDirSpec {
  runDir: string;
  owner?: FileOwner;
}

export const socketDir = (spec: Pick<RunDirSpec, 'runDir'>) => path.join(spec.runDir, 'socket');
export const logPath = (spec: Pick<RunDirSpec, 'runDir'>) => path.join(spec.runDir, 'postgres.log');
export const hbaPath = (spec: Pick<RunDirSpec, 'runDir'>) => path.join(spec.runDir, 'pg_hba.conf');

/** Make the layout above, replacing whatever the tenant could have left (an older
 *  engine gave the whole directory to the container's user). Call while the database is down. */
export async function prepareRunDir(spec: RunDirSpec, hba: string): Promise<void> {
  await ensureEngineDir(spec);
  await writeHba(spec, hba);
  await ensureLog(spec);
  await ensureSocketDir(spec);
}

/** The runtime directory itself, owned by the engine. */
export async function ensureEngineDir(spec: RunDirSpec): Promise<void> {
  const st = await fs.promises.lstat(spec.runDir).catch(() => undefined);
  if (st && !(st.isDirectory() && st.uid === myUid())) await removePath(spec.runDir); // an older layout's, or not a directory
  if (!st || !(st.isDirectory() && st.uid === myUid())) await fs.promises.mkdir(spec.runDir, { recursive: true });
  // Verified ours just above, in a parent only the engine writes: no one can swap it in between.
  await fs.promises.chmod(spec.runDir, spec.owner ? 0o711 : 0o700);
}

/** Replace pg_hba.conf in one rename, so PostgreSQL never reads half a file. */
export async function writeHba(spec: RunDirSpec, text: string): Promise<void> {
  const tmp = `${hbaPath(spec)}.tmp`;
  await fs.promises.rm(tmp, { force: true });
  await fs.promises.writeFile(tmp, text, { mode: 0o644, flag: 'wx' });
  await fs.promises.rename(tmp, hbaPath(spec));
}

async function ensureLog(spec: RunDirSpec): Promise<void> {
  const fh = await fs.promises.open(logPath(spec), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND
    | fs.constants.O_NOFOLLOW, 0o600);
  try {
    if (spec.owner) await fh.chown(spec.owner.uid, spec.owner.gid);
  } finally {
    await fh.close();
  }
}

async function ensureSocketDir(spec: RunDirSpec): Promise<void> {
  const dir = socketDir(spec);
  const st = await fs.promises.lstat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) await fs.promises.unlink(dir);
  if (!st || !st.isDirectory()) await fs.promises.mkdir(dir);
  // lchown and chmod of an entry of the engine's own directory: it cannot be swapped.
  if (spec.owner) await fs.promises.lchown(dir, spec.owner.uid, spec.owner.gid);
  await fs.promises.chmod(dir, 0o700);
  await removeSocketLocks(dir);
}

/**
 * The database is down, so any socket lock file left is stale. PostgreSQL judges one by
 * kill(pid, 0), and a postmaster killed behind the engine stays a zombie until PID 1 reaps
 * it; where PID 1 never reaps (some CI containers), the lock would refuse every start.
 * unlink removes the entry itself, never what a symlink names.
 */
async function removeSocketLocks(dir: string): Promise<void> {
  for (const name of await fs.promises.readdir(dir)) {
    if (/^\.s\.PGSQL\.\d+\.lock$/.test(name)) await fs.promises.unlink(path.join(dir, name)).catch(() => undefined);
  }
}

/** The last `lines` lines of the log, never through a symlink. */
export async function tailLog(spec: RunDirSpec, lines = 15, since = 0): Promise<string> {
  const text = await readLog(spec, since, 65536);
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Up to `max` bytes of the log from `since` (the end of it, if there is more). */
export async function readLog(spec: RunDirSpec, since: number, max: number): Promise<string> {
  const fh = await fs.promises.open(logPath(spec), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
    .catch(() => undefined);
  if (!fh) return '';
  try {
    const st = await fh.stat();
    if (!st.isFile()) return '';
    const buf = Buffer.alloc(Math.max(0, Math.min(st.size - since, max)));
    const { bytesRead } = await fh.read(buf, 0, buf.length, Math.max(since, st.size - buf.length));
    return buf.subarray(0, bytesRead).toString();
  } finally {
    await fh.close();
  }
}

export async function logSize(spec: RunDirSpec): Promise<number> {
  return fs.promises.lstat(logPath(spec)).then((st) => (st.isFile() ? st.size : 0), () => 0);
}

// ------------------------------------------------------------ foreign data

/** Which volume a marker speaks for: every branch owns a volume, and each may hold
 *  foreign data not yet sanitised, active or not. */
export interface VolumeMarkerSpec extends RunDirSpec {
  dataDir: string;
}

/** One marker per volume, named after it (a volume's directory name is its id). */
const foreignMarker = (spec: Pick<VolumeMarkerSpec, 'runDir' | 'dataDir'>) =>
  path.join(spec.runDir, `foreign-data.${path.basename(spec.dataDir)}`);

/** Written before data from elsewhere is loaded into the volume; see sanitise.ts. */
export async function markForeign(spec: VolumeMarkerSpec): Promise<void> {
  await ensureEngineDir(spec);
  const fh = await fs.promises.open(foreignMarker(spec), 'w', 0o600);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function hasForeignData(spec: Pick<VolumeMarkerSpec, 'runDir' | 'dataDir'>): Promise<boolean> {
  return fs.promises.lstat(foreignMarker(spec)).then(() => true, () => false);
}

export async function clearForeign(spec: Pick<VolumeMarkerSpec, 'runDir' | 'dataDir'>): Promise<void> {
  await fs.promises.rm(foreignMarker(spec), { force: true });
}

/** Engines 0.1 kept one volume per container and one marker (`foreign-data`) for it. It
 *  speaks for the volume the active branch takes over; a rename, so a re-run is harmless. */
export async function adoptContainerMarker(spec: Pick<VolumeMarkerSpec, 'runDir' | 'dataDir'>): Promise<void> {
  await fs.promises.rename(path.join(spec.runDir, 'foreign-data'), foreignMarker(spec)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** The 0.1 marker of a container's volume that was discarded rather than adopted. */
export async function clearLegacyMarker(spec: Pick<VolumeMarkerSpec, 'runDir'>): Promise<void> {
  await fs.promises.rm(path.join(spec.runDir, 'foreign-data'), { force: true });
}

// ------------------------------------------------------------ removal

/** Remove a runtime directory. The socket folder inside is the container user's, so
 *  the walk goes through directory handles and follows no link (volumes/volumeFiles.ts);
 *  the container's programs were ended when its database stopped. */
export async function removeRunDir(spec: RunDirSpec): Promise<void> {
  await removePath(spec.runDir);
}

function myUid(): number {
  return process.getuid?.() ?? 0;
}
