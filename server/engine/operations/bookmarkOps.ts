import {
  BookmarkDeleteRequest, BookmarkListRequest, BookmarkShareRequest, BookmarkShowRequest, BookmarkTagRequest,
  BookmarkUnshareRequest, type BookmarkInfo, type BookmarkListParams, type BookmarkRefParams, type BookmarkTagParams, type EventKind,
} from '../../protocol';
import type { Caller, Engine, OpContext } from '../engine';
import { EngineError } from '../errors';
import { bookmarksBranchedBy, findBookmark, findContainer, visibleBookmark } from '../lookup';
import type { BookmarkRecord } from '../records';
import { bookmarkInfo, bookmarkLookups } from '../views';
import { checkExistingName, checkName, containerRef, object, optBool, optInt, optStr, optStrArray, str } from '../validate';
import { operation } from './operation';

function parseRef(raw: unknown): BookmarkRefParams {
  const o = object(raw);
  return { bookmark: str(o, 'bookmark', 256), container: o.container === undefined ? undefined : containerRef(o, 'container') };
}

function resolve(engine: Engine, caller: Caller, p: BookmarkRefParams): BookmarkRecord {
  return findBookmark(engine, caller, p.bookmark, p.container ? findContainer(engine, caller, p.container) : undefined);
}

/** bookmark list [--container C] [--shared] [--limit N [--after ID]]: the caller's own and
 *  everyone's shared ones, oldest first (newest first if asked), a page at a time if asked.
 *  The trees ask for one branch's, or the orphans', newest first. */
export const bookmarkList = operation(BookmarkListRequest.type, (raw): BookmarkListParams => {
  const o = object(raw);
  const p: BookmarkListParams = {
    container: o.container === undefined ? undefined : containerRef(o, 'container'),
    branch: optStr(o, 'branch', 256),
    orphaned: optBool(o, 'orphaned'),
    shared: optBool(o, 'shared'),
    newest: optBool(o, 'newest'),
    limit: optInt(o, 'limit', 1, MAX_PAGE),
    after: optStr(o, 'after', 256),
  };
  if ((p.branch !== undefined || p.orphaned) && p.container === undefined) {
    throw new EngineError('InvalidArgument', `"${p.branch !== undefined ? 'branch' : 'orphaned'}" needs "container": a branch belongs to one.`);
  }
  return p;
}, async ({ engine, caller }: OpContext, p: BookmarkListParams) => {
  const container = p.container ? findContainer(engine, caller, p.container) : undefined;
  const branchedFrom = bookmarksBranchedBy(engine, caller);
  const byTime = engine.store.bookmarksByTime();
  const all = p.newest ? [...byTime].reverse() : byTime;
  const branches = p.orphaned && container ? new Set(engine.store.branchesOf(container.id).map((b) => b.name)) : undefined;
  const wanted = (b: BookmarkRecord) => (!container || b.containerId === container.id) && (!p.shared || b.shared)
    && (p.branch === undefined || b.branchName === p.branch) && (!branches || !branches.has(b.branchName));
  const page: BookmarkRecord[] = [];
  const visible = (b: BookmarkRecord) => visibleBookmark(engine, caller, b, branchedFrom);
  for (let i = p.after === undefined ? 0 : startAfter(all, p.after, visible); i < all.length && page.length < (p.limit ?? Infinity); i++) {
    const b = all[i];
    if (wanted(b) && visible(b)) page.push(b);
  }
  const lookups = bookmarkLookups(engine.store);
  return page.map((b) => bookmarkInfo(engine.store, b, lookups));
});

const MAX_PAGE = 10_000;

/** Where a page that continues after bookmark `id` starts. One the caller cannot see
 *  counts as unknown, so the error reveals nothing. */
function startAfter(all: readonly BookmarkRecord[], id: string, visible: (b: BookmarkRecord) => boolean): number {
  const i = all.findIndex((b) => b.id === id && visible(b));
  if (i < 0) throw new EngineError('InvalidArgument', `--after ${id}: no such bookmark (it may have been deleted since the last page). List again from the start.`);
  return i + 1;
}

export const bookmarkShow = operation(BookmarkShowRequest.type, parseRef, async ({ engine, caller }: OpContext, p: BookmarkRefParams) =>
  bookmarkInfo(engine.store, resolve(engine, caller, p)));

export const bookmarkShare = operation(BookmarkShareRequest.type, parseRef, (ctx: OpContext, p: BookmarkRefParams) =>
  update(ctx, p, 'bookmark-shared', (b) => ({ ...b, shared: true })));

export const bookmarkUnshare = operation(BookmarkUnshareRequest.type, parseRef, (ctx: OpContext, p: BookmarkRefParams) =>
  update(ctx, p, 'bookmark-unshared', (b) => ({ ...b, shared: false })));

/** bookmark tag B --add T... --remove T... (the bookmark's data never changes, only its labels). */
export const bookmarkTag = operation(BookmarkTagRequest.type, (raw): BookmarkTagParams => {
  const o = object(raw);
  const tags = (key: string, check: typeof checkName) => optStrArray(o, key)?.map((t) => check(t, 'tag'));
  return { ...parseRef(raw), add: tags('add', checkName), remove: tags('remove', checkExistingName) };
}, (ctx: OpContext, p: BookmarkTagParams) => update(ctx, p, 'bookmark-tagged', (b) => {
  const tags = b.tags.filter((t) => !p.remove?.includes(t));
  for (const t of p.add ?? []) if (!tags.includes(t)) tags.push(t);
  return { ...b, tags };
}));

/** Change a bookmark's labels. Only its owner (or an admin) may. */
async function update(ctx: OpContext, p: BookmarkRefParams, kind: EventKind,
  change: (b: BookmarkRecord) => BookmarkRecord): Promise<BookmarkInfo> {
  const { engine, caller } = ctx;
  const found = resolve(engine, caller, p);
  requireOwner(engine, caller, found);
  const c = engine.store.container(found.containerId);
  const { rec, event } = engine.store.tx(() => {
    const rec = change(engine.store.bookmark(found.id)!);
    engine.store.putBookmark(rec);
    const event = c && engine.appendEvent(c, caller.name, kind, rec.branchName, { bookmark: { id: rec.id, name: rec.name } });
    return { rec, event };
  });
  engine.notify('bookmark', c, event);
  return bookmarkInfo(engine.store, rec);
}

/** bookmark delete B: refused while a branch made from it exists. */
export const bookmarkDelete = operation(BookmarkDeleteRequest.type, parseRef, async ({ engine, caller }: OpContext, p: BookmarkRefParams) => {
  const b = resolve(engine, caller, p);
  requireOwner(engine, caller, b);
  const dependents = engine.store.allBranches().filter((br) => br.origin.kind === 'bookmark' && br.origin.bookmarkId === b.id);
  if (dependents.length) {
    // Name only the branches the caller may see; of other users' just say how many.
    const seen = dependents.map((br) => ({ br, c: engine.store.container(br.containerId) }))
      .filter(({ c }) => c && engine.canSee(caller, c.owner));
    const others = dependents.length - seen.length;
    const names = [...seen.map(({ br, c }) => `${c!.name}/${br.name}`), ...(others ? [`${others} in other users' containers`] : [])];
    throw new EngineError('InUse', `bookmark "${b.name}" has branches made from it: ${names.join(', ')}. Those branches must be deleted first.`);
  }
  const info = bookmarkInfo(engine.store, b);
  const c = engine.store.container(b.containerId);
  const event = engine.store.tx(() => {
    engine.store.removeBookmark(b.id);
    return c && engine.appendEvent(c, caller.name, 'bookmark-deleted', b.branchName, { bookmark: { id: b.id, name: b.name } });
  });
  await engine.releaseSnapshots([b.snapshotId]);
  engine.notify('bookmark', c, event);
  return info;
});

function requireOwner(engine: Engine, caller: Caller, b: BookmarkRecord): void {
  if (!engine.canSee(caller, b.owner)) {
    throw new EngineError('Forbidden', `bookmark "${b.name}" belongs to ${b.owner}; only its owner or an admin may change or delete it.`);
  }
}
