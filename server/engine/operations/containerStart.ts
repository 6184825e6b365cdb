import { ContainerStartRequest, type NameParams } from '../../protocol';
import type { OpContext } from '../engine';
import { findContainer } from '../lookup';
import { containerView } from '../views';
import { parseName } from './containerRead';
import { operation } from './operation';

/** container start NAME: start the database again, typically after a failed start once its
 *  cause is fixed. One that runs is left alone. A start that fails again says why, and the
 *  container stays `failed` with the new reason. */
export const containerStart = operation(ContainerStartRequest.type, parseName, async ({ engine, caller }: OpContext, p: NameParams) => {
  const c = findContainer(engine, caller, p.name);
  return engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'container start', async () => {
    await engine.startDatabase(c);
    engine.notify('container', c);
    return containerView(engine, c);
  });
});
