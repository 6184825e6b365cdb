import type { DriverName } from '../../protocol';
import type { ChangedPages, ChangesSoFar } from '../postgres/walSummaries';
import type { ListedEntry, ReadBase, SnapshotReader } from './snapshotReader';

/** Who must own the files of a volume: under a root engine, the OS user its container's
 *  PostgreSQL runs as (or the shared PostgreSQL user, for template builds). */
export interface FileOwner {
  uid: number;
  gid: number;
}

/** Optional byte-level progress from a long volume step. */
export type VolumeProgress = (done: number, total: number) => void;

/** Gets the chunks a driver lacks for importSnapshot: calls `put` once with each one's bytes,
 *  checked against its id (its sha256). */
export type FillChunks = (ids: readonly string[], put: (id: string, raw: Buffer) => Promise<void>) => Promise<void>;

/**
 * A volume is a writable directory that holds one PostgreSQL data directory
 * (a branch's working volume, or a template build). A snapshot is an
 * immutable capture of a volume, addressed by id across the whole pool, so a
 * snapshot taken in one container can be restored into another.
 *
 * Drivers differ only in how they snapshot, clone and restore; "clone" is a
 * restore into a volume that does not exist yet. Every method is idempotent
 * enough to be re-run by crash recovery: restore() may be repeated after a crash
 * half-way through, deleteSnapshot()/deleteVolume() of something missing is a no-op.
 */
export interface VolumeDriver {
  readonly name: DriverName;
  /** True when snapshot() of a running database is atomic, so it is crash-consistent
   *  without stopping PostgreSQL. False means the caller must stop the database first. */
  readonly atomicSnapshot: boolean;
  /** True when a clone shares blocks with its snapshot (btrfs, reflink): a new volume costs
   *  only what later changes in it. False (blocks): every clone is a full copy. */
  readonly copyOnWrite: boolean;
  /** After a switch stopped the volume's database at once, before anything else runs on it: note
   *  which pages changed since its last capture (what the server said before the stop, and its
   *  WAL), so a later capture of the stopped volume reads only those. Blocks only. */
  noteStopped?(volumeId: string, changes: ChangesSoFar): Promise<void>;
  /** True when a restore should rewrite the branch's own volume, stopped, rather than build a
   *  new one beside it (blocks: a new volume is a full copy, an old one differs in a few pages). */
  readonly restoresInPlace: boolean;
  /** Where the WAL summaries of a volume must start to say what changed in it since it was last
   *  captured or restored (RestoreOptions.changes); undefined when they cannot. */
  lastCaptureLsn?(volumeId: string): Promise<string | undefined>;
  /** Create the pool's folders. Called once when the engine starts. */
  init(): Promise<void>;
  /** Absolute path of a volume's directory (the PostgreSQL data directory). */
  volumePath(volumeId: string): string;
  /** Capture the volume's current contents as snapshot `snapshotId`. Fails if it exists.
   *  With `online`, PostgreSQL runs in a backup (see OnlineBackup); drivers with
   *  atomicSnapshot never get one. */
  snapshot(volumeId: string, snapshotId: string, progress?: VolumeProgress, online?: OnlineBackup): Promise<void>;
  /** As snapshot() of a stopped volume that is deleted right after, never started again (a
   *  template build's): the driver may make the volume's files the snapshot's own instead of
   *  copying them (blocks). */
  snapshotLast?(volumeId: string, snapshotId: string, progress?: VolumeProgress): Promise<void>;
  /** Make snapshot `snapshotId` straight from a list of files and their chunk ids (a pull), asking
   *  `fill` only for the chunks the pool lacks. No volume is written: where a snapshot is a list
   *  of chunks (blocks), writing the files and capturing them again would copy every byte twice. */
  importSnapshot?(snapshotId: string, entries: readonly ListedEntry[], fill: FillChunks): Promise<void>;
  /** Make the volume's contents exactly those of the snapshot, creating the volume if missing.
   *  With an owner, every file of the volume is the owner's afterwards, whoever owned the
   *  snapshot: a bookmark of one container may be loaded into another's. */
  restore(volumeId: string, snapshotId: string, opts?: RestoreOptions): Promise<void>;
  /** Create an empty volume (0700, owned by `owner` if given) for initdb. */
  createVolume(volumeId: string, owner?: FileOwner): Promise<void>;
  deleteVolume(volumeId: string): Promise<void>;
  deleteSnapshot(snapshotId: string): Promise<void>;
  hasSnapshot(snapshotId: string): Promise<boolean>;
  /** Read the snapshot's files and their chunks (a remote push, or the local side of a pull);
   *  the snapshot stays readable until `fn` ends. Where `readsFromBase`, chunks shared on disk
   *  with `base` (a snapshot whose chunk ids are known) are not read. */
  readSnapshot<T>(snapshotId: string, fn: (reader: SnapshotReader) => Promise<T>, base?: ReadBase): Promise<T>;
  /** Whether readSnapshot gains from a base: the folder drivers hash what they read, the blocks
   *  driver has every chunk's id in its manifest anyway. */
  readonly readsFromBase: boolean;
  /** Bytes the pool really uses on disk (volumes, snapshots and shared chunks, counted once). */
  diskUsage(): Promise<number>;
  /** Work the driver still does on its own after a call returned (reflink: compacting new
   *  snapshots); engine status counts it among the background jobs. */
  readonly backgroundJobs?: number;
}

/**
 * A copy of a running database, between pg_backup_start and pg_backup_stop. The driver
 * copies every file outside ONLINE_WAL_DIR, skipping what vanishes meanwhile and the
 * running server's own files (onlineBackup.ts); then awaits finish(), which ends the
 * backup and returns the files to add (backup_label, tablespace_map); then copies
 * ONLINE_WAL_DIR as it is at that moment. Starting a copy replays that WAL from the
 * backup's checkpoint, which mends every page the copy caught half-written.
 */
export interface OnlineBackup {
  /** Where the backup starts: its checkpoint's redo point. */
  readonly startLsn: string;
  /** The pages changed from `since` (the startLsn of an earlier capture of the same volume)
   *  to startLsn, from the WAL summaries; or why they cannot tell. */
  changedSince(since: string): Promise<ChangedPages | { reason: string }>;
  finish(): Promise<BackupEnd>;
}

export interface BackupEnd {
  /** Files the backup adds to the copy: backup_label, tablespace_map. */
  files: Map<string, Buffer>;
  /** Where the backup ended: WAL summaries that end later describe WAL the copy may not
   *  hold whole, so they are left out of it (onlineBackup.ts). */
  stopLsn: string;
}

export interface RestoreOptions {
  /** Without one, files belong to whoever writes them (the engine's own user). */
  owner?: FileOwner;
  progress?: VolumeProgress;
  /** For an in-place restore: what the volume's running database said about its changed pages
   *  just before it stopped (from lastCaptureLsn). Without it, changed files are compared whole. */
  changes?: ChangesSoFar;
}

export interface DriverOptions {
  pool: string;
  /** Where a driver reports what its background work did (the engine's log). */
  log?: (message: string) => void;
}
