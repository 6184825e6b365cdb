/**
 * btrfs driver: every volume is a subvolume and every snapshot a read-only
 * subvolume snapshot, so snapshot, clone and restore are O(1) metadata
 * operations and a snapshot of a running database is atomic.
 *
 * Pool layout:
 *   POOL/volumes/<id>     writable subvolumes (PostgreSQL data directories)
 *   POOL/snapshots/<id>   read-only snapshots (`btrfs subvolume snapshot -r`)
 *   POOL/tmp/             trash for plain directories found where a subvolume belongs
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findSystemTool } from '../../common/executables';
import { EngineError } from '../errors';
import { readFolderSnapshot, type ReadBase, type SnapshotReader } from './snapshotReader';
import type { DriverOptions, FileOwner, RestoreOptions, VolumeDriver, VolumeProgress } from './driver';
import { checkId, ensurePoolDirs, exists, guard, notFound, run } from './util';
import { allocatedBytes, checkCanCreate, chownTree, clearDir, fixVolumeDir, removeTree } from './volumeFiles';

/** A subvolume's root directory always has inode number 256 on btrfs. */
const SUBVOLUME_ROOT_INO = 256n;

export class BtrfsDriver implements VolumeDriver {
  readonly name = 'btrfs' as const;
  readonly atomicSnapshot = true;
  readonly copyOnWrite = true;
  readonly restoresInPlace = false;
  private readonly pool: string;
  private bin: string | undefined;

  constructor(opts: DriverOptions) {
    this.pool = path.resolve(opts.pool);
  }

  async init(): Promise<void> {
    await guard('preparing the btrfs pool', async () => {
      await ensurePoolDirs(this.pool, ['volumes', 'snapshots', 'tmp']);
      await clearDir(path.join(this.pool, 'tmp')); // trash a crash left behind
      this.bin = findSystemTool('btrfs');
      if (!this.bin) {
        throw new EngineError('VolumeFailed', 'the btrfs driver needs the `btrfs` tool: install btrfs-progs, or choose the reflink or blocks driver');
      }
    });
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
      // An empty leftover is accepted (a re-run after a crash), but it must be
      // a subvolume to be snapshotted: a plain directory is replaced.
      if (await checkCanCreate(vol, volumeId)) {
        if (await this.isSubvolume(vol)) return fixVolumeDir(vol, owner);
        await fs.promises.rmdir(vol);
      }
      await this.btrfs('subvolume', 'create', vol);
      await fixVolumeDir(vol, owner);
    });
  }

  async snapshot(volumeId: string, snapshotId: string, progress?: VolumeProgress): Promise<void> {
    const vol = this.volumePath(volumeId);
    const snap = this.snapshotPath(snapshotId);
    await guard(`snapshotting volume ${volumeId}`, async () => {
      if (!(await exists(vol))) throw notFound(`volume ${volumeId}`);
      // `btrfs subvolume snapshot` into an existing directory would nest the
      // snapshot inside it, so an existing id must be refused up front.
      if (await exists(snap)) throw new EngineError('VolumeFailed', `snapshot ${snapshotId} already exists`);
      await this.btrfs('subvolume', 'snapshot', '-r', vol, snap);
      progress?.(1, 1);
    });
  }

  async restore(volumeId: string, snapshotId: string, { owner, progress }: RestoreOptions = {}): Promise<void> {
    const vol = this.volumePath(volumeId);
    const snap = this.snapshotPath(snapshotId);
    await guard(`restoring volume ${volumeId} from snapshot ${snapshotId}`, async () => {
      if (!(await exists(snap))) throw notFound(`snapshot ${snapshotId}`);
      // Delete then snapshot: a crash in between leaves no volume, and a re-run
      // simply creates it, so the step is idempotent.
      await this.removeSubvolume(vol);
      await this.btrfs('subvolume', 'snapshot', snap, vol);
      // A snapshot keeps its files' owner; loaded into another container's volume,
      // every file must change hands (a metadata-only write on btrfs).
      await chownTree(vol, owner);
      await fixVolumeDir(vol, owner);
      progress?.(1, 1);
    });
  }

  async deleteVolume(volumeId: string): Promise<void> {
    const vol = this.volumePath(volumeId);
    await guard(`deleting volume ${volumeId}`, () => this.removeSubvolume(vol));
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    const snap = this.snapshotPath(snapshotId);
    await guard(`deleting snapshot ${snapshotId}`, () => this.removeSubvolume(snap));
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

  /** `btrfs filesystem du` counts extents shared between subvolumes once
   *  ("set shared"), which is exactly the pool's real usage. */
  async diskUsage(): Promise<number> {
    return guard('measuring the btrfs pool', async () => {
      try {
        const out = await this.btrfs('filesystem', 'du', '-s', '--raw', this.pool);
        const cols = out.trim().split('\n').pop()!.trim().split(/\s+/);
        const exclusive = Number(cols[1]);
        const shared = Number(cols[2]);
        if (Number.isFinite(exclusive) && Number.isFinite(shared)) return exclusive + shared;
      } catch {
        // older btrfs-progs: fall back to an upper bound
      }
      return allocatedBytes(this.pool);
    });
  }

  private async isSubvolume(p: string): Promise<boolean> {
    const st = await fs.promises.lstat(p, { bigint: true });
    return st.isDirectory() && st.ino === SUBVOLUME_ROOT_INO;
  }

  /** Remove a subvolume, or a plain directory left where one belongs (e.g. made
   *  by hand); missing is a no-op so crash recovery can repeat it. */
  private async removeSubvolume(p: string): Promise<void> {
    if (!(await exists(p))) return;
    if (await this.isSubvolume(p)) await this.btrfs('subvolume', 'delete', p);
    else await removeTree(p, path.join(this.pool, 'tmp'));
  }

  private async btrfs(...args: string[]): Promise<string> {
    this.bin ??= findSystemTool('btrfs');
    if (!this.bin) throw new EngineError('VolumeFailed', 'the `btrfs` tool is missing: install btrfs-progs');
    return run(this.bin, args);
  }
}
