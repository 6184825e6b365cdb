import type { EventKind } from '../protocol';
import { cloneInto } from './data';
import { log, type Engine } from './engine';
import { adoptContainerMarker, clearLegacyMarker } from './postgres/runDir';
import type { BranchRecord, ContainerRecord, StoredJournalEntry } from './records';

/**
 * Homes made by engines 0.1 kept one working volume per container
 * (`ContainerRecord.volumeId`) and each inactive branch's data as a snapshot
 * (`headSnapshotId`). Now every branch owns a volume. At engine start, before
 * recovery: the active branch takes over the container's volume, and every
 * inactive branch gets a volume made from its head at once, not at its first
 * activation: a switch then never clones, so it always costs one stop and one
 * start, and the head snapshots can go.
 *
 * Idempotent and crash-safe: an inactive branch's volume id comes from its branch
 * id, so a cut clone is simply redone into the same volume, and one transaction at
 * the end gives the active branch the container's volume and drops the old fields.
 * A 0.1 switch or restore that a crash cut short left the container's volume
 * half-loaded: its journal entry says which snapshot the active branch should
 * hold, so that branch is made from it too and the old volume is deleted.
 */
type LegacyContainer = ContainerRecord & { volumeId?: string };
type LegacyBranch = Omit<BranchRecord, 'volumeId'> & { volumeId?: string; headSnapshotId?: string };

/** What a 0.1 journal entry, if any, says about the container's volume. Its shape is 0.1's
 *  (an activate's `captureId`, a rewind with no volumes), so it is read as stored, not as
 *  journal.ts's records. */
interface Plan {
  activeId: string;
  /** The container's volume cannot be trusted: the active branch is made from this. */
  reload?: string;
  journal?: StoredJournalEntry;
  /** Snapshots 0.1 captured for an operation that is now rolled back. */
  release: string[];
}

export async function upgradeHome(engine: Engine): Promise<void> {
  for (const c of engine.store.allContainers() as LegacyContainer[]) {
    if (!c.volumeId) continue;
    log(`container ${c.owner}/${c.name}: giving each branch its own volume (a home made by engine 0.1)`);
    await upgradeContainer(engine, c, c.volumeId);
  }
}

async function upgradeContainer(engine: Engine, c: LegacyContainer, containerVolume: string): Promise<void> {
  const plan = legacyPlan(engine, c);
  for (const b of engine.store.branchesOf(c.id) as LegacyBranch[]) {
    if (b.volumeId || (b.id === plan.activeId && !plan.reload)) continue;
    await materialise(engine, c, b, b.id === plan.activeId ? plan.reload! : b.headSnapshotId!);
  }
  if (plan.reload) await engine.stopDatabase(c, { volumeId: containerVolume });
  else await adoptContainerMarker(engine.clusterOf(c, containerVolume));
  const heads = commit(engine, c, containerVolume, plan);
  if (plan.reload) await clearLegacyMarker(engine.clusterOf(c, containerVolume));
  await engine.releaseSnapshots([...heads, ...plan.release]);
}

/** A 0.1 switch cut after its capture finishes on the target; one cut before rolls back.
 *  A 0.1 restore, reset or refresh always went forward: the branch gets the snapshot. */
function legacyPlan(engine: Engine, c: LegacyContainer): Plan {
  const mine = engine.store.allJournalEntries().filter((j) => j.data.containerId === c.id);
  const activate = mine.find((j) => j.op === 'activate' && typeof j.data.captureId === 'string');
  if (activate?.step === 'captured') {
    const to = engine.store.branch(String(activate.data.toId)) as LegacyBranch | undefined;
    if (to?.headSnapshotId) return { activeId: to.id, reload: to.headSnapshotId, journal: activate, release: [] };
  }
  if (activate) return { activeId: c.activeBranchId, journal: activate, release: [String(activate.data.captureId)] };
  const rewind = mine.find((j) => ['restore', 'reset', 'refresh'].includes(j.op) && j.data.newVolumeId === undefined);
  if (rewind) return { activeId: c.activeBranchId, reload: String(rewind.data.snapshotId), journal: rewind, release: [] };
  return { activeId: c.activeBranchId, release: [] };
}

/** Give an inactive branch a volume made from `snapshotId`, under an id derived from its own. */
async function materialise(engine: Engine, c: ContainerRecord, b: LegacyBranch, snapshotId: string): Promise<void> {
  const volumeId = `vol_${b.id.replace(/^br_/, '')}`;
  await cloneInto(engine, c, volumeId, snapshotId, { report: () => undefined });
  engine.store.tx(() => engine.store.putBranch({ ...(engine.store.branch(b.id) as LegacyBranch), volumeId } as BranchRecord));
}

/** One transaction: the new shape, the 0.1 journal entry's result, and (when the container's
 *  volume held half-loaded data) a journal entry that deletes it. Returns the old heads. */
function commit(engine: Engine, c: LegacyContainer, containerVolume: string, plan: Plan): string[] {
  const { store } = engine;
  const heads: string[] = [];
  store.tx(() => {
    for (const b of store.branchesOf(c.id) as LegacyBranch[]) {
      const { headSnapshotId, ...rest } = b;
      if (headSnapshotId) heads.push(headSnapshotId);
      const volumeId = rest.volumeId ?? containerVolume;
      const rewound = plan.journal && plan.journal.op !== 'activate' && b.id === plan.activeId;
      if (rewound) heads.push(b.baseSnapshotId); // released only if nothing else uses it
      store.putBranch({ ...rest, volumeId, ...(rewound ? { baseSnapshotId: plan.reload! } : {}) });
    }
    const { volumeId: _old, ...rest } = c;
    const version = plan.journal?.data.templateVersion;
    store.putContainer({ ...rest, activeBranchId: plan.activeId, ...(typeof version === 'number' ? { templateVersion: version } : {}) });
    if (plan.journal) finishJournal(engine, c, plan);
    if (plan.reload) engine.journalBeginIn('branch-delete', { containerId: c.id, volumeId: containerVolume });
  });
  return heads;
}

function finishJournal(engine: Engine, c: ContainerRecord, plan: Plan): void {
  const j = plan.journal!;
  engine.journalEnd(j);
  if (j.op === 'activate' && !plan.reload) return;
  const branch = engine.store.branch(plan.activeId)!;
  const d = j.data;
  const kind: EventKind = j.op === 'activate' ? 'branch-activated' : (d.event as EventKind);
  const bookmark = d.bookmarkId ? { id: String(d.bookmarkId), name: String(d.bookmarkName) } : undefined;
  engine.appendEvent(c, 'engine (recovery)', kind, branch.name, { bookmark, detail: d.detail as string | undefined });
}
