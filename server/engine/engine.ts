import * as path from 'path';
import type { ChangedParams, ContainerFailure, ContainerState, DatabaseStart, DriverName, EventKind, TimelineEvent } from '../protocol';
import { EngineError } from './errors';
import { faultPoint } from './faults';
import { newId, now } from './ids';
import { Locks } from './locks';
import { ColdBranches } from './coldBranches';
import { Checkpoints } from './checkpoints';
import { QuietCheckpoints } from './quietCheckpoints';
import { Spares, type SparesSetting } from './spares';
import type { PoolImage } from './poolImage';
import type { PgBinaries } from './postgres/binaries';
import * as cluster from './postgres/cluster';
import { uidOwner } from './postgres/pgUser';
import { clearForeign, hasForeignData } from './postgres/runDir';
import { sanitise } from './postgres/sanitise';
import type { Recovery } from './postgres/walArchive';
import { endTenantProcesses } from './postgres/tenantProcesses';
import { journalSnapshots, type FirstStep, type JournalData, type JournalOp, type JournalRecord, type JournalStep } from './journal';
import type { ContainerRecord, EventRecord, StoredJournalEntry } from './records';
import { anchorSnapshots, archiveDirForStart } from './spans';
import { WalRetention, type WalLimits } from './walRetention';
import { IntervalCapture } from './anchors';
import { startFailure, stoppedOutside } from './startFailure';
import type { Store } from './store';
import { eventInfo } from './views';
import type { FileOwner, VolumeDriver } from './volumes/driver';

/** What locates a container's database: enough for a crash recovery to stop one never recorded.
 *  Its data directory is a branch's volume: the active branch's unless a caller names another. */
export type ClusterRef = Pick<ContainerRecord, 'id' | 'port' | 'listen' | 'uid'> & { activeBranchId?: string };

/** How to stop a database: which branch's volume (the active one's by default) and whether
 *  at once, for data about to be discarded. */
export interface StopOptions {
  volumeId?: string;
  immediate?: boolean;
}

/** Who is asking. Local Unix-socket clients are the engine's owner, an admin. */
export interface Caller {
  name: string;
  admin: boolean;
}

export interface Progress {
  report(message: string, percentage?: number): void;
}

/** One client connection. Unix-socket sessions start as the engine's owner; TCP
 *  sessions have no caller until they authenticate with a token. */
export interface Session {
  caller?: Caller;
  /** A TCP session's rights come from the token it presented, not from its user's
   *  name: a name can be removed and given again, with another token and more rights. */
  tokenHash?: string;
}

/** What every operation gets: the engine, who asks, and the request's progress and cancellation. */
export interface OpContext {
  engine: Engine;
  caller: Caller;
  session: Session;
  progress: Progress;
  signal: AbortSignal;
}

export interface EngineConfig {
  engineId: string;
  /** The owner of Unix-socket clients' containers; reserved, no team user may be named so. */
  localOwner: string;
  home: string;
  pool: string;
  runRoot: string;
  version: string;
  startedAt: string;
  pgBinDirs: string[];
  /** Where new containers' databases listen. */
  dbListen: string;
  /** The loop-mounted image the pool is on, if it is. */
  poolImage?: PoolImage;
  /** Which branches keep a ready spare of their reset point (spares.ts); unset: the
   *  driver's default, `on` where a spare is copy-on-write, `restored` where it is a full copy. */
  spares?: SparesSetting;
  /** How many branches of a container stay materialised on a driver that dehydrates
   *  (coldBranches.ts), the active one included; at least 1. */
  warmBranches: number;
  /** How often running databases are looked at for a quiet checkpoint (quietCheckpoints.ts); 0: never. */
  quietCheckpointMs: number;
  /** How long and how much WAL is kept for point-in-time restores (walRetention.ts). */
  wal: WalLimits;
}

/**
 * The engine's shared state and the small helpers every operation needs:
 * database start/stop, the journal, events, snapshots' lifetime and locks.
 * Operations themselves live one per file in operations/.
 */
export class Engine {
  readonly locks = new Locks();
  readonly spares = new Spares(this);
  /** Work an operation left behind after answering (background()). */
  private readonly chores = new Set<Promise<void>>();
  readonly cold = new ColdBranches(this);
  /** Checkpoints of branches a switch stopped at once (checkpoints.ts). */
  readonly checkpoints = new Checkpoints(this);
  /** Checkpoints of running databases gone quiet (quietCheckpoints.ts). */
  readonly quiet = new QuietCheckpoints(this);
  /** Pruning of the WAL archives (walRetention.ts). */
  readonly walRetention = new WalRetention(this);
  /** The engine's own captures of running branches, for point-in-time restores (anchors.ts). */
  readonly intervalCapture = new IntervalCapture(this);
  private listeners: Array<(p: ChangedParams, owner?: string) => void> = [];

  constructor(
    readonly config: EngineConfig,
    readonly store: Store,
    readonly driver: VolumeDriver,
    readonly bins: PgBinaries,
    /** The shared PostgreSQL user under root (template builds run as it), else none. */
    readonly owner: FileOwner | undefined,
    /** Whether each new container gets an OS user id of its own (root, and ids can be given out). */
    readonly containerUids = false,
  ) {}

  get driverName(): DriverName {
    return this.driver.name;
  }

  // ------------------------------------------------------------ databases

  /** Who a container's PostgreSQL runs as and its files belong to. */
  ownerOf(c: Pick<ContainerRecord, 'uid'>): FileOwner | undefined {
    return c.uid === undefined ? this.owner : uidOwner(c.uid);
  }

  /** The active branch's volume: the container's data directory. Read from the store, so it
   *  follows a restore that swapped the branch's volume even for a caller's older record. */
  activeVolume(c: ClusterRef): string {
    const branch = c.activeBranchId ? this.store.branch(c.activeBranchId) : undefined;
    if (!branch) throw new EngineError('Internal', `container ${c.id} has no active branch record, so the engine cannot find its data`);
    return branch.volumeId;
  }

  clusterOf(c: ClusterRef, volumeId = this.activeVolume(c)): cluster.ClusterSpec {
    return {
      dataDir: this.driver.volumePath(volumeId),
      runDir: path.join(this.config.runRoot, c.id),
      port: c.port,
      listen: c.listen,
      owner: this.ownerOf(c),
      copyOnWrite: this.driver.copyOnWrite,
    };
  }

  /** Set once the engine stops: an operation still running past the grace period
   *  must not start a database behind the engine's back. */
  stopping = false;

  /** What this engine's start did with the databases that should run (engine status shows it). */
  startup: DatabaseStart[] = [];

  /** Start (or adopt) a container's database. A start that fails is recorded on the container,
   *  so every view says `failed` and why until a later start works, which clears it. */
  async startDatabase(c: ContainerRecord, volumeId?: string, recovery?: Recovery): Promise<void> {
    if (this.stopping) {
      throw new EngineError('Cancelled', `the engine is stopping, so the database of "${c.name}" stays down; start the engine again and it comes back`);
    }
    const volume = volumeId ?? this.activeVolume(c);
    const spec = { ...this.clusterOf(c, volume), archiveDir: await archiveDirForStart(this, c, volume), recovery };
    await this.checkpoints.written(volume);
    try {
      await this.startAndSanitise(c, spec);
    } catch (err) {
      // The user's message has PostgreSQL's lines trimmed; the log keeps all of them.
      const whole = err instanceof cluster.PostgresFailed ? `${err.message}\n${err.output}` : (err as Error).message;
      log(`container ${c.owner}/${c.name}: database did not start: ${whole}`);
      this.recordFailure(c, startFailure(err, c, this.config.pool));
      throw err;
    }
    this.recordFailure(c, undefined);
  }

  /** Start the database; foreign data starts sealed (only the engine can log in) and is
   *  sanitised before anyone else can (postgres/sanitise.ts). */
  private async startAndSanitise(c: ContainerRecord, spec: cluster.ClusterSpec): Promise<void> {
    const foreign = await hasForeignData(spec);
    await cluster.start(this.bins, spec, foreign ? 'sealed' : 'open');
    if (foreign) {
      await faultPoint('start:before-sanitise');
      await sanitise(spec);
    }
    await cluster.setPassword(spec, c.password);
    if (!foreign) return;
    await cluster.unseal(spec);
    await clearForeign(spec);
  }

  /** Whether a snapshot holds this container's own data: captured from its own volume
   *  (recorded by data.ts before the capture). Everything else is foreign, and is
   *  sanitised at its first start (postgres/sanitise.ts). */
  isOwnSnapshot(c: Pick<ContainerRecord, 'id'>, snapshotId: string): boolean {
    return this.store.capturedFrom(snapshotId) === c.id;
  }

  /** Keep (or clear) a failed start on the stored container and on `c` itself, so that an
   *  operation that writes `c` back later keeps the same answer. */
  private recordFailure(c: ContainerRecord, failure: ContainerFailure | undefined): void {
    if (failure) c.failure = failure;
    else delete c.failure;
    const saved = this.store.container(c.id);
    if (!saved || (!failure && !saved.failure)) return; // not recorded yet (create), or nothing to clear
    const next: ContainerRecord = { ...saved, failure };
    if (!failure) delete next.failure;
    this.store.tx(() => this.store.putContainer(next));
    this.notify('container', c);
  }

  /** What a container's database really is. A recorded failed start wins even over a live
   *  postmaster: one that came up but refuses connections (a full pool: it cannot write its
   *  relation cache file) is no database. Otherwise the process table decides, not the
   *  `running` flag, so a database killed behind the engine's back is not reported as running. */
  async databaseState(c: ContainerRecord): Promise<{ state: ContainerState; failure?: ContainerFailure }> {
    if (c.failure) return { state: 'failed', failure: c.failure };
    if (await cluster.isRunning(this.clusterOf(c))) return { state: 'running' };
    // Down on purpose: never asked to run, or an operation is switching its data.
    if (!c.running || this.locks.isHeld(`container:${c.id}`)) return { state: 'stopped' };
    return { state: 'failed', failure: stoppedOutside(c) };
  }

  /** Stop the database, then end every other program of its OS user, so that nothing of
   *  the tenant runs while the engine works in the volume (postgres/tenantProcesses.ts). */
  async stopDatabase(c: ClusterRef & { name?: string }, opts: StopOptions = {}): Promise<cluster.Stopped> {
    const spec = this.clusterOf(c, opts.volumeId ?? this.activeVolume(c));
    const stopped = await cluster.stop(this.bins, spec, opts.immediate ? 'immediate' : 'fast');
    if (!stopped.clean && !opts.immediate) log(`container ${c.name ?? c.id}: the database could not shut down cleanly and was stopped at once: ${stopped.reason}`);
    if (c.uid === undefined) return stopped;
    const ended = await endTenantProcesses(c.uid, c.name ?? c.id);
    if (ended > 0) log(`ended ${ended} program(s) of OS user ${c.uid} (container ${c.name ?? c.id}) left running after its database stopped`);
    return stopped;
  }

  /** Run what is left of an operation once its result is recorded and its caller answered
   *  (deleting a volume nothing runs on). A failure is only logged: the operation's journal
   *  entry still names the work, and the next engine start finishes it. */
  background(what: string, fn: () => Promise<void>): void {
    const job: Promise<void> = fn()
      .catch((err: Error) => log(`${what}: ${err.message}; the next engine start finishes it`))
      .finally(() => this.chores.delete(job));
    this.chores.add(job);
  }

  /** How many background jobs (spare builds, dehydrations, checkpoints, chores, the driver's own) still run. */
  get backgroundJobs(): number {
    return this.chores.size + this.spares.running + this.cold.running + this.checkpoints.running + this.quiet.running + this.walRetention.running + this.intervalCapture.running + (this.driver.backgroundJobs ?? 0);
  }

  // ------------------------------------------------------------ journal

  journalBegin<K extends JournalOp>(op: K, data: JournalData<K>): JournalRecord<K> {
    return this.store.tx(() => this.journalBeginIn(op, data));
  }

  /** journalBegin inside the caller's transaction, for a step that must be journaled
   *  together with the metadata change that starts it. */
  journalBeginIn<K extends JournalOp>(op: K, data: JournalData<K>): JournalRecord<K> {
    const step: FirstStep = 'begin';
    // One record of op K; the compiler cannot see that an object built from a generic K is one.
    const rec = { id: newId('op'), op, startedAt: now(), step, data } as JournalRecord<K>;
    this.store.putJournalEntry(rec);
    return rec;
  }

  journalStep<K extends JournalOp>(rec: JournalRecord<K>, step: JournalStep<K>, data: Partial<JournalData<K>> = {}): void {
    this.store.tx(() => this.journalStepIn(rec, step, data));
  }

  /** journalStep inside the caller's transaction, with the metadata change the step records. */
  journalStepIn<K extends JournalOp>(rec: JournalRecord<K>, step: JournalStep<K>, data: Partial<JournalData<K>> = {}): void {
    rec.step = step;
    rec.data = { ...rec.data, ...data };
    this.store.putJournalEntry(rec);
  }

  /** Call inside the transaction that records the operation's result. */
  journalEnd(rec: Pick<StoredJournalEntry, 'id'>): void {
    this.store.removeJournalEntry(rec.id);
  }

  // ------------------------------------------------------------ events and notifications

  /** Call inside a transaction. Returns the event to pass to notify(). */
  appendEvent(c: ContainerRecord, user: string, kind: EventKind, branch: string,
    extra: Pick<EventRecord, 'bookmark' | 'detail' | 'moment'> = {}): TimelineEvent {
    const seq = this.store.nextEventSeq(c.id);
    const rec: EventRecord = { seq, at: now(), user, containerId: c.id, kind, branch, ...extra };
    this.store.putEvent(rec);
    return eventInfo(rec, c.name);
  }

  /** Listeners get the change and the owner of the container it concerns (none for templates),
   *  so each connection can be told only what its user may see. */
  onChanged(listener: (p: ChangedParams, owner?: string) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  notify(what: ChangedParams['what'], c?: Pick<ContainerRecord, 'name' | 'owner'>, event?: TimelineEvent): void {
    const p: ChangedParams = { what, ...(c ? { container: c.name } : {}), ...(event ? { event } : {}) };
    for (const l of this.listeners) l(p, c?.owner);
  }

  // ------------------------------------------------------------ snapshots

  /** Every snapshot some record still points at. */
  referencedSnapshots(): Set<string> {
    const s = this.store;
    const refs = new Set<string>();
    for (const t of s.allTemplates()) t.versions.forEach((v) => refs.add(v.snapshotId));
    for (const b of s.allBranches()) {
      refs.add(b.baseSnapshotId);
      if (b.spare) refs.add(b.spare.snapshotId);
      if (b.cold) refs.add(b.cold.snapshotId);
      if (b.ready) refs.add(b.ready.snapshotId);
      // A branch of a home made by 0.1 keeps its head until upgrade.ts gives it a volume.
      const head = (b as { headSnapshotId?: string }).headSnapshotId;
      if (head) refs.add(head);
    }
    for (const b of s.allBookmarks()) refs.add(b.snapshotId);
    for (const id of anchorSnapshots(s)) refs.add(id);
    for (const id of this.reading.keys()) refs.add(id);
    for (const j of s.allJournalEntries()) journalSnapshots(j).forEach((id) => refs.add(id));
    return refs;
  }

  /** Snapshots being read outside any lock (a push), with how many readers each. */
  private readonly reading = new Map<string, number>();

  /** Run `fn` with the snapshots kept from deletion; those released meanwhile go after. */
  async whileReading<T>(ids: readonly string[], fn: () => Promise<T>): Promise<T> {
    for (const id of ids) this.reading.set(id, (this.reading.get(id) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      for (const id of ids) {
        const n = this.reading.get(id)! - 1;
        if (n) this.reading.set(id, n); else this.reading.delete(id);
      }
      await this.releaseSnapshots(ids);
    }
  }

  /** Delete the given snapshots that nothing references any more. Failures are only
   *  logged: an orphan snapshot wastes space but loses nothing. */
  async releaseSnapshots(ids: Iterable<string>): Promise<void> {
    const refs = this.referencedSnapshots();
    for (const id of new Set(ids)) {
      if (refs.has(id)) continue;
      await this.driver.deleteSnapshot(id).then(
        () => this.store.tx(() => this.store.removeCapture(id)),
        (err) => log(`could not delete snapshot ${id}: ${err}`));
    }
  }

  // ------------------------------------------------------------ authorisation helpers

  /** Containers are private: someone else's is "not found", so names don't leak. */
  canSee(caller: Caller, owner: string): boolean {
    return caller.admin || caller.name === owner;
  }

  requireAdmin(caller: Caller, doing: string): void {
    if (!caller.admin) throw new EngineError('Forbidden', `only an admin may ${doing}.`);
  }
}

export function log(message: string): void {
  process.stderr.write(`${now()} ${message}\n`);
}
