import type { Consistency } from '../protocol';
import type { Engine, Progress } from './engine';
import { volumeError } from './errors';
import { faultPoint } from './faults';
import { now } from './ids';
import { withOnlineBackup } from './postgres/backup';
import * as cluster from './postgres/cluster';
import { clearForeign, hasForeignData, markForeign } from './postgres/runDir';
import type { ContainerRecord } from './records';

/**
 * The two moves every data operation is made of: capture the container's
 * working volume as a snapshot, and load a snapshot into it. Activate, restore,
 * reset, refresh, bookmark and branch are sequences of these plus metadata.
 */

/** How a capture was made consistent, and as of when. */
export interface Captured {
  consistency: Consistency;
  /** When the data is from: the snapshot, the end of the online backup, or the stop. */
  asOf: string;
  /** The WAL position it is consistent at, when the database could say. */
  lsn?: string;
}

/** Snapshot the container's volume without cutting a session where the driver allows:
 *  an atomic snapshot after a CHECKPOINT (which keeps WAL replay short), or an online
 *  base backup (postgres/backup.ts). Otherwise, and with `leaveStopped`, the database
 *  is stopped cleanly first and, unless `leaveStopped`, started again after. */
export async function captureVolume(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress,
  leaveStopped = false): Promise<Captured> {
  const spec = engine.clusterOf(c);
  const running = !leaveStopped && (await cluster.isRunning(spec));
  if (running && engine.driver.atomicSnapshot) {
    const lsn = await cluster.withLocalClient(spec, async (client) => {
      await client.query('CHECKPOINT');
      return String((await client.query('SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn')).rows[0].lsn);
    });
    await snapshotNow(engine, c, snapshotId, progress);
    return { consistency: 'atomic-snapshot', asOf: now(), lsn };
  }
  if (running) {
    const online = await onlineCapture(engine, c, snapshotId, progress);
    if (online.started) return { consistency: 'online-backup', asOf: now(), lsn: online.lsn };
    progress.report(`an online backup could not start (${online.reason}); stopping the database instead`);
  }
  return offlineCapture(engine, c, snapshotId, progress, leaveStopped);
}

async function snapshotNow(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress): Promise<void> {
  progress.report('taking the snapshot');
  await recordCapture(engine, c, snapshotId);
  await engine.driver.snapshot(c.volumeId, snapshotId, bytes(progress, 'snapshot'))
    .catch((err) => { throw volumeError(err, 'snapshot failed'); });
}

/** Copy the running database inside pg_backup_start/pg_backup_stop. */
async function onlineCapture(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress) {
  progress.report('starting an online backup');
  return withOnlineBackup(engine.clusterOf(c), snapshotId, async (online) => {
    progress.report('copying the running database');
    await recordCapture(engine, c, snapshotId);
    await engine.driver.snapshot(c.volumeId, snapshotId, bytes(progress, 'online backup'), online)
      .catch((err) => { throw volumeError(err, 'online backup failed'); });
  });
}

async function offlineCapture(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress,
  leaveStopped: boolean): Promise<Captured> {
  progress.report('stopping the database');
  const stopped = await engine.stopDatabase(c);
  if (!stopped.clean) {
    if (!leaveStopped) await engine.startDatabase(c).catch(() => undefined);
    throw cluster.uncleanStop(stopped.reason, 'no snapshot was taken');
  }
  const asOf = now();
  try {
    await snapshotNow(engine, c, snapshotId, progress);
  } catch (err) {
    if (!leaveStopped) await engine.startDatabase(c);
    throw err;
  }
  if (!leaveStopped) {
    progress.report('starting the database');
    await engine.startDatabase(c);
  }
  return { consistency: 'clean-shutdown', asOf };
}

/** Record, before it exists, that the snapshot is this container's own data, unless the
 *  volume holds foreign data not yet sanitised: a capture of that stays foreign. */
async function recordCapture(engine: Engine, c: ContainerRecord, snapshotId: string): Promise<void> {
  if (await hasForeignData(engine.clusterOf(c))) return;
  engine.store.tx(() => engine.store.captures.putSync(snapshotId, c.id));
}

/** Stop the database, make the volume's data the snapshot's, start it again on the same port.
 *  Foreign data is marked before it lands, so a crash before its first start still sanitises it. */
export async function loadSnapshot(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress): Promise<void> {
  const own = engine.isOwnSnapshot(c, snapshotId);
  progress.report('stopping the database');
  await engine.stopDatabase(c);
  if (!own) await markForeign(engine.clusterOf(c));
  progress.report('loading the data');
  try {
    await engine.driver.restore(c.volumeId, snapshotId, { owner: engine.ownerOf(c), progress: bytes(progress, 'loading') });
  } catch (err) {
    throw volumeError(err, 'loading the data failed');
  }
  if (own) await clearForeign(engine.clusterOf(c));
  await faultPoint('load:before-start');
  progress.report(`starting the database on port ${c.port}`);
  await engine.startDatabase(c);
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

/** Load `snapshotId`; if that fails half-way, load `fallback` so the container is left
 *  on known data with its database running, then report the first failure. */
export async function loadSnapshotOrFallBack(engine: Engine, c: ContainerRecord, snapshotId: string,
  fallback: string, progress: Progress): Promise<void> {
  try {
    await loadSnapshot(engine, c, snapshotId, progress);
  } catch (err) {
    progress.report('that failed; putting the previous data back');
    await loadSnapshot(engine, c, fallback, progress).catch(() => undefined);
    throw err;
  }
}
