import { ContainerListRequest, ContainerShowRequest, ContainerUrlRequest, type NameParams } from '../../protocol';
import type { OpContext } from '../engine';
import { anchorsOf, currentSpan, restorableForClients } from '../spans';
import { findContainer } from '../lookup';
import { DATABASE, SUPERUSER } from '../postgres/cluster';
import { connectHost, containerView } from '../views';
import { containerRef, object } from '../validate';
import { operation } from './operation';

export const parseName = (raw: unknown): NameParams => ({ name: containerRef(object(raw), 'name') });

/** container list: the caller's own containers (an admin sees everyone's). */
export const containerList = operation(ContainerListRequest.type, () => ({}), async ({ engine, caller }: OpContext) =>
  Promise.all(engine.store.allContainers()
    .filter((c) => engine.canSee(caller, c.owner))
    .map((c) => containerView(engine, c))));

export const containerShow = operation(ContainerShowRequest.type, parseName, async ({ engine, caller }: OpContext, p: NameParams) => {
  const c = findContainer(engine, caller, p.name);
  const spans = engine.store.allSpans().filter((s) => s.containerId === c.id);
  const restorable = restorableForClients(engine.store, c.activeBranchId);
  const current = currentSpan(engine.store, c.activeBranchId);
  const newestAnchorAt = current && anchorsOf(engine.store, current).pop()?.at;
  const wal = { bytes: await engine.walRetention.bytesOf(spans), restorable, ...(newestAnchorAt ? { newestAnchorAt } : {}), ...engine.config.wal };
  return { ...await containerView(engine, c), wal };
});

/** container url NAME: the connection string. Only the owner is told the password. */
export const containerUrl = operation(ContainerUrlRequest.type, parseName, async ({ engine, caller }: OpContext, p: NameParams) => {
  const c = findContainer(engine, caller, p.name);
  const host = connectHost(c.listen);
  return {
    url: `postgres://${SUPERUSER}:${encodeURIComponent(c.password)}@${host}:${c.port}/${DATABASE}`,
    host, port: c.port, user: SUPERUSER, password: c.password, database: DATABASE,
  };
});
