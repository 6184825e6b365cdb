import { TimelineRequest, type TimelinePage, type TimelineParams } from '../../protocol';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { findContainer } from '../lookup';
import { restorableForClients } from '../spans';
import { containerRef, object, optInt } from '../validate';
import { eventInfo } from '../views';
import { operation } from './operation';

const DEFAULT_PAGE = 1000;
const MAX_PAGE = 100_000;

/** timeline --container C [--limit N] [--before SEQ]: a page of the container's append-only
 *  event log, newest first, and the cursor for the older page after it. */
export const timeline = operation(TimelineRequest.type, (raw): TimelineParams => {
  const o = object(raw);
  return {
    container: containerRef(o, 'container'),
    limit: optInt(o, 'limit', 1, MAX_PAGE),
    before: optInt(o, 'before', 1, Number.MAX_SAFE_INTEGER),
  };
}, async ({ engine, caller }: OpContext, p: TimelineParams): Promise<TimelinePage> => {
  const c = findContainer(engine, caller, p.container);
  // A cursor is the seq of an event a previous page returned; any other number is a mistake
  // (a typo, or a cursor from another container), not an empty page.
  if (p.before !== undefined && !engine.store.event(c.id, p.before)) {
    throw new EngineError('InvalidArgument', `--before ${p.before}: container "${c.name}" has no event ${p.before}. Pass the "before" of the previous page, or leave it out for the newest events.`);
  }
  const limit = p.limit ?? DEFAULT_PAGE;
  // One more than asked says whether an older page exists, without a second read.
  const read = engine.store.eventsOf(c.id, limit + 1, p.before);
  const events = read.slice(0, limit).map((e) => eventInfo(e, c.name));
  const restorable = engine.store.branchesOf(c.id).map((b) => ({
    branch: b.name, ranges: restorableForClients(engine.store, b.id),
  }));
  return read.length > limit ? { events, before: events[events.length - 1].seq, restorable } : { events, restorable };
});
