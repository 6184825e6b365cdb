import type { EventKind } from '../../protocol';
import { loadSnapshot, loadSnapshotOrFallBack } from '../data';
import type { Engine, OpContext } from '../engine';
import { faultPoint } from '../faults';
import { activeBranch } from '../lookup';
import type { ContainerRecord, EventRecord, JournalRecord } from '../records';
import type { Recover } from './operation';

/**
 * Replace the active branch's data with a snapshot: the shared core of restore
 * (a bookmark's), reset (the last operation's) and refresh (the template's
 * latest). Once the journal entry is written it only goes forward: recovery
 * loads the snapshot again and records the result.
 */
export interface RewindPlan {
  op: 'restore' | 'reset' | 'refresh';
  event: EventKind;
  snapshotId: string;
  extra?: Pick<EventRecord, 'bookmark' | 'detail'>;
  /** refresh moves the container to this template version. */
  templateVersion?: number;
}

export async function rewind(ctx: OpContext, c: ContainerRecord, plan: RewindPlan): Promise<void> {
  const { engine, caller, progress } = ctx;
  const branch = activeBranch(engine, c);
  const journal = engine.journalBegin(plan.op, {
    containerId: c.id, branchId: branch.id, snapshotId: plan.snapshotId, event: plan.event,
    templateVersion: plan.templateVersion, detail: plan.extra?.detail,
    bookmarkId: plan.extra?.bookmark?.id, bookmarkName: plan.extra?.bookmark?.name,
  });
  try {
    await loadSnapshotOrFallBack(engine, c, plan.snapshotId, branch.baseSnapshotId, progress);
  } catch (err) {
    engine.store.tx(() => engine.journalEnd(journal));
    throw err;
  }
  await faultPoint('rewind:after-load');
  await commit(engine, journal, caller.name);
}

async function commit(engine: Engine, journal: JournalRecord, user: string): Promise<void> {
  const d = journal.data;
  let oldBase = '';
  const event = engine.store.tx(() => {
    const c = engine.store.containers.get(String(d.containerId))!;
    const branch = engine.store.branches.get(String(d.branchId))!;
    oldBase = branch.baseSnapshotId;
    engine.store.branches.putSync(branch.id, { ...branch, baseSnapshotId: String(d.snapshotId) });
    if (typeof d.templateVersion === 'number') engine.store.containers.putSync(c.id, { ...c, templateVersion: d.templateVersion });
    engine.journalEnd(journal);
    const bookmark = d.bookmarkId ? { id: String(d.bookmarkId), name: String(d.bookmarkName) } : undefined;
    return engine.appendEvent(c, user, d.event as EventKind, branch.name, { bookmark, detail: d.detail as string | undefined });
  });
  await engine.releaseSnapshots([oldBase]);
  engine.notify('branch', engine.store.containers.get(String(d.containerId)), event);
}

export const recoverRewind: Recover = async (engine, journal) => {
  const c = engine.store.containers.get(String(journal.data.containerId));
  if (!c || !engine.store.branches.get(String(journal.data.branchId))) {
    return engine.store.tx(() => engine.journalEnd(journal));
  }
  await loadSnapshot(engine, c, String(journal.data.snapshotId), { report: () => undefined });
  await commit(engine, journal, 'engine (recovery)');
};
