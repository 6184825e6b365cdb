import type { BranchOrigin, Consistency, ContainerFailure, DriverName, EventKind, GitContext, SourceSpec } from '../protocol';

/** What the engine stores in LMDB. The protocol's *Info types are views of these. */

export interface TemplateVersionRecord {
  version: number;
  snapshotId: string;
  createdAt: string;
}

export interface TemplateRecord {
  id: string;
  name: string;
  source: SourceSpec;
  owner: string;
  createdAt: string;
  versions: TemplateVersionRecord[];
  /** Versions pulled from this remote (bookmark pull): the source stayed on the engine that built it. */
  pulledFrom?: string;
}

export interface ContainerRecord {
  id: string;
  name: string;
  owner: string;
  templateId: string;
  templateVersion: number;
  port: number;
  /** The OS user id its PostgreSQL runs as, when the engine runs as root and can give
   *  files away; otherwise the engine's shared PostgreSQL user (or its own) runs it. */
  uid?: number;
  listen: string;
  password: string;
  driver: DriverName;
  /** The branch whose volume is the database's data directory right now. Each branch owns
   *  its volume (BranchRecord.volumeId); the runtime directory (socket, hba, log) is the container's. */
  activeBranchId: string;
  /** Whether the database should be running; the engine restores this on start. */
  running: boolean;
  /** The last start of its database failed, and why; the next start that works clears it. */
  failure?: ContainerFailure;
  createdAt: string;
}

export interface BranchRecord {
  id: string;
  containerId: string;
  name: string;
  origin: BranchOrigin;
  createdAt: string;
  /** The branch's working volume, its data for life, active or not. A switch stops one
   *  branch's database and starts another's; only branch create and restore, reset and
   *  refresh make a new volume (a restore swaps it for the old one). While the branch is
   *  `cold`, this names the volume it had, which is gone; materialising gives it a new one. */
  volumeId: string;
  /** What reset returns to: the snapshot of the branch's last restore, refresh or bookmark,
   *  or the one it was created from. A switch is no reset point: it captures nothing. */
  baseSnapshotId: string;
  /** A ready volume holding `snapshotId` (spares.ts), never started: a restore or reset to that
   *  snapshot takes it instead of cloning. Recorded only once complete; while one is built, a
   *  `spare-build` journal entry names its volume. Stale when `snapshotId` is no longer the base. */
  spare?: { volumeId: string; snapshotId: string };
  /** Dehydrated (coldBranches.ts): its data is this snapshot, taken with its database down, and
   *  it has no volume and no spare. Activating it materialises the snapshot into a new volume. */
  cold?: { snapshotId: string };
  /** A capture of its volume taken with its database down since it was last active
   *  (coldBranches.ts, "ahead"): the branch can then go cold, or give its volume to a cold
   *  branch being activated, without reading its data. Dropped when it is activated. */
  ready?: { snapshotId: string };
  /** When it last stopped being (or became) the active branch; what decides which branches stay
   *  materialised. Absent in records made before it: their `createdAt` stands in. */
  lastActiveAt?: string;
  /** A restore, reset or refresh has replaced its data at least once: on blocks only such a
   *  branch gets a spare (spares.ts). */
  rewound?: true;
  gitBranch?: string;
}

export interface BookmarkRecord {
  id: string;
  name: string;
  containerId: string;
  branchId: string;
  branchName: string;
  templateId: string;
  templateVersion: number;
  snapshotId: string;
  owner: string;
  shared: boolean;
  tags: string[];
  note: string;
  createdAt: string;
  consistency: Consistency;
  /** When the data is from, and its WAL position; absent in bookmarks made by 0.1. */
  asOf?: string;
  lsn?: string;
  git?: GitContext;
  /** Pulled from a remote: its container and branch live on the engine that made it, and
   *  `owner` there made it (the local owner is who pulled it). */
  pulled?: { remote: string; at: string; owner: string; container: string };
}

/** An S3-compatible remote (remotes/). Credentials are never stored: the AWS SDK finds them. */
export interface RemoteRecord {
  name: string;
  bucket: string;
  /** Empty, or ends with '/'. */
  prefix: string;
  endpoint?: string;
  region?: string;
  /** Client-side encryption's key (32 bytes, base64): remotes/seal.ts. */
  key?: string;
  createdAt: string;
}

/**
 * One stretch of a branch's history whose WAL is unbroken: from when the branch's data was made
 * (branch create) or replaced (restore, reset, refresh) to when it was replaced again. Its WAL is
 * archived into its own folder (spans.ts), so any moment inside it can be rebuilt: the nearest
 * anchor before the moment, plus that WAL replayed up to it (operations/pointInTime.ts). A
 * restore starts a new span and ends the current one, which stays as the abandoned history
 * until retention drops it.
 */
export interface SpanRecord {
  id: string;
  containerId: string;
  branchId: string;
  startedAt: string;
  /** When its data was replaced: moments before it are in the archive (see flushedAt); absent while current. */
  endedAt?: string;
  /** The commit time of the engine's last flush of its WAL to the archive (spans.ts,
   *  flushWal): the end of what an ended span can be restored to. */
  flushedAt?: string;
  /** Snapshots of this span's data to replay from, oldest first: the one it began from, and the
   *  engine's own captures. (Bookmarks taken of the branch inside the span are anchors too.) */
  anchors: SpanAnchor[];
}

export interface SpanAnchor {
  snapshotId: string;
  /** When the snapshot's data is from (Captured.asOf): WAL committed later is replayed on it. */
  at: string;
  lsn?: string;
}

export interface EventRecord {
  seq: number;
  at: string;
  user: string;
  containerId: string;
  kind: EventKind;
  branch: string;
  bookmark?: { id: string; name: string };
  detail?: string;
  /** A point-in-time restore's moment. */
  moment?: string;
}

/** A multi-step operation, written before it touches disk or a process, removed in
 *  the same transaction that records its result. Whatever is left at start-up was
 *  interrupted, and recovery finishes or rolls it back. This is the stored shape, the
 *  same for every operation; journal.ts has each operation's own record type. */
export interface StoredJournalEntry {
  id: string;
  op: string;
  startedAt: string;
  /** The last step that completed; recovery decides from it. */
  step: string;
  data: Readonly<Record<string, unknown>>;
}

export interface UserRecord {
  name: string;
  admin: boolean;
  /** SHA-256 of the token; the token itself is never stored. */
  tokenHash: string;
  createdAt: string;
}
