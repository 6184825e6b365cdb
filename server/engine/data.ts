import type { Consistency } from '../protocol';
import type { ClusterRef, Engine, Progress } from './engine';
import { volumeError } from './errors';
import * as cluster from './postgres/cluster';
import { clearForeign, hasForeignData, markForeign } from './postgres/runDir';
import type { ContainerRecord } from './records';

/**
 * The moves data operations are made of: capture a branch's volume as a snapshot,
 * and clone a snapshot into a new volume. Every branch owns its volume, so a switch
 * is neither: it stops one database and starts another (operations/activate.ts).
 * Branch create clones; restore, reset and refresh clone and swap (operations/rewind.ts).
 */

/** Snapshot the container's volume. On a driver with atomic snapshots the database
 *  keeps running (a CHECKPOINT first keeps WAL replay short); otherwise it is
 *  stopped cleanly first and, unless `leaveStopped`, started again after. */
export async function captureVolume(engine: Engine, c: ContainerRecord, snapshotId: string, progress: Progress,
  leaveStopped = false): Promise<Consistency> {
  const spec = engine.clusterOf(c);
  const online = engine.driver.atomicSnapshot && !leaveStopped && (await cluster.isRunning(spec));
  if (online) {
    await cluster.withLocalClient(spec, (client) => client.query('CHECKPOINT'));
  } else {
    progress.report('stopping the database');
    const stopped = await engine.stopDatabase(c);
    if (!stopped.clean) {
      if (!leaveStopped) await engine.startDatabase(c).catch(() => undefined);
      throw cluster.uncleanStop(stopped.reason, 'no snapshot was taken');
    }
  }
  progress.report('taking the snapshot');
  await recordCapture(engine, c, snapshotId);
  try {
    await engine.driver.snapshot(engine.activeVolume(c), snapshotId, bytes(progress, 'snapshot'));
  } catch (err) {
    // What the half-made snapshot stored goes first: on a full pool it is what keeps the restart from writing.
    await engine.driver.deleteSnapshot(snapshotId).catch(() => undefined);
    if (!leaveStopped) await engine.startDatabase(c);
    throw volumeError(err, 'snapshot failed');
  }
  if (!online && !leaveStopped) {
    progress.report('starting the database');
    await engine.startDatabase(c);
  }
  return online ? 'atomic-snapshot' : 'clean-shutdown';
}

/** Record, before it exists, that the snapshot is this container's own data, unless the
 *  volume holds foreign data not yet sanitised: a capture of that stays foreign. */
async function recordCapture(engine: Engine, c: ContainerRecord, snapshotId: string, volumeId?: string): Promise<void> {
  if (await hasForeignData(engine.clusterOf(c, volumeId))) return;
  engine.store.tx(() => engine.store.captures.putSync(snapshotId, c.id));
}

/** Snapshot an inactive branch's volume: its database is down, so the copy is as it stopped. */
export async function captureIdleVolume(engine: Engine, c: ContainerRecord, volumeId: string, snapshotId: string,
  progress: Progress): Promise<void> {
  progress.report('taking the snapshot');
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
  progress: Progress): Promise<void> {
  const spec = engine.clusterOf(c, volumeId);
  const own = engine.isOwnSnapshot(c, snapshotId);
  if (!own) await markForeign(spec);
  progress.report('loading the data');
  try {
    await engine.driver.restore(volumeId, snapshotId, { owner: engine.ownerOf(c), progress: bytes(progress, 'loading') });
  } catch (err) {
    throw volumeError(err, 'loading the data failed');
  }
  if (own) await clearForeign(spec);
}

/** Delete a branch's volume and its foreign-data marker. Idempotent, for recovery. */
export async function dropVolume(engine: Engine, c: ClusterRef, volumeId: string): Promise<void> {
  await engine.driver.deleteVolume(volumeId);
  await clearForeign(engine.clusterOf(c, volumeId));
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
