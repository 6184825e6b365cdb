import * as fs from 'fs';
import * as path from 'path';
import { log, type ClusterRef, type Engine } from './engine';
import { EngineError } from './errors';
import { newId, now } from './ids';
import * as cluster from './postgres/cluster';
import { flushToArchive, prepareArchiveDir } from './postgres/walArchive';
import type { BranchRecord, SpanAnchor, SpanRecord } from './records';
import type { Store } from './store';
import { removePath } from './volumes/volumeFiles';

/**
 * The branch's history as spans of unbroken WAL (records.ts, SpanRecord), each archived into
 * its own folder of the pool. What moments can be restored, and from which anchor, is read
 * here; postgres/walArchive.ts has what PostgreSQL is told.
 *
 * A span begins when a branch is made and whenever its data is replaced; the one it replaces
 * ends then. Before the old database stops for good its WAL is flushed to the archive, so the
 * abandoned history can be restored to up to that moment ("restore back, then forward").
 */

/** Where a span's WAL is archived. */
export function spanDir(engine: Engine, spanId: string): string {
  return path.join(engine.config.pool, 'wal', spanId);
}

/** The span the branch writes now: the one not ended. */
export function currentSpan(store: Store, branchId: string): SpanRecord | undefined {
  return store.spansOf(branchId).find((s) => !s.endedAt);
}

/** Begin a span (inside a tx): the branch's data from now on is `anchor`'s (none when the engine
 *  captures one later), and the span it had ends. Idempotent for a recovery that repeats it. */
export function beginSpanIn(store: Store, branch: Pick<BranchRecord, 'id' | 'containerId'>, id: string, anchor?: Omit<SpanAnchor, 'at'>): SpanRecord {
  const existing = store.span(id);
  if (existing) return existing;
  const at = now();
  const old = currentSpan(store, branch.id);
  if (old) store.putSpan({ ...old, endedAt: at });
  const span: SpanRecord = { id, containerId: branch.containerId, branchId: branch.id, startedAt: at, anchors: anchor ? [{ ...anchor, at }] : [] };
  store.putSpan(span);
  return span;
}

/** Undo beginSpanIn (inside a tx): the span never held data; the one before it goes on. */
export function abandonSpanIn(store: Store, id: string): void {
  const span = store.span(id);
  if (!span) return;
  store.removeSpan(id);
  const before = store.spansOf(span.branchId).filter((s) => s.endedAt === span.startedAt).pop();
  if (before) {
    const reopened = { ...before };
    delete reopened.endedAt;
    store.putSpan(reopened);
  }
}

/** Add an anchor the engine captured (inside a tx). */
export function addAnchorIn(store: Store, spanId: string, anchor: SpanAnchor): void {
  const span = store.span(spanId);
  if (span) store.putSpan({ ...span, anchors: [...span.anchors, anchor] });
}

/** The archive folder a start of the branch's volume writes to, made if missing. A branch
 *  from before spans gets its first one here, with no anchor until its next capture. */
export async function archiveDirForStart(engine: Engine, c: ClusterRef & { activeBranchId: string }, volumeId: string): Promise<string | undefined> {
  const branch = engine.store.branchesOf(c.id).find((b) => b.volumeId === volumeId && !b.cold);
  // A container being created starts its main branch's database before recording the branch:
  // its span was begun first (containerCreate.ts).
  const creating = !branch && !engine.store.branch(c.activeBranchId) ? currentSpan(engine.store, c.activeBranchId) : undefined;
  if (!branch && !creating) return undefined;
  const span = creating ?? currentSpan(engine.store, branch!.id) ?? engine.store.tx(() => beginSpanIn(engine.store, branch!, newId('span')));
  const dir = spanDir(engine, span.id);
  await prepareArchiveDir(dir, engine.ownerOf(c));
  return dir;
}

/**
 * Put a running branch's WAL in the archive, so its span can be restored to up to now: before
 * its database stops for good (its data is being replaced), or before a branch is made from a
 * moment of it. A database that is down has nothing more to give; a flush that fails costs
 * only the last seconds' moments (logged).
 */
export async function flushWal(engine: Engine, c: ClusterRef & { name: string }, volumeId: string): Promise<void> {
  const spec = engine.clusterOf(c, volumeId);
  if (!(await cluster.isRunning(spec))) return;
  const t0 = performance.now();
  try {
    const flushed = await cluster.withLocalClient(spec, flushToArchive);
    const branch = engine.store.branchesOf(c.id).find((b) => b.volumeId === volumeId);
    const span = branch && currentSpan(engine.store, branch.id);
    if (span) engine.store.tx(() => engine.store.putSpan({ ...span, flushedAt: flushed.at }));
    log(`container ${c.name}: WAL up to ${flushed.at} archived (segment ${flushed.segment}) in ${Math.round(performance.now() - t0)} ms`);
  } catch (err) {
    log(`container ${c.name}: the WAL could not be flushed to the archive before the data was replaced (${(err as Error).message}); its last moments cannot be restored`);
  }
}

/** A moment of a span, and what rebuilds it. */
export interface MomentPlan {
  span: SpanRecord;
  anchor: SpanAnchor;
}

/** One stretch of time that can be restored, and the span it is in. */
export interface RestorableRange {
  spanId: string;
  from: string;
  to: string;
}

/** Every anchor of the span: its own, and bookmarks of the branch taken inside it. */
export function anchorsOf(store: Store, span: SpanRecord): SpanAnchor[] {
  const inside = (at: string) => at >= span.startedAt && (!span.endedAt || at < span.endedAt);
  const bookmarks = store.bookmarksOf(span.containerId)
    .filter((b) => b.branchId === span.branchId && b.asOf && inside(b.asOf))
    .map((b): SpanAnchor => ({ snapshotId: b.snapshotId, at: b.asOf!, ...(b.lsn ? { lsn: b.lsn } : {}) }));
  return [...span.anchors, ...bookmarks].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/** What the branch can be restored to: each span from its first anchor to its end (now, for the current one). */
export function restorableRanges(store: Store, branchId: string, at = now()): RestorableRange[] {
  const ranges: RestorableRange[] = [];
  for (const span of store.spansOf(branchId)) {
    const first = anchorsOf(store, span)[0];
    // An ended span's WAL reaches its last flush; one never flushed (its database was down, or
    // the flush failed) is offered to its end, and a replay short of the moment fails its start.
    const to = span.endedAt ? (span.flushedAt && span.flushedAt < span.endedAt ? span.flushedAt : span.endedAt) : at;
    if (first && first.at <= to) ranges.push({ spanId: span.id, from: first.at, to });
  }
  return ranges;
}

/** The ranges as the protocol gives them (timeline, container show): without the spans' ids. */
export function restorableForClients(store: Store, branchId: string): Array<{ from: string; to: string }> {
  return restorableRanges(store, branchId).map(({ from, to }) => ({ from, to }));
}

/** The span holding `moment` and its nearest anchor at or before it; a clear error naming the
 *  ranges that can be restored when there is none. */
export function planMoment(store: Store, branch: BranchRecord, moment: string): MomentPlan {
  const current = now();
  const ranges = restorableRanges(store, branch.id, current);
  const said = ranges.length
    ? `Branch "${branch.name}" can be restored to ${ranges.map((r) => `${r.from} … ${r.to}`).join(', ')}`
    : `Branch "${branch.name}" has no moment that can be restored yet: from its next bookmark, or the engine's next capture of it while it writes`;
  if (moment > current) throw new EngineError('InvalidArgument', `${moment} is in the future (it is ${current} now); nothing was changed. ${said}.`);
  const range = ranges.find((r) => moment >= r.from && moment <= r.to);
  if (!range) throw new EngineError('InvalidArgument', `${moment} is outside what can be restored; nothing was changed. ${said}.`);
  const span = store.span(range.spanId)!;
  const anchor = anchorsOf(store, span).filter((a) => a.at <= moment).pop()!;
  return { span, anchor };
}

/** The snapshots spans keep for replay (Engine.referencedSnapshots). */
export function anchorSnapshots(store: Store): string[] {
  return store.allSpans().flatMap((s) => s.anchors.map((a) => a.snapshotId));
}

/** Forget the spans of deleted branches (inside a tx); their folders go with sweepArchives. */
export function dropSpansIn(store: Store, branchIds: Iterable<string>): void {
  const gone = new Set(branchIds);
  for (const s of store.allSpans()) if (gone.has(s.branchId)) store.removeSpan(s.id);
}

/** Delete every archive folder no span names: spans dropped, or a crash between the two. */
export async function sweepArchives(engine: Engine): Promise<void> {
  const root = path.join(engine.config.pool, 'wal');
  const names = await fs.promises.readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (engine.store.span(name)) continue;
    await removePath(path.join(root, name)).catch((err) => log(`could not delete the WAL archive ${name}: ${err}`));
  }
}
