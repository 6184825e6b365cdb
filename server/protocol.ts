/**
 * The one protocol module. Every request and notification between the engine
 * and its clients (CLI, extension, tests) is defined here, one namespace per
 * method, in the manner of vscode-eslint's customMessages.ts and
 * rust-analyzer's lsp_ext.ts. Nothing in this file may import engine code or
 * `vscode`: every side imports it.
 */
import { NotificationType, ProgressType, RequestType } from 'vscode-jsonrpc';

/** 2: `timeline` answers a page (`TimelinePage`, newest first) instead of an array. */
export const PROTOCOL_VERSION = 2;

// ---------------------------------------------------------------- errors

/** Stable error codes. The numeric value travels as the JSON-RPC error code;
 *  the name travels in `data.code` and is what the CLI prints with --json. */
export const ErrorCodes = {
  InvalidName: -33001,
  NameTaken: -33002,
  NotFound: -33003,
  Ambiguous: -33004,
  InvalidArgument: -33005,
  PortInUse: -33006,
  Busy: -33007,
  InUse: -33008,
  SourceFailed: -33009,
  DatabaseFailed: -33010,
  VolumeFailed: -33011,
  Cancelled: -33012,
  NoSpace: -33013,
  Unauthorized: -33014,
  Forbidden: -33015,
  /** An S3-compatible remote refused or failed a request (remotes: bookmark push and pull). */
  RemoteFailed: -33016,
  Internal: -33099,
} as const;
export type ErrorCodeName = keyof typeof ErrorCodes;

/** Is `value` one of the stable code names? The one check for a code read off an
 *  untyped error (`data.code` on the wire, an EngineError caught as `unknown`);
 *  `in` would also accept "toString" and the other names an object inherits. */
export function isErrorCodeName(value: unknown): value is ErrorCodeName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, value);
}

export interface ErrorData {
  code: ErrorCodeName;
}

// ---------------------------------------------------------------- model

export type DriverName = 'btrfs' | 'reflink' | 'blocks';
export type DriverChoice = DriverName | 'auto';

export type SourceSpec =
  | { kind: 'empty' }
  | { kind: 'sql'; files: string[] }
  | { kind: 'dump'; file: string }
  | { kind: 'url'; url: string }
  | { kind: 'command'; command: string; cwd: string };

export interface TemplateVersionInfo {
  version: number;
  createdAt: string;
  /** Containers and bookmarks that still use this version. */
  usedBy: number;
}

export interface TemplateInfo {
  id: string;
  name: string;
  source: SourceSpec;
  latestVersion: number;
  versions: TemplateVersionInfo[];
  createdAt: string;
  owner: string;
  /** The remote its versions were pulled from: it cannot be refreshed here. */
  pulledFrom?: string;
}

export interface ContainerInfo {
  id: string;
  name: string;
  template: string;
  templateVersion: number;
  owner: string;
  host: string;
  port: number;
  database: string;
  user: string;
  driver: DriverName;
  activeBranch: string;
  branches: number;
  /** What the engine sees of the database, not what it wishes: `running` only while the
   *  postmaster really runs; `failed` when it should run and does not (see `failure`);
   *  `stopped` for a moment inside an operation (a switch, a clean-shutdown bookmark). */
  state: ContainerState;
  /** Set when `state` is `failed`. */
  failure?: ContainerFailure;
  createdAt: string;
  /** container show only: its WAL archives, and the moments its active branch can be restored to. */
  wal?: {
    bytes: number;
    restorable: RestorableRange[];
    /** The newest snapshot of the active branch's current history: a restore to a moment after it replays the WAL from there. */
    newestAnchorAt?: string;
  } & WalKept;
}

export type ContainerState = 'running' | 'stopped' | 'failed';

/** Why a container's database is down when it should run, and what to do about it. */
export interface ContainerFailure {
  /** Short, from the error: "no space left on the pool", "port 25432 is taken by another program". */
  reason: string;
  /** What to do next, e.g. free space, then `slipstream container start NAME`. */
  action: string;
  /** When the engine found it so (ISO time). */
  at: string;
}

export type BranchOrigin =
  | { kind: 'template'; template: string; version: number }
  | { kind: 'bookmark'; bookmarkId: string; bookmark: string }
  | { kind: 'branch'; branch: string; at?: string };

export interface BranchInfo {
  id: string;
  name: string;
  container: string;
  active: boolean;
  origin: BranchOrigin;
  createdAt: string;
  gitBranch?: string;
  /** A spare of its reset point is ready, so a restore to it or a reset is a swap (engines
   *  that keep spares only). */
  spareReady?: boolean;
  /** Dehydrated: its data is kept as a snapshot, not a volume, so activating it first
   *  materialises it (blocks driver, beyond the engine's warm branches per container). */
  cold?: boolean;
}

export interface GitContext {
  branch?: string;
  commit?: string;
  remote?: string;
}

/** How a bookmark's snapshot was made consistent. */
export type Consistency =
  | 'clean-shutdown' // database stopped, snapshot taken, database started again
  | 'atomic-snapshot' // crash-consistent atomic snapshot of a running database; WAL replays on start
  | 'online-backup'; // copied while running, between pg_backup_start and pg_backup_stop; WAL replays on start

export interface BookmarkInfo {
  id: string;
  name: string;
  container: string;
  branch: string;
  template: string;
  owner: string;
  shared: boolean;
  tags: string[];
  note: string;
  createdAt: string;
  consistency: Consistency;
  /** The moment the data is from (ISO 8601), and its WAL position when known. Bookmarks made by 0.1 have neither. */
  asOf?: string;
  lsn?: string;
  git?: GitContext;
  /** Branches (in any container) created from this bookmark. */
  dependents: number;
  /** A bookmark pulled from a remote: which, when, and who made it on the engine it came from. */
  pulled?: { remote: string; at: string; owner: string };
}

/** An S3-compatible place bookmarks are pushed to and pulled from. Never its credentials:
 *  the engine takes those from the standard AWS environment variables and profile files. */
export interface RemoteInfo {
  name: string;
  /** s3://BUCKET/PREFIX */
  url: string;
  endpoint?: string;
  region?: string;
  /** Objects are encrypted client-side with a key this engine keeps (`remote key NAME` shows it). */
  encrypted: boolean;
  createdAt: string;
}

/** A bookmark as a remote holds it (bookmark list --remote). */
export interface RemoteBookmarkInfo {
  id: string;
  name: string;
  template: string;
  templateVersion: number;
  container: string;
  branch: string;
  owner: string;
  tags: string[];
  note: string;
  createdAt: string;
  pushedAt: string;
  git?: GitContext;
}

/** What a push or pull moved. */
export interface TransferInfo {
  bookmark: BookmarkInfo;
  remote: string;
  /** Chunks (64 KiB of a file, before compression) the bookmark and its template version hold, zeros excepted. */
  chunks: number;
  /** Chunks that crossed the network, and their bytes on the wire (compressed). */
  chunksMoved: number;
  bytesMoved: number;
  /** The template version crossed too (it was not on the other side yet). */
  templateMoved: boolean;
  /** Bytes of local snapshots read from disk: what a push hashed and sent, what a pull copied
   *  from a local snapshot. A push after a small change reads little of it. */
  bytesRead: number;
  seconds: number;
}

export type EventKind =
  | 'container-created'
  | 'branch-created'
  | 'branch-activated'
  | 'branch-deleted'
  | 'branch-linked'
  | 'branch-unlinked'
  | 'bookmark-created'
  | 'bookmark-shared'
  | 'bookmark-unshared'
  | 'bookmark-tagged'
  | 'bookmark-deleted'
  | 'restored'
  | 'reset'
  | 'refreshed';

export interface TimelineEvent {
  seq: number;
  at: string;
  user: string;
  container: string;
  kind: EventKind;
  branch: string;
  bookmark?: { id: string; name: string };
  detail?: string;
  /** A point-in-time restore: the moment the branch's data was rebuilt as of. */
  moment?: string;
}

/** One page of a container's timeline, newest first. */
export interface TimelinePage {
  events: TimelineEvent[];
  /** Pass it as `before` for the next, older page. Absent when no older events are left. */
  before?: number;
  /** What each branch can be restored to with `restore --at` (oldest first), now. */
  restorable: Array<{ branch: string; ranges: RestorableRange[] }>;
}

export interface EngineStatus {
  protocol: number;
  version: string;
  engineId: string;
  pid: number;
  home: string;
  pool: string;
  driver: DriverName;
  /** The pool is on a loop-mounted image (`engine start --pool-image`); admins only. */
  poolImage?: PoolImageStatus;
  postgres: string;
  user: string;
  startedAt: string;
  containers: number;
  templates: number;
  /** The caller's containers (an admin's: everyone's) whose database should run and does not. */
  failed: FailedContainer[];
  /** What this engine's start did with every database that should run, the caller's only. */
  startup: DatabaseStart[];
  /** Background jobs running now, engine-wide: spare builds, dehydrations, old volumes being
   *  deleted. 0 when the engine is idle. */
  backgroundJobs: number;
  /** What the engine keeps of each branch's WAL for point-in-time restores. */
  wal: WalKept;
}

export interface WalKept {
  retentionHours: number;
  /** Per container, in MiB; 0: no cap. */
  capMb: number;
  /** How often a running branch that wrote WAL is captured for point-in-time restores; 0: never. */
  captureSeconds: number;
}

/** A stretch of a branch's history that `restore --at` can rebuild (ISO times, inclusive). */
export interface RestorableRange {
  from: string;
  to: string;
}

export interface PoolImageStatus {
  /** The image file, in the engine's home. */
  file: string;
  bytes: number;
  fs: 'btrfs' | 'xfs';
  /** Mounted at the pool right now (it should always be while the engine runs). */
  mounted: boolean;
}

export interface FailedContainer extends ContainerFailure {
  container: string;
  owner: string;
}

/** One database the engine tried to start (or found running) when it started. */
export interface DatabaseStart {
  container: string;
  owner: string;
  result: 'started' | 'failed';
  /** Its previous start had failed: `started` means it came back. */
  wasFailed: boolean;
  /** Set when `result` is `failed`. */
  reason?: string;
}

export interface UserInfo {
  name: string;
  admin: boolean;
  createdAt: string;
}

/** Only `user add` ever returns a token; the engine keeps just its hash. */
export interface NewUser extends UserInfo {
  token: string;
}

export interface ConnectionInfo {
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

// ---------------------------------------------------------------- params

/** Long operations accept a progress token; the engine reports through `$/progress`. */
export interface WithProgress {
  workDoneToken?: string;
}

export interface NameParams { name: string }
export interface ContainerParams { container: string }
export interface BookmarkRefParams {
  /** A bookmark id, or a name that is unique among the bookmarks the caller can see
   *  (within `container` when it is given). */
  bookmark: string;
  container?: string;
}

export interface TemplateCreateParams extends WithProgress { name: string; source: SourceSpec }
export interface ContainerCreateParams extends WithProgress { name: string; template: string; port?: number }
/** Where a new branch's data comes from: the template's latest version, a bookmark, or a
 *  branch's current data. */
export type BranchFrom = { kind: 'template' } | { kind: 'bookmark'; bookmark: string } | { kind: 'branch'; branch: string }
  /** A branch's data as of a moment of its history (RestoreToMomentParams' forms); the active branch's without `branch`. */
  | { kind: 'moment'; at: string; branch?: string };
export interface BranchCreateParams extends WithProgress {
  container: string;
  name: string;
  /** Omitted: the container's active branch's current data, as `git branch NAME` starts from HEAD. */
  from?: BranchFrom;
  activate?: boolean;
}
export interface BranchParams extends WithProgress { container: string; name: string }
export interface BranchLinkParams { container: string; name: string; gitBranch: string }
export interface BookmarkCreateParams extends WithProgress {
  container: string;
  name: string;
  tags?: string[];
  note?: string;
  share?: boolean;
  git?: GitContext;
}
export interface BookmarkListParams {
  container?: string;
  /** With `container`: only those taken on this branch (whether or not it still exists). */
  branch?: string;
  /** With `container`: only those whose branch no longer exists. */
  orphaned?: boolean;
  shared?: boolean;
  /** Newest first (the order the trees show); without it, oldest first. */
  newest?: boolean;
  /** At most this many (1–10000). Without it, all of them. */
  limit?: number;
  /** The id of the last bookmark of the previous page: this page starts after it, in the same order. */
  after?: string;
}
export interface BookmarkTagParams extends BookmarkRefParams { add?: string[]; remove?: string[] }
export interface RestoreParams extends WithProgress { container: string; bookmark: string }
export interface ContainerOpParams extends WithProgress { container: string }
/** restore --at: `at` is ISO 8601 with a zone (`2026-12-01T19:40:05.250Z`, `…+01:00`) or
 *  relative to the engine's clock (`-90s`, `-5m`, `-2h`, `-1d`). */
export interface RestoreToMomentParams extends WithProgress { container: string; at: string }
/** What a point-in-time restore rebuilt, and from what. */
export interface MomentRestored {
  branch: BranchInfo;
  /** The moment, as the engine read it (UTC). */
  moment: string;
  /** The snapshot it started from: a bookmark, or one the engine captured itself. */
  from: { snapshotId: string; at: string; bookmark?: string };
  /** WAL replayed on that snapshot, in bytes, when the snapshot's WAL position is known. */
  walReplayedBytes?: number;
}
/** `encrypt`: a new key, for a new remote; `key`: the key of an encrypted remote (from `remote key` on an engine that has it). */
export interface RemoteAddParams { name: string; url: string; endpoint?: string; region?: string; encrypt?: boolean; key?: string }
/** `bookmark`: only this one (an id), to show before a pull. */
export interface RemoteBookmarksParams { remote: string; bookmark?: string }
export interface BookmarkPushParams extends WithProgress { bookmark: string; container?: string; remote: string }
/** `bookmark`: the remote bookmark's id, or a name unique on the remote. */
export interface BookmarkPullParams extends WithProgress { bookmark: string; remote: string }
export interface TimelineParams {
  container: string;
  /** At most this many (1–100000), newest first. Without it, 1000. */
  limit?: number;
  /** The `before` of the previous page (the seq of its oldest event): this page holds
   *  the events older than it. Without it, the newest events. */
  before?: number;
}

// ---------------------------------------------------------------- requests

/** The first request on a TCP connection. Until it succeeds every other request
 *  is refused with Unauthorized. Unix-socket clients are the engine's owner and
 *  need not call it. */
export namespace AuthenticateRequest {
  export const method = 'engine/authenticate';
  export const type = new RequestType<{ token: string }, UserInfo, ErrorData>(method);
}
export namespace WhoAmIRequest {
  export const method = 'user/whoami';
  export const type = new RequestType<Record<string, never>, UserInfo, ErrorData>(method);
}
export namespace UserAddRequest {
  export const method = 'user/add';
  export const type = new RequestType<{ name: string; admin?: boolean }, NewUser, ErrorData>(method);
}
export namespace UserListRequest {
  export const method = 'user/list';
  export const type = new RequestType<Record<string, never>, UserInfo[], ErrorData>(method);
}
export namespace UserRemoveRequest {
  export const method = 'user/remove';
  export const type = new RequestType<NameParams, UserInfo, ErrorData>(method);
}

export namespace EngineStatusRequest {
  export const method = 'engine/status';
  export const type = new RequestType<Record<string, never>, EngineStatus, ErrorData>(method);
}
export namespace EngineShutdownRequest {
  export const method = 'engine/shutdown';
  export const type = new RequestType<Record<string, never>, { stopped: number }, ErrorData>(method);
}

export namespace TemplateCreateRequest {
  export const method = 'template/create';
  export const type = new RequestType<TemplateCreateParams, TemplateInfo, ErrorData>(method);
}
export namespace TemplateRefreshRequest {
  export const method = 'template/refresh';
  export const type = new RequestType<NameParams & WithProgress, TemplateInfo, ErrorData>(method);
}
export namespace TemplateListRequest {
  export const method = 'template/list';
  export const type = new RequestType<Record<string, never>, TemplateInfo[], ErrorData>(method);
}
export namespace TemplateDeleteRequest {
  export const method = 'template/delete';
  export const type = new RequestType<NameParams, TemplateInfo, ErrorData>(method);
}

export namespace ContainerCreateRequest {
  export const method = 'container/create';
  export const type = new RequestType<ContainerCreateParams, ContainerInfo, ErrorData>(method);
}
export namespace ContainerListRequest {
  export const method = 'container/list';
  export const type = new RequestType<Record<string, never>, ContainerInfo[], ErrorData>(method);
}
export namespace ContainerShowRequest {
  export const method = 'container/show';
  export const type = new RequestType<NameParams, ContainerInfo, ErrorData>(method);
}
export namespace ContainerDeleteRequest {
  export const method = 'container/delete';
  export const type = new RequestType<NameParams & WithProgress, ContainerInfo, ErrorData>(method);
}
/** Start a container's database again, e.g. after a failed start once its cause is fixed.
 *  A database that already runs is left as it is. */
export namespace ContainerStartRequest {
  export const method = 'container/start';
  export const type = new RequestType<NameParams, ContainerInfo, ErrorData>(method);
}
export namespace ContainerUrlRequest {
  export const method = 'container/url';
  export const type = new RequestType<NameParams, ConnectionInfo, ErrorData>(method);
}

export namespace BranchCreateRequest {
  export const method = 'branch/create';
  export const type = new RequestType<BranchCreateParams, BranchInfo, ErrorData>(method);
}
export namespace BranchActivateRequest {
  export const method = 'branch/activate';
  export const type = new RequestType<BranchParams, BranchInfo, ErrorData>(method);
}
export namespace BranchListRequest {
  export const method = 'branch/list';
  export const type = new RequestType<ContainerParams, BranchInfo[], ErrorData>(method);
}
export namespace BranchDeleteRequest {
  export const method = 'branch/delete';
  export const type = new RequestType<BranchParams, BranchInfo, ErrorData>(method);
}

/** Link a data branch to a git branch, so checking out the git branch activates it.
 *  Kept in the engine so the CLI and every window see the same links. */
export namespace BranchLinkRequest {
  export const method = 'branch/link';
  export const type = new RequestType<BranchLinkParams, BranchInfo, ErrorData>(method);
}
export namespace BranchUnlinkRequest {
  export const method = 'branch/unlink';
  export const type = new RequestType<BranchParams, BranchInfo, ErrorData>(method);
}

export namespace BookmarkCreateRequest {
  export const method = 'bookmark/create';
  export const type = new RequestType<BookmarkCreateParams, BookmarkInfo, ErrorData>(method);
}
export namespace BookmarkListRequest {
  export const method = 'bookmark/list';
  export const type = new RequestType<BookmarkListParams, BookmarkInfo[], ErrorData>(method);
}
export namespace BookmarkShowRequest {
  export const method = 'bookmark/show';
  export const type = new RequestType<BookmarkRefParams, BookmarkInfo, ErrorData>(method);
}
export namespace BookmarkShareRequest {
  export const method = 'bookmark/share';
  export const type = new RequestType<BookmarkRefParams, BookmarkInfo, ErrorData>(method);
}
export namespace BookmarkUnshareRequest {
  export const method = 'bookmark/unshare';
  export const type = new RequestType<BookmarkRefParams, BookmarkInfo, ErrorData>(method);
}
export namespace BookmarkTagRequest {
  export const method = 'bookmark/tag';
  export const type = new RequestType<BookmarkTagParams, BookmarkInfo, ErrorData>(method);
}
export namespace BookmarkDeleteRequest {
  export const method = 'bookmark/delete';
  export const type = new RequestType<BookmarkRefParams, BookmarkInfo, ErrorData>(method);
}

export namespace RestoreRequest {
  export const method = 'restore';
  export const type = new RequestType<RestoreParams, BranchInfo, ErrorData>(method);
}
export namespace RestoreToMomentRequest {
  export const method = 'restore/at';
  export const type = new RequestType<RestoreToMomentParams, MomentRestored, ErrorData>(method);
}
export namespace ResetRequest {
  export const method = 'reset';
  export const type = new RequestType<ContainerOpParams, BranchInfo, ErrorData>(method);
}
export namespace RefreshRequest {
  export const method = 'refresh';
  export const type = new RequestType<ContainerOpParams, ContainerInfo, ErrorData>(method);
}
export namespace TimelineRequest {
  export const method = 'timeline';
  export const type = new RequestType<TimelineParams, TimelinePage, ErrorData>(method);
}

export namespace RemoteAddRequest {
  export const method = 'remote/add';
  export const type = new RequestType<RemoteAddParams, RemoteInfo, ErrorData>(method);
}
export namespace RemoteListRequest {
  export const method = 'remote/list';
  export const type = new RequestType<Record<string, never>, RemoteInfo[], ErrorData>(method);
}
export namespace RemoteRemoveRequest {
  export const method = 'remote/remove';
  export const type = new RequestType<NameParams, RemoteInfo, ErrorData>(method);
}
/** An encrypted remote's key, for another engine's `remote add --key` (admins). */
export namespace RemoteKeyRequest {
  export const method = 'remote/key';
  export const type = new RequestType<NameParams, { name: string; key: string }, ErrorData>(method);
}
/** What a remote holds: its bookmarks, oldest first. */
export namespace RemoteBookmarksRequest {
  export const method = 'remote/bookmarks';
  export const type = new RequestType<RemoteBookmarksParams, RemoteBookmarkInfo[], ErrorData>(method);
}
/** Upload what the remote lacks of a bookmark and its template version; the bookmark's
 *  record is written last, so a half push is never visible. */
export namespace BookmarkPushRequest {
  export const method = 'bookmark/push';
  export const type = new RequestType<BookmarkPushParams, TransferInfo, ErrorData>(method);
}
/** Bring a remote bookmark and its template version here, fetching only the chunks this
 *  engine lacks: an ordinary local bookmark afterwards. */
export namespace BookmarkPullRequest {
  export const method = 'bookmark/pull';
  export const type = new RequestType<BookmarkPullParams, TransferInfo, ErrorData>(method);
}

// ---------------------------------------------------------------- notifications

/** Sent to every connected client after any change, so trees and timelines update live. */
export interface ChangedParams {
  what: 'template' | 'container' | 'branch' | 'bookmark';
  /** Container name, when the change belongs to one. */
  container?: string;
  /** The timeline event the change appended, when it appended one. */
  event?: TimelineEvent;
}
export namespace ChangedNotification {
  export const method = 'slipstream/changed';
  export const type = new NotificationType<ChangedParams>(method);
}

// ---------------------------------------------------------------- progress

/** The LSP work-done shape, so any JSON-RPC client that knows `$/progress` can show it. */
export type WorkDoneProgress =
  | { kind: 'begin'; title: string; cancellable?: boolean; message?: string; percentage?: number }
  | { kind: 'report'; message?: string; percentage?: number }
  | { kind: 'end'; message?: string };
export const workDoneProgress = new ProgressType<WorkDoneProgress>();

/** Every request type above, for tables that need the whole list (the engine's dispatcher, tests). */
export const allRequests = [
  AuthenticateRequest, WhoAmIRequest, UserAddRequest, UserListRequest, UserRemoveRequest,
  EngineStatusRequest, EngineShutdownRequest,
  TemplateCreateRequest, TemplateRefreshRequest, TemplateListRequest, TemplateDeleteRequest,
  ContainerCreateRequest, ContainerListRequest, ContainerShowRequest, ContainerDeleteRequest, ContainerStartRequest, ContainerUrlRequest,
  BranchCreateRequest, BranchActivateRequest, BranchListRequest, BranchDeleteRequest, BranchLinkRequest, BranchUnlinkRequest,
  BookmarkCreateRequest, BookmarkListRequest, BookmarkShowRequest, BookmarkShareRequest,
  BookmarkUnshareRequest, BookmarkTagRequest, BookmarkDeleteRequest,
  RestoreRequest, RestoreToMomentRequest, ResetRequest, RefreshRequest, TimelineRequest,
  RemoteAddRequest, RemoteListRequest, RemoteRemoveRequest, RemoteKeyRequest, RemoteBookmarksRequest, BookmarkPushRequest, BookmarkPullRequest,
] as const;
