/**
 * reflink driver: snapshots and restores clone every file with FICLONE
 * (`fs.copyFile(..., COPYFILE_FICLONE_FORCE)`), so data blocks are shared
 * copy-on-write and the cost is O(files), not O(bytes). Works on XFS, btrfs,
 * APFS, ZFS 2.2+ and bcachefs. Not atomic: the caller stops PostgreSQL first.
 *
 * Pool layout:
 *   POOL/volumes/<id>                 working directories
 *   POOL/volumes/.restore-<id>-<tmp>  a restore being built (renamed over <id> when complete)
 *   POOL/snapshots/<id>               snapshot trees (their bytes never change after the rename; compaction may lay a file out anew)
 *   POOL/snapshots/.partial-<id>-<tmp> a snapshot being cloned
 *   POOL/tmp/                         trash: trees renamed here before deletion; compaction copies
 * Dot-names are crash leftovers once the engine restarts; init() removes them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../errors';
import { faultPoint } from '../faults';
import { readFolderSnapshot, type ReadBase, type SnapshotReader } from './snapshotReader';
import type { DriverOptions, FileOwner, OnlineBackup, RestoreOptions, VolumeDriver, VolumeProgress } from './driver';
import { Compactor } from './compaction';
import { copiedDuringBackup, scanWal } from './onlineBackup';
import {
  checkId, ensurePoolDirs, exists, guard, mapLimit, notFound, Progress, syncDir, tmpSuffix,
} from './util';
import {
  allocatedBytes, checkCanCreate, clearDir, fixVolumeDir, ownerToKeep, prepareVolumeDir, removePath, removeTree,
  vanished, VolumeTree, type TreeEntry,
} from './volumeFiles';

/** Files cloned at once: FICLONE is a cheap metadata ioctl, so the walk is
 *  bound by syscall latency and a little parallelism pays off. */
const CLONE_CONCURRENCY = 16;

export class ReflinkDriver implements VolumeDriver {
  readonly name = 'reflink' as const;
  readonly atomicSnapshot = false;
  readonly copyOnWrite = true;
  readonly restoresInPlace = false;
  private readonly pool: string;
  /** Rewrites a new snapshot's fragmented files contiguously, in the background (compaction.ts). */
  private readonly compactor: Compactor;
  private readonly log: (message: string) => void;
  constructor(opts: DriverOptions) {
    this.pool = path.resolve(opts.pool);
    this.log = opts.log ?? (() => undefined);
    this.compactor = new Compactor((id) => this.snapshotPath(id), path.join(this.pool, 'tmp'), this.log);
  }

  get backgroundJobs(): number {
    return this.compactor.pending;
  }

  async init(): Promise<void> {
    await guard('preparing the reflink pool', async () => {
      await ensurePoolDirs(this.pool, ['volumes', 'snapshots', 'tmp']);
      await clearDir(path.join(this.pool, 'tmp'));
      await clearDir(path.join(this.pool, 'volumes'), (n) => n.startsWith('.'));
      await clearDir(path.join(this.pool, 'snapshots'), (n) => n.startsWith('.'));
    });
    if (!this.compactor.available) {
      this.log('filefrag (e2fsprogs) was not found, so snapshots are not compacted: after scattered changes a restore or branch '
        + 'from a bookmark clones every extent (seconds per GB on XFS). Install e2fsprogs and start the engine again.');
    }
  }

  volumePath(volumeId: string): string {
    checkId('volume', volumeId);
    return path.join(this.pool, 'volumes', volumeId);
  }

  private snapshotPath(snapshotId: string): string {
    checkId('snapshot', snapshotId);
    return path.join(this.pool, 'snapshots', snapshotId);
  }

  async createVolume(volumeId: string, owner?: FileOwner): Promise<void> {
    const vol = this.volumePath(volumeId);
    await guard(`creating volume ${volumeId}`, async () => {
      if (await checkCanCreate(vol, volumeId)) await fixVolumeDir(vol, owner);
      else await prepareVolumeDir(vol, owner);
    });
  }

  async snapshot(volumeId: string, snapshotId: string, progress?: VolumeProgress, online?: OnlineBackup): Promise<void> {
    const vol = this.volumePath(volumeId);
    const snap = this.snapshotPath(snapshotId);
    await guard(`snapshotting volume ${volumeId}`, async () => {
      if (!(await exists(vol))) throw notFound(`volume ${volumeId}`);
      if (await exists(snap)) throw new EngineError('VolumeFailed', `snapshot ${snapshotId} already exists`);
      // Clone under a temp name and rename at the end: a crash never leaves a
      // half snapshot under its final name.
      const partial = path.join(this.pool, 'snapshots', `.partial-${snapshotId}-${tmpSuffix()}`);
      // The snapshot keeps the volume's owner, so loading it back changes no owners.
      await this.cloneOrClean(vol, partial, await ownerToKeep(vol), progress, online);
      await fs.promises.rename(partial, snap);
      await syncDir(path.dirname(snap));
    });
    this.compactor.schedule(snapshotId);
  }

  async restore(volumeId: string, snapshotId: string, { owner, progress }: RestoreOptions = {}): Promise<void> {
    const vol = this.volumePath(volumeId);
    const snap = this.snapshotPath(snapshotId);
    await guard(`restoring volume ${volumeId} from snapshot ${snapshotId}`, async () => {
      if (!(await exists(snap))) throw notFound(`snapshot ${snapshotId}`);
      const fresh = path.join(this.pool, 'volumes', `.restore-${volumeId}-${tmpSuffix()}`);
      await this.compactor.hold(snapshotId, () => this.cloneOrClean(snap, fresh, owner, progress));
      // Swap at the directory level: the volume is at every moment either the
      // old tree, missing (a re-run recreates it), or the complete new tree.
      const old = path.join(this.pool, 'volumes', `.old-${volumeId}-${tmpSuffix()}`);
      const hadOld = await exists(vol);
      if (hadOld) await fs.promises.rename(vol, old);
      await fs.promises.rename(fresh, vol);
      await syncDir(path.dirname(vol));
      if (hadOld) await removePath(old);
    });
  }

  async deleteVolume(volumeId: string): Promise<void> {
    const vol = this.volumePath(volumeId);
    await guard(`deleting volume ${volumeId}`, () => removeTree(vol, path.join(this.pool, 'tmp')));
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    const snap = this.snapshotPath(snapshotId);
    await guard(`deleting snapshot ${snapshotId}`, () => this.compactor.hold(snapshotId, () => removeTree(snap, path.join(this.pool, 'tmp')), true));
  }

  readonly readsFromBase = true;

  async readSnapshot<T>(snapshotId: string, fn: (reader: SnapshotReader) => Promise<T>, base?: ReadBase): Promise<T> {
    const snap = this.snapshotPath(snapshotId);
    if (!(await exists(snap))) throw notFound(`snapshot ${snapshotId}`);
    const baseRoot = base && this.snapshotPath(base.snapshotId);
    return readFolderSnapshot(snap, fn, base && baseRoot && (await exists(baseRoot)) ? { ...base, root: baseRoot } : undefined);
  }

  async hasSnapshot(snapshotId: string): Promise<boolean> {
    const snap = this.snapshotPath(snapshotId);
    return guard(`looking up snapshot ${snapshotId}`, () => exists(snap));
  }

  /** Portable APIs cannot tell which extents clones share, so summing blocks
   *  counts a shared block once per clone. The file system's own "used" figure
   *  is exact when the pool has the file system to itself. Take the smaller:
   *  an upper bound that is tight in both common cases. */
  async diskUsage(): Promise<number> {
    return guard('measuring the reflink pool', async () => {
      const summed = await allocatedBytes(this.pool);
      const st = await fs.promises.statfs(this.pool);
      const fsUsed = (st.blocks - st.bfree) * st.bsize;
      return Math.min(summed, fsUsed);
    });
  }

  /** Clone `src` into the new directory `dst`; on failure remove what was made. */
  private async cloneOrClean(src: string, dst: string, owner: FileOwner | undefined, progress?: VolumeProgress,
    online?: OnlineBackup): Promise<void> {
    try {
      await cloneTree(src, dst, owner, progress, online);
    } catch (err) {
      await removePath(dst).catch(() => undefined);
      throw err;
    }
    await fixVolumeDir(dst, owner);
  }
}

/**
 * Recreate the tree `src` at `dst` (which must not exist): directories and
 * symlinks are recreated, files are reflinked, modes are preserved and
 * everything is chowned to `owner`. Sockets and FIFOs are skipped: they cannot
 * be cloned and PostgreSQL recreates its own. The source is read through
 * handles (volumeFiles.ts); `dst` is new, inside root's own pool folders.
 * With `online`, `src` is a running database in a backup (driver.ts).
 */
export async function cloneTree(src: string, dst: string, owner: FileOwner | undefined, cb?: VolumeProgress,
  online?: OnlineBackup): Promise<void> {
  await fs.promises.mkdir(dst, { mode: 0o700 });
  await VolumeTree.with(src, (from) => VolumeTree.with(dst, (to) => cloneInto(from, to, owner, cb, online)));
}

async function cloneInto(from: VolumeTree, to: VolumeTree, owner: FileOwner | undefined, cb?: VolumeProgress,
  online?: OnlineBackup): Promise<void> {
  const scanned = await from.scan();
  await faultPoint('volume:after-scan');
  const progress = new Progress(cb);
  const entries = online ? copiedDuringBackup(scanned) : scanned;
  const dirs = entries.filter((e) => e.kind === 'dir');
  // Directories start 0700 so we can fill them even when their final mode is
  // read-only; their real modes are set last, children before parents.
  for (const d of dirs) await to.mkdir(d.rel, 0o700);
  await cloneLeaves(from, to, entries, owner, progress, online !== undefined);
  if (online) {
    const end = await online.finish();
    const wal = await scanWal(from, online.startLsn, end.stopLsn);
    const walDirs = wal.filter((e) => e.kind === 'dir');
    for (const d of walDirs) await to.mkdir(d.rel, 0o700);
    dirs.push(...walDirs);
    await cloneLeaves(from, to, wal, owner, progress, true);
    for (const [rel, data] of end.files) await writeLeaf(to, rel, data, owner);
  }
  for (const d of [...dirs].reverse()) await to.fixDir(d.rel, Number(d.st.mode) & 0o7777, owner);
  // Durable before the caller renames it into place and the engine records it: each file was
  // synced as it was cloned, and now the folders. Not a syncfs of the pool, which would also
  // flush what the running databases wrote (after a 1% scattered change, a gigabyte of a
  // 2.4 GB database): that made a cold restore cost 1.4 to 6.2 s in the bench (run F).
  await to.syncDirs();
  progress.finish();
}

/** Clone the files and symlinks of `entries`, each file synced. */
async function cloneLeaves(from: VolumeTree, to: VolumeTree, entries: TreeEntry[], owner: FileOwner | undefined,
  progress: Progress, online: boolean): Promise<void> {
  const leaves = entries.filter((e) => e.kind === 'file' || e.kind === 'symlink');
  for (const e of leaves) if (e.kind === 'file') progress.addTotal(Number(e.st.size));
  // Under root, a file not owned by the source's owner was not made by its PostgreSQL.
  const ownerUid = process.getuid?.() === 0 ? Number(from.rootStat.uid) : undefined;
  await mapLimit(leaves, CLONE_CONCURRENCY, async (e) => {
    try {
      await cloneLeaf(from, to, e, owner, ownerUid);
    } catch (err) {
      if (online && vanished(err)) return; // a running database removed or replaced it: WAL replay rebuilds it
      throw err;
    }
    progress.advance(Number(e.st.size));
  });
}

/** A file that exists only in the snapshot (a backup label). */
async function writeLeaf(to: VolumeTree, rel: string, data: Buffer, owner: FileOwner | undefined): Promise<void> {
  const fh = await to.openFile(rel, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    await fh.writeFile(data);
    if (owner) await fh.chown(owner.uid, owner.gid);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function cloneLeaf(from: VolumeTree, to: VolumeTree, e: TreeEntry, owner: FileOwner | undefined,
  ownerUid: number | undefined): Promise<void> {
  if (e.kind === 'symlink') return to.symlink(await from.readlink(e.rel), e.rel, owner);
  const src = await from.readFile(e, ownerUid);
  try {
    const dst = await to.openFile(e.rel, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      // FICLONE from the open source into the open destination: neither path is looked up again.
      await fs.promises.copyFile(`/proc/self/fd/${src.fd}`, `/proc/self/fd/${dst.fd}`, fs.constants.COPYFILE_FICLONE_FORCE);
      const mode = Number(e.st.mode) & 0o7777;
      if (mode !== 0o600) await dst.chmod(mode); // 0600, PostgreSQL's own, is how openFile made it
      if (owner) await dst.chown(owner.uid, owner.gid);
      await dst.sync(); // a clone writes no data: this only forces the file system's log
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
