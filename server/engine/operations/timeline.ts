import { TimelineRequest, type TimelineParams } from '../../protocol';
import type { OpContext } from '../engine';
import { findContainer } from '../lookup';
import { containerRef, object, optInt } from '../validate';
import { eventInfo } from '../views';
import { operation } from './operation';

/** timeline --container C: the container's append-only event log, oldest first. */
export const timeline = operation(TimelineRequest.type, (raw): TimelineParams => {
  const o = object(raw);
  return { container: containerRef(o, 'container'), limit: optInt(o, 'limit', 1, 100000) };
}, async ({ engine, caller }: OpContext, p: TimelineParams) => {
  const c = findContainer(engine, caller, p.container);
  return engine.store.eventsOf(c.id, p.limit ?? 1000).map((e) => eventInfo(e, c.name));
});
