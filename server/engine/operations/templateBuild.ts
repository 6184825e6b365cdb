import * as path from 'path';
import type { SourceSpec } from '../../protocol';
import type { Engine, OpContext } from '../engine';
import { EngineError, volumeError } from '../errors';
import { newId, newPassword } from '../ids';
import { ephemeralPort } from '../ports';
import * as cluster from '../postgres/cluster';
import { removeRunDir } from '../postgres/runDir';
import type { JournalData, JournalRecord } from '../journal';
import { faultPoint } from '../faults';
import { loadSource } from '../sources';

type BuildOp = 'template-create' | 'template-refresh';
/** What the build adds to its journal entry's data. */
type BuildIds = Pick<JournalData<BuildOp>, 'volumeId' | 'snapshotId' | 'port'>;

/**
 * Build one template version, shared by template create and template refresh:
 * a fresh volume, initdb, start on a private port, load the source, stop
 * cleanly, snapshot, drop the build volume. `commit` records the result in the
 * same transaction that ends the journal entry. Any failure rolls everything back.
 */
export async function buildTemplateVersion<K extends BuildOp>(ctx: OpContext, op: K, data: Omit<JournalData<K>, keyof BuildIds>,
  source: SourceSpec, commit: (journal: JournalRecord<K>, snapshotId: string) => void): Promise<void> {
  const { engine, progress } = ctx;
  const volumeId = newId('vol');
  const snapshotId = newId('snap');
  const port = await ephemeralPort();
  const journal = engine.journalBegin(op, { ...data, volumeId, snapshotId, port });
  const spec = buildSpec(engine, volumeId, port);
  try {
    progress.report('creating a fresh PostgreSQL cluster', 5);
    await engine.driver.createVolume(volumeId, engine.owner).catch((e) => { throw volumeError(e, 'creating the build volume failed'); });
    await cluster.initdb(engine.bins, spec.dataDir, engine.owner);
    const password = newPassword();
    await cluster.start(engine.bins, spec);
    await cluster.setPassword(spec, password);
    progress.report('loading the source', 15);
    await loadSource(source, {
      target: { host: '127.0.0.1', port, user: cluster.SUPERUSER, password, database: cluster.DATABASE },
      pgBinDirs: engine.config.pgBinDirs,
      progress: (message, pct) => progress.report(message, pct === undefined ? undefined : 15 + Math.floor(pct * 0.7)),
      signal: ctx.signal,
    });
    if (ctx.signal.aborted) throw new EngineError('Cancelled', 'the template build was cancelled; nothing was changed.');
    progress.report('stopping the build database', 88);
    const stopped = await cluster.stop(engine.bins, spec);
    if (!stopped.clean) throw cluster.uncleanStop(stopped.reason, 'the build was rolled back');
    progress.report('taking the template snapshot', 92);
    // The build volume is deleted next: its files may become the snapshot's own.
    const { driver } = engine;
    await (driver.snapshotLast ? driver.snapshotLast(volumeId, snapshotId) : driver.snapshot(volumeId, snapshotId))
      .catch((e) => { throw volumeError(e, 'the template snapshot failed'); });
    engine.journalStep(journal, 'snapshotted');
    await faultPoint('template-build:after-snapshot');
    commit(journal, snapshotId);
  } catch (err) {
    await rollbackBuild(engine, journal);
    throw err;
  }
  await removeBuildVolume(engine, volumeId, port);
}

/** Undo whatever a build got to: its database, its volume, its snapshot, its journal entry. */
export async function rollbackBuild<K extends BuildOp>(engine: Engine, journal: JournalRecord<K>): Promise<void> {
  const volumeId = journal.data.volumeId;
  const { port } = journal.data;
  await removeBuildVolume(engine, volumeId, port);
  // The journal entry still exists, so no template records this snapshot yet.
  await engine.driver.deleteSnapshot(journal.data.snapshotId).catch(() => undefined);
  engine.store.tx(() => engine.journalEnd(journal));
}

async function removeBuildVolume(engine: Engine, volumeId: string, port: number): Promise<void> {
  const spec = buildSpec(engine, volumeId, port);
  await cluster.stop(engine.bins, spec).catch(() => undefined);
  await engine.driver.deleteVolume(volumeId).catch(() => undefined);
  await removeRunDir(spec);
}

function buildSpec(engine: Engine, volumeId: string, port: number): cluster.ClusterSpec {
  return {
    dataDir: engine.driver.volumePath(volumeId),
    runDir: path.join(engine.config.runRoot, volumeId),
    port,
    listen: '127.0.0.1',
    owner: engine.owner,
    copyOnWrite: engine.driver.copyOnWrite,
  };
}
