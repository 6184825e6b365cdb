import { EngineShutdownRequest, EngineStatusRequest, PROTOCOL_VERSION, type FailedContainer } from '../../protocol';
import type { Caller, Engine, OpContext } from '../engine';
import { operation } from './operation';
import { poolImageStatus } from '../poolImage';

export const engineStatus = operation(EngineStatusRequest.type, () => ({}), async ({ engine, caller }: OpContext) => ({
  protocol: PROTOCOL_VERSION,
  version: engine.config.version,
  engineId: engine.config.engineId,
  pid: process.pid,
  // Paths on the engine's host are an admin's business.
  home: caller.admin ? engine.config.home : '',
  pool: caller.admin ? engine.config.pool : '',
  driver: engine.driverName,
  ...(caller.admin && engine.config.poolImage ? { poolImage: poolImageStatus(engine.config.poolImage, engine.config.pool) } : {}),
  postgres: caller.admin ? engine.bins.dir : '',
  user: caller.name,
  startedAt: engine.config.startedAt,
  containers: engine.store.allContainers().filter((c) => engine.canSee(caller, c.owner)).length,
  templates: engine.store.allTemplates().length,
  failed: await failedContainers(engine, caller),
  startup: engine.startup.filter((d) => engine.canSee(caller, d.owner)),
  backgroundJobs: engine.backgroundJobs,
  wal: engine.config.wal,
}));

/** The caller's containers whose database should run and does not, with why. */
async function failedContainers(engine: Engine, caller: Caller): Promise<FailedContainer[]> {
  const failed: FailedContainer[] = [];
  for (const c of engine.store.allContainers().filter((x) => engine.canSee(caller, x.owner))) {
    const { failure } = await engine.databaseState(c);
    if (failure) failed.push({ container: c.name, owner: c.owner, ...failure });
  }
  return failed;
}

/** engine stop: answered first, then the daemon stops its databases and exits. The
 *  databases start again with the next engine. */
export const engineShutdown = operation(EngineShutdownRequest.type, () => ({}), async ({ engine, caller }: OpContext) => {
  engine.requireAdmin(caller, 'stop the engine');
  const running = engine.store.allContainers().filter((c) => c.running).length;
  setImmediate(() => process.emit('SIGTERM'));
  return { stopped: running };
});
