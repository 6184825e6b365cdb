import type { Consistency } from '../protocol';
import type { Engine, Progress } from './engine';
import { volumeError } from './errors';
import { faultPoint } from './faults';
import * as cluster from './postgres/cluster';
import { clearForeign, hasForeignData, markForeign } from './postgres/runDir';
import type { ContainerRecord } from './records';

/**
 * The two moves every data operation is made of: capture the container's
 * working volume as a snapshot, and load a snapshot into it. Activate, restore,
 * reset, refresh, bookmark and branch are sequences of these plus metadata.
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
    await engine.driver.snapshot(c.volumeId, snapshotId, bytes(progress, 'snapshot'));
  } catch (err) {
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
