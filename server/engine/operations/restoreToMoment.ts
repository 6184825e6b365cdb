import { RestoreToMomentRequest, type MomentRestored, type RestoreToMomentParams } from '../../protocol';
import { parseMoment } from '../../common/moments';
import { captureAnchor } from '../anchors';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { activeBranch, findContainer } from '../lookup';
import * as cluster from '../postgres/cluster';
import { isLsn, lsnValue } from '../postgres/walSummaries';
import type { ContainerRecord, SpanAnchor } from '../records';
import { planMoment } from '../spans';
import { branchInfo } from '../views';
import { containerRef, object, optStr, str } from '../validate';
import { operation } from './operation';
import { rewind } from './rewind';

/**
 * restore --at TIME --container C: rebuild the active branch's data as of a moment, with no
 * bookmark needed. The moment's span (spans.ts) gives the nearest anchor before it; the anchor
 * is restored like a bookmark (rewind.ts: a spare, a clone or a rewrite in place), and its
 * first start replays the span's archived WAL up to the moment and promotes it onto a new
 * timeline. The old data's WAL is archived first, so its history stays restorable: restoring
 * back, then forward again, works. The new data begins a span of its own, anchored by a
 * capture taken in the background once the answer is sent, which is also the branch's new
 * reset point: its history is restorable from then on (an operation on the container waits
 * for that capture rather than being refused).
 */
export const restoreToMoment = operation(RestoreToMomentRequest.type, (raw): RestoreToMomentParams => {
  const o = object(raw);
  return { container: containerRef(o, 'container'), at: str(o, 'at', 64), workDoneToken: optStr(o, 'workDoneToken') };
}, async (ctx: OpContext, p: RestoreToMomentParams): Promise<MomentRestored> => {
  const { engine, caller } = ctx;
  const parsed = parseMoment(p.at, Date.now());
  if ('problem' in parsed) throw new EngineError('InvalidArgument', `${parsed.problem}; nothing was changed.`);
  const { moment } = parsed;
  const c = findContainer(engine, caller, p.container);
  const restored = await engine.locks.with(`container:${c.id}`, `container "${c.name}"`, 'restore', async () => {
    const current = engine.store.container(c.id)!;
    const { span, anchor } = planMoment(engine.store, activeBranch(engine, current), moment);
    const bookmark = engine.store.bookmarksOf(c.id).find((b) => b.snapshotId === anchor.snapshotId);
    await rewind(ctx, current, {
      op: 'restore', event: 'restored', snapshotId: anchor.snapshotId,
      extra: { detail: `to ${moment}, replayed from ${bookmark ? `bookmark ${bookmark.name}` : 'a capture'} of ${anchor.at}` },
      replay: { spanId: span.id, moment },
    });
    const after = engine.store.container(c.id)!;
    const walReplayedBytes = await replayedSince(ctx, after, anchor);
    return {
      branch: branchInfo(engine.store, engine.store.branch(after.activeBranchId)!),
      moment, from: { snapshotId: anchor.snapshotId, at: anchor.at, ...(bookmark ? { bookmark: bookmark.name } : {}) },
      ...(walReplayedBytes !== undefined ? { walReplayedBytes } : {}),
    };
  });
  // Once the lock is free, taken again at once: no operation can come between.
  engine.background(`capturing container "${c.name}" after its point-in-time restore`, async () => {
    await engine.locks.background(`container:${c.id}`, `container "${c.name}"`, 'capture after a point-in-time restore', () => captureAnchor(engine, c.id, { resetPoint: true, why: 'after its point-in-time restore' }));
    // After the capture, not during it: pruning skips a container whose lock is held. One more
    // span, so the cap may now drop older history.
    engine.walRetention.schedule();
  });
  return restored;
});

/** How far the replay went past the anchor: the new timeline begins where it stopped. */
async function replayedSince(ctx: OpContext, c: ContainerRecord, anchor: SpanAnchor): Promise<number | undefined> {
  if (!anchor.lsn || !isLsn(anchor.lsn)) return undefined;
  const lsn = await cluster.withLocalClient(ctx.engine.clusterOf(c), async (client) =>
    String((await client.query('SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn')).rows[0].lsn));
  return isLsn(lsn) ? Math.max(0, Number(lsnValue(lsn) - lsnValue(anchor.lsn))) : undefined;
}
