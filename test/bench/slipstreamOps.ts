/**
 * The five Slipstream operations of the issue, each timed end to end through
 * the protocol on one container. Every timed run follows an untimed change of
 * 1% of the accounts rows (the same rows each time, so two branches differ by
 * exactly that set): the operation then has a real delta to capture or undo,
 * and pays the shutdown checkpoint of that change, as it would in use. The change is
 * followed by a wait until the engine's background work is done (`idle`).
 */
import {
  BookmarkCreateRequest, BookmarkDeleteRequest, BranchActivateRequest, BranchCreateRequest, BranchDeleteRequest,
  ContainerCreateRequest, ContainerDeleteRequest, RefreshRequest, RestoreRequest, RestoreToMomentRequest,
} from '../../server/protocol';
import { changeStatement, type ChangePattern, type Dataset } from './dataset';
import type { BenchEngine } from './engine';
import { timed } from './exec';
import { repeat, type Summary } from './stats';

export const OPS = ['bookmark', 'restore', 'restoreCold', 'restoreAt', 'branch', 'switch', 'refresh'] as const;
export type OpName = (typeof OPS)[number];

export const OP_LABELS: Record<OpName, string> = {
  bookmark: 'bookmark the running database',
  restore: 'restore the latest bookmark after a 1% change (its spare ready)',
  restoreCold: 'restore an older bookmark after a 1% change (no spare)',
  restoreAt: 'restore to a moment: the last bookmark, then light writes for a minute (10 s in --quick)',
  branch: 'branch from a bookmark and activate it',
  switch: 'switch between two branches 1% apart',
  refresh: 'refresh from the template',
};

export interface OpFigures {
  containerCreate: number;
  ops: Record<OpName, Summary>;
  /** Peak engine RSS (bytes) sampled every 10 ms during the switches. */
  rssDuringSwitch: number;
  /** Whether a session opened before the bookmark runs still had its backend after them all. */
  sessionSurvivedBookmarks?: boolean;
}

type Ctx = {
  engine: BenchEngine; ds: Dataset; container: string; runs: number; pattern: ChangePattern; lightWriteSeconds: number; log: (s: string) => void;
};

export async function measureOps(engine: BenchEngine, ds: Dataset, template: string,
  how: { runs: number; pattern: ChangePattern; lightWriteSeconds: number }, log: (s: string) => void): Promise<OpFigures> {
  const container = `c-${ds.name}`;
  const containerCreate = await timed(() => engine.request(ContainerCreateRequest.type, { name: container, template }));
  const ctx: Ctx = { engine, ds, container, ...how, log };
  const ops = {} as Record<OpName, Summary>;
  const session = await engine.openSession(container);
  ops.bookmark = await step(ctx, 'bookmark', () => bookmarks(ctx));
  const sessionSurvivedBookmarks = await session.alive();
  await session.close();
  log(`    a session open across ${how.runs} bookmarks ${sessionSurvivedBookmarks ? 'survived' : 'was cut'}`);
  ops.restore = await step(ctx, 'restore', () => restores(ctx));
  ops.restoreCold = await step(ctx, 'restoreCold', () => coldRestores(ctx));
  ops.restoreAt = await step(ctx, 'restoreAt', () => momentRestores(ctx));
  ops.branch = await step(ctx, 'branch', () => branches(ctx));
  const sw = await engine.peakRssDuring(() => step(ctx, 'switch', () => switches(ctx)));
  ops.switch = sw.result;
  ops.refresh = await step(ctx, 'refresh', () => refreshes(ctx));
  // Untimed: give the space back before the next dataset (the blocks driver's GC runs here).
  await engine.request(ContainerDeleteRequest.type, { name: container });
  return { containerCreate, ops, rssDuringSwitch: sw.peak, sessionSurvivedBookmarks };
}

async function step(ctx: Ctx, op: OpName, fn: () => Promise<Summary>): Promise<Summary> {
  const s = await fn();
  ctx.log(`    ${op.padEnd(9)} median ${s.median.toFixed(3)} s  (min ${s.min.toFixed(3)}, max ${s.max.toFixed(3)})`);
  return s;
}

/** The untimed step before every timed run: a 1% change, then a wait until the engine runs no
 *  background job (a spare being built, a branch being dehydrated, an old volume being deleted),
 *  so that none competes with the timed run. That is what an operation costs when the user
 *  has paused for a moment; one right after another may also wait on disk for the last one's
 *  background work. */
const change = async (ctx: Ctx) => {
  await ctx.engine.sql(ctx.container, [changeStatement(ctx.ds, ctx.pattern, 0)]);
  await ctx.engine.idle();
};
const bm = (ctx: Ctx, i: number) => `${ctx.ds.name}-bm-${i}`;
const br = (ctx: Ctx, i: number) => `br-${i}`;

async function bookmarks(ctx: Ctx): Promise<Summary> {
  const s = await repeat(ctx.runs, () => change(ctx), (i) =>
    timed(() => ctx.engine.request(BookmarkCreateRequest.type, { container: ctx.container, name: bm(ctx, i) })));
  // Keep the first two (the restore and branch points); the others only hold space.
  for (let i = 2; i < ctx.runs; i++) await ctx.engine.request(BookmarkDeleteRequest.type, { bookmark: bm(ctx, i), container: ctx.container });
  return s;
}

const restore = (ctx: Ctx, i: number) => ctx.engine.request(RestoreRequest.type, { container: ctx.container, bookmark: bm(ctx, i) });

/** Story 1's loop: restore the same bookmark again and again. After the first (untimed) one it is
 *  the branch's reset point, and before each timed run its spare has been rebuilt (`change`). */
async function restores(ctx: Ctx): Promise<Summary> {
  await restore(ctx, 0);
  return repeat(ctx.runs, () => change(ctx), () => timed(() => restore(ctx, 0)));
}

/** Each run restores the bookmark the last run did not, so the spare (of the other one) never
 *  serves it: the data is cloned into a new volume while the old database runs. */
function coldRestores(ctx: Ctx): Promise<Summary> {
  return repeat(ctx.runs, () => change(ctx), (i) => timed(() => restore(ctx, (i + 1) % 2)));
}

/**
 * Issue 13's case: a user who forgot to bookmark. Before each timed run: the 1% change, a bookmark
 * (the nearest snapshot), then light writes (one single-row update every half second) for a
 * minute, and the moment just after them. The timed run rebuilds that moment: the bookmark's data,
 * that minute of WAL replayed on it, and the capture of the result.
 */
function momentRestores(ctx: Ctx): Promise<Summary> {
  let moment = '';
  return repeat(ctx.runs, async (i) => {
    await change(ctx);
    await ctx.engine.request(BookmarkCreateRequest.type, { container: ctx.container, name: `${ctx.ds.name}-at-${i}` });
    for (const end = Date.now() + ctx.lightWriteSeconds * 1000; Date.now() < end;) {
      await ctx.engine.sql(ctx.container, [`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = ${1 + Math.floor(Math.random() * ctx.ds.scale * 100000)}`]);
      await new Promise((r) => setTimeout(r, 500));
    }
    moment = new Date().toISOString();
    await ctx.engine.idle();
  }, () => timed(() => ctx.engine.request(RestoreToMomentRequest.type, { container: ctx.container, at: moment })));
}

/** Leaves the last two branches, the pair the switch runs go back and forth between. */
async function branches(ctx: Ctx): Promise<Summary> {
  const s = await repeat(ctx.runs, () => change(ctx), (i) => timed(() => ctx.engine.request(BranchCreateRequest.type, {
    container: ctx.container, name: br(ctx, i), from: { kind: 'bookmark', bookmark: bm(ctx, 0) }, activate: true,
  })));
  for (let i = 0; i < ctx.runs - 2; i++) await ctx.engine.request(BranchDeleteRequest.type, { container: ctx.container, name: br(ctx, i) });
  return s;
}

function switches(ctx: Ctx): Promise<Summary> {
  const pair = [br(ctx, ctx.runs - 2), br(ctx, ctx.runs - 1)];
  return repeat(ctx.runs, () => change(ctx), (i) =>
    timed(() => ctx.engine.request(BranchActivateRequest.type, { container: ctx.container, name: pair[i % 2] })));
}

function refreshes(ctx: Ctx): Promise<Summary> {
  return repeat(ctx.runs, () => change(ctx), () => timed(() => ctx.engine.request(RefreshRequest.type, { container: ctx.container })));
}
