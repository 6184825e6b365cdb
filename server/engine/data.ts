import * as fs from 'fs';
import type { Consistency } from '../protocol';
import { log, type ClusterRef, type Engine, type Progress } from './engine';
import { EngineError, volumeError } from './errors';
import { now } from './ids';
import { withOnlineBackup } from './postgres/backup';
import * as cluster from './postgres/cluster';
import { clearForeign, hasForeignData, markForeign } from './postgres/runDir';
import { changesSoFar, type ChangesSoFar } from './postgres/walSummaries';
import type { ContainerRecord } from './records';
import { shellWord } from './startFailure';

/**
 * The moves data operations are made of: capture a branch's volume as a snapshot,
 * and clone a snapshot into a new volume. Every branch owns its volume, so a switch
 * is neither: it stops one database and starts another (operations/activate.ts).
 * Branch create clones; restore, reset and refresh clone and swap (operations/rewind.ts).
 */

/** How a capture was made consistent, and as of when. */
export interface Captured {
  consistency: Consistency;
  /** When the data is from: the snapshot, the end of the online backup, or the stop. */
  asOf: string;
  /** The WAL position it is consistent at, when the database could say. */
  lsn?: string;
}

/** Snapshot the active branch's volume without cutting a session where the driver allows:
 *  an atomic snapshot after a CHECKPOINT (which keeps WAL replay short), or an online
 *  base backup (postgres/backup.ts). Otherwise (a database that is down, or a backup
 *  that cannot start) the database is stopped cleanly first and started again after. */
export async function captureVolume(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress): Promise<Captured> {
  const spec = engine.clusterOf(c);
  const running = await cluster.isRunning(spec);
  if (running) await checkRoom(engine);
  if (running && engine.driver.atomicSnapshot) {
    const lsn = await cluster.withLocalClient(spec, async (client) => {
      await client.query('CHECKPOINT');
      return String((await client.query('SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn')).rows[0].lsn);
    });
    await snapshotNow(engine, c, snapshotId, progress);
    return { consistency: 'atomic-snapshot', asOf: now(), lsn };
  }
  if (running) {
    const online = await onlineCapture(engine, c, snapshotId, progress).catch((err) => undoOnline(engine, c, snapshotId, err));
    if (online.started) return { consistency: 'online-backup', asOf: now(), lsn: online.lsn };
    progress.report(`an online backup could not start (${online.reason}); stopping the database instead`);
  }
  return offlineCapture(engine, c, snapshotId, progress);
}

/**
 * A capture (a bookmark, or a branch made from a branch's current data) that PostgreSQL
 * made fail: the message leads with what was not made, that nothing changed, and what to
 * do; what PostgreSQL said comes last, labelled and trimmed (the engine log keeps all of
 * it). Errors that already say what to do (NoSpace, PortInUse, an unclean stop, a
 * volume's failure) pass through as they are.
 */
export async function captureFailed(engine: Engine, c: ContainerRecord, notMade: string, again: string, err: unknown): Promise<unknown> {
  const said = err instanceof cluster.PostgresFailed ? err.said : serverSaid(err);
  if (said === undefined) return err;
  const failed = err instanceof cluster.PostgresFailed ? `the engine could not ${err.doing} for container "${c.name}"`
    : `PostgreSQL refused the engine's request in container "${c.name}"`;
  const running = await cluster.isRunning(engine.clusterOf(c)).catch(() => false);
  const todo = running ? `fix the cause PostgreSQL gives (last in this message), then ${again}`
    : `fix the cause PostgreSQL gives (last in this message), run \`slipstream container start ${shellWord(c.name)}\`, then ${again}`;
  return new EngineError('DatabaseFailed', `${notMade}, and nothing changed: ${failed}. What to do: ${todo} `
    + `(an admin finds PostgreSQL's whole output in the engine log). PostgreSQL said: ${said.replace(/\n/g, ' | ')}`);
}

/** What a PostgreSQL server error (the pg client's DatabaseError) says, trimmed; undefined for anything else. */
function serverSaid(err: unknown): string | undefined {
  const e = err as { severity?: unknown; message?: unknown; detail?: unknown; hint?: unknown } | null;
  if (!e || typeof e !== 'object' || typeof e.severity !== 'string' || typeof e.message !== 'string') return undefined;
  const lines = [`${e.severity}: ${e.message}`];
  if (typeof e.detail === 'string' && e.detail) lines.push(`DETAIL: ${e.detail}`);
  if (typeof e.hint === 'string' && e.hint) lines.push(`HINT: ${e.hint}`);
  return cluster.postgresSaid(lines.join('\n'));
}

/** Snapshot the active branch's volume as it is now (stopped, or atomically). */
function snapshotNow(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress): Promise<void> {
  return captureIdleVolume(engine, c, engine.activeVolume(c), snapshotId, progress);
}

/**
 * A running database writes WAL at every checkpoint, and PostgreSQL stops with a PANIC
 * when it cannot. A capture of a running database checkpoints (and a copy fills the pool
 * further), so on a pool with almost no room it would take the user's database down.
 * Refuse before touching anything instead.
 */
export const ROOM_FOR_CAPTURE = 64 * 1024 * 1024;

/** Bytes free on the pool's file system, for the engine's user. */
export async function poolFreeBytes(engine: Engine): Promise<number> {
  const st = await fs.promises.statfs(engine.config.pool);
  return st.bavail * st.bsize;
}

async function checkRoom(engine: Engine): Promise<void> {
  const free = await poolFreeBytes(engine);
  if (free >= ROOM_FOR_CAPTURE) return;
  throw new EngineError('NoSpace', `no space left on the pool for a snapshot: it has ${(free / 1048576).toFixed(1)} MiB free, and a snapshot of a running database `
    + `needs at least ${ROOM_FOR_CAPTURE / 1048576} MiB (for its WAL and what it copies); nothing was changed. `
    + 'Free some space (delete branches or bookmarks) and try again.');
}

/** An online copy that failed: drop what it stored (on a full pool, that is what the
 *  database needs to write again), and start the database if the failure took it down. */
async function undoOnline(engine: Engine, c: ContainerRecord, snapshotId: string, err: unknown): Promise<never> {
  await engine.driver.deleteSnapshot(snapshotId).catch(() => undefined);
  if (!(await cluster.isRunning(engine.clusterOf(c)))) await engine.startDatabase(c).catch(() => undefined);
  throw err;
}

/** Copy the running database inside pg_backup_start/pg_backup_stop. */
async function onlineCapture(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress) {
  progress.report('starting an online backup');
  const asked = performance.now();
  return withOnlineBackup(engine.clusterOf(c), snapshotId, async (online) => {
    // pg_backup_start's checkpoint writes what the database changed since its last one.
    log(`container ${c.name}: snapshot ${snapshotId}: the online backup started in ${Math.round(performance.now() - asked)} ms (its checkpoint)`);
    progress.report('copying the running database');
    await recordCapture(engine, c, snapshotId);
    await engine.driver.snapshot(engine.activeVolume(c), snapshotId, bytes(progress, 'online backup'), online)
      .catch((err) => { throw volumeError(err, 'online backup failed'); });
  });
}

async function offlineCapture(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress): Promise<Captured> {
  progress.report('stopping the database');
  const stopped = await engine.stopDatabase(c);
  if (!stopped.clean) {
    await engine.startDatabase(c).catch(() => undefined);
    throw cluster.uncleanStop(stopped.reason, 'no snapshot was taken');
  }
  const asOf = now();
  try {
    await snapshotNow(engine, c, snapshotId, progress);
  } catch (err) {
    // What the half-made snapshot stored goes first: on a full pool it is what keeps the restart from writing.
    await engine.driver.deleteSnapshot(snapshotId).catch(() => undefined);
    await engine.startDatabase(c);
    throw err;
  }
  progress.report('starting the database');
  await engine.startDatabase(c);
  return { consistency: 'clean-shutdown', asOf };
}

/** Record, before it exists, that the snapshot is this container's own data, unless the
 *  volume holds foreign data not yet sanitised: a capture of that stays foreign. */
async function recordCapture(engine: Engine, c: ContainerRecord, snapshotId: string, volumeId?: string): Promise<void> {
  if (await hasForeignData(engine.clusterOf(c, volumeId))) return;
  engine.store.tx(() => engine.store.putCapture(snapshotId, c.id));
}

/** Snapshot a volume whose database is down (or a driver's atomic snapshot): the copy is as it is. */
export async function captureIdleVolume(engine: Engine, c: ContainerRecord, volumeId: string, snapshotId: string,
  progress: Progress): Promise<void> {
  progress.report('taking the snapshot');
  await engine.checkpoints.written(volumeId);
  await recordCapture(engine, c, snapshotId, volumeId);
  await engine.driver.snapshot(volumeId, snapshotId, bytes(progress, 'snapshot')).catch((err) => {
    throw volumeError(err, 'snapshot failed');
  });
}

/** Make `volumeId` (a new volume of one of the container's branches, or one a crash left
 *  half-made) hold the snapshot's data. Whatever database runs keeps running: no file of
 *  its volume is touched. Foreign data is marked before it lands, so a crash before its
 *  first start still sanitises it. */
export async function cloneInto(engine: Engine, c: ContainerRecord, volumeId: string, snapshotId: string,
  progress: Progress, changes?: ChangesSoFar): Promise<void> {
  const spec = engine.clusterOf(c, volumeId);
  const own = engine.isOwnSnapshot(c, snapshotId);
  if (!own) await markForeign(spec);
  progress.report('loading the data');
  try {
    await engine.driver.restore(volumeId, snapshotId, { owner: engine.ownerOf(c), progress: bytes(progress, 'loading'), changes });
  } catch (err) {
    throw volumeError(err, 'loading the data failed');
  }
  if (own) await clearForeign(spec);
}

/** Before an in-place restore or a switch stops a branch's database: what it can say about the
 *  pages changed in its volume since the volume's last capture (postgres/walSummaries.ts).
 *  Undefined, with the reason in the log, when it cannot: files changed are then read whole. */
export async function changesBeforeStop(engine: Engine, c: ContainerRecord, volumeId: string): Promise<ChangesSoFar | undefined> {
  const since = await engine.driver.lastCaptureLsn?.(volumeId);
  if (!since) return undefined;
  const spec = engine.clusterOf(c, volumeId);
  let why: string;
  try {
    if (!(await cluster.isRunning(spec))) return undefined;
    const t0 = Date.now();
    const answer = await cluster.withLocalClient(spec, (client) => changesSoFar(client, since));
    if (!('reason' in answer)) {
      log(`container ${c.owner}/${c.name}: volume ${volumeId}: ${answer.pages.pageCount} pages changed since ${since} up to ${answer.walFrom}, asked in ${Date.now() - t0} ms`);
      return answer;
    }
    why = answer.reason;
  } catch (err) {
    why = (err as Error).message;
  }
  log(`container ${c.owner}/${c.name}: the changed pages of volume ${volumeId} are not known (${why}); a restore or a capture of it reads changed files whole`);
  return undefined;
}

/** Delete a branch's volume and its foreign-data marker. Idempotent, for recovery. */
export async function dropVolume(engine: Engine, c: ClusterRef, volumeId: string): Promise<void> {
  await engine.checkpoints.written(volumeId);
  await engine.driver.deleteVolume(volumeId);
  await clearForeign(engine.clusterOf(c, volumeId));
}

/** Delete volumes a journal entry names, with their markers while their container exists.
 *  Idempotent, for recovery; missing or undefined ids are skipped. */
export async function dropVolumes(engine: Engine, containerId: string, volumeIds: ReadonlyArray<string | undefined>): Promise<void> {
  const c = engine.store.container(containerId);
  for (const v of volumeIds) {
    if (!v) continue;
    if (c) await dropVolume(engine, c, v);
    else await engine.checkpoints.written(v).then(() => engine.driver.deleteVolume(v));
  }
}

function bytes(progress: Progress, what: string) {
  let last = -1;
  return (done: number, total: number) => {
    const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
    if (pct === last) return;
    last = pct;
    progress.report(`${what}: ${mib(done)} of ${mib(total)} MiB`, pct);
  };
}

const mib = (n: number) => (n / 1048576).toFixed(1);
