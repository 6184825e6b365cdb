import { EngineShutdownRequest, EngineStatusRequest, PROTOCOL_VERSION } from '../../protocol';
import type { OpContext } from '../engine';
import { operation } from './operation';

export const engineStatus = operation(EngineStatusRequest.type, () => ({}), async ({ engine, caller }: OpContext) => ({
  protocol: PROTOCOL_VERSION,
  version: engine.config.version,
  engineId: engine.config.engineId,
  pid: process.pid,
  // Paths on the engine's host are an admin's business.
  home: caller.admin ? engine.config.home : '',
  pool: caller.admin ? engine.config.pool : '',
  driver: engine.driverName,
  postgres: caller.admin ? engine.bins.dir : '',
  user: caller.name,
  startedAt: engine.config.startedAt,
  containers: engine.store.all(engine.store.containers).filter((c) => engine.canSee(caller, c.owner)).length,
  templates: engine.store.all(engine.store.templates).length,
}));

/** engine stop: answered first, then the daemon stops its databases and exits. The
 *  databases start again with the next engine. */
export const engineShutdown = operation(EngineShutdownRequest.type, () => ({}), async ({ engine, caller }: OpContext) => {
  engine.requireAdmin(caller, 'stop the engine');
  const running = engine.store.all(engine.store.containers).filter((c) => c.running).length;
  setImmediate(() => process.emit('SIGTERM'));
  return { stopped: running };
});
