import type { EventKind } from '../protocol';
import type { StoredJournalEntry } from './records';

/**
 * The journal's record types: one per operation, keyed by the operation's name, with the
 * data it keeps and the steps it passes. `Engine.journalBegin('activate', …)` then takes
 * only an activate's data, `journalStep` only its steps, and a recovery reads
 * `rec.data.toId` as a string with no cast. Entries are stored as they always were
 * (`StoredJournalEntry`), so one written by an earlier engine is read the same way;
 * `readJournalEntry` checks it before recovery trusts its fields.
 *
 * Fields marked 0.1 are only in entries written by engines 0.1 (upgrade.ts finishes them).
 */
export interface JournalOps {
  'template-create': { data: TemplateBuildData & { name: string }; step: 'begin' | 'snapshotted' };
  'template-refresh': { data: TemplateBuildData; step: 'begin' | 'snapshotted' };
  'container-create': { data: { containerId: string; volumeId: string; port: number; uid?: number }; step: 'begin' };
  'container-delete': {
    /** `volumeIds` (space-separated) and the reservations once the metadata is gone; 0.1: `volumeId`. */
    data: { containerId: string; volumeIds?: string; volumeId?: string; port?: number; uid?: number };
    step: 'begin' | 'forgotten';
  };
  'branch-create': { data: BranchCreateData; step: 'begin' };
  /** 0.1: a branch made from a capture, which had no volume yet. */
  'branch-snapshot': { data: BranchCreateData; step: 'begin' };
  'branch-delete': {
    data: {
      containerId: string; volumeId: string; baseSnapshotId?: string; spareVolumeId?: string; spareSnapshotId?: string;
      /** A cold branch's snapshot (its volume is gone already); a ready one (coldBranches.ts). */
      coldSnapshotId?: string; readySnapshotId?: string;
    };
    step: 'begin';
  };
  'bookmark-create': { data: { containerId: string; snapshotId: string }; step: 'begin' };
  /** operations/bookmarkPull.ts: the volume written for the bookmark and the snapshot taken of
   *  it, and the same for its template version when that came too. No record names them until
   *  the entry ends. */
  'bookmark-pull': {
    data: { volumeId: string; snapshotId: string; templateVolumeId?: string; templateSnapshotId?: string };
    step: 'begin';
  };
  /** 0.1: `captureId`, the old branch's head, captured before the switch. */
  activate: { data: { containerId: string; fromId: string; toId: string; captureId?: string }; step: 'begin' | 'switched' };
  restore: RewindEntry;
  reset: RewindEntry;
  refresh: RewindEntry;
  'spare-build': {
    /** `dropVolumeId` is what recovery deletes: the half-made spare, then (at `ready`) the one replaced. */
    data: {
      containerId: string; branchId: string; snapshotId: string; volumeId: string;
      dropVolumeId?: string; dropSnapshotId?: string;
    };
    step: 'begin' | 'ready';
  };
  /** coldBranches.ts: `snapshotId` is the capture (or the branch's ready one); at `cold` the spare's
   *  volume and snapshot join. `ahead`: the capture only makes the branch ready, it stays warm. */
  dehydrate: {
    data: {
      containerId: string; branchId: string; volumeId: string; snapshotId: string; lastActiveAt?: string;
      spareVolumeId?: string; spareSnapshotId?: string; ahead?: boolean;
    };
    step: 'begin' | 'cold';
  };
  /** `volumeId` is the new volume, or the one taken from branch `victimId` (cold since the entry
   *  began), with that branch's spare. */
  materialise: {
    data: {
      containerId: string; branchId: string; volumeId: string; snapshotId: string;
      victimId?: string; spareVolumeId?: string; spareSnapshotId?: string;
    };
    step: 'begin' | 'warm';
  };
}

type TemplateBuildData = { templateId: string; volumeId: string; snapshotId: string; port: number };
/** `snapshotId` is the capture made for it, when it starts from a branch. */
type BranchCreateData = { containerId: string; volumeId?: string; snapshotId?: string };
type RewindEntry = {
  data: {
    containerId: string; branchId: string; snapshotId: string; event: EventKind;
    oldVolumeId: string; newVolumeId: string; fromSpare?: boolean; templateVersion?: number;
    detail?: string; bookmarkId?: string; bookmarkName?: string;
    /** The branch's reset point before, to release once the old volume is gone (from `committed`). */
    oldBaseId?: string;
    /** The span the new data begins (spans.ts); absent in entries of engines before spans. */
    newSpanId?: string;
    /** A point-in-time restore: the span whose WAL is replayed, and up to when. */
    replaySpanId?: string;
    moment?: string;
  };
  step: 'begin' | 'switched' | 'committed';
};

export type JournalOp = keyof JournalOps;
export type JournalData<K extends JournalOp> = JournalOps[K]['data'];
export type JournalStep<K extends JournalOp> = JournalOps[K]['step'];

/** A journal entry of operation K (of any operation by default: a union discriminated on `op`). */
export type JournalRecord<K extends JournalOp = JournalOp> = {
  [O in K]: { id: string; op: O; startedAt: string; step: JournalStep<O>; data: JournalData<O> };
}[K];

type OpsWithoutBegin = { [K in JournalOp]: 'begin' extends JournalStep<K> ? never : K }[JournalOp];
/** Every operation starts at `begin`; one whose steps leave it out makes this `never`, and
 *  Engine.journalBeginIn no longer compiles. */
export type FirstStep = [OpsWithoutBegin] extends [never] ? 'begin' : never;

// ------------------------------------------------------------ checking a stored entry

type Kind<T> = [T] extends [string] ? 'string' : [T] extends [number] ? 'number' : [T] extends [boolean] ? 'boolean' : never;
/** Each field's type as checked at recovery: the compiler holds it to the data type above. */
type FieldKinds<T> = { [F in keyof T]-?: undefined extends T[F] ? `${Kind<Exclude<T[F], undefined>>}?` : Kind<T[F]> };
type StringField<K extends JournalOp> = { [F in keyof JournalData<K>]-?: Kind<Exclude<JournalData<K>[F], undefined>> extends 'string' ? F : never }[keyof JournalData<K>];

interface OpSpec<K extends JournalOp> {
  fields: FieldKinds<JournalData<K>>;
  /** The fields that name a snapshot: while the entry exists, nothing deletes it. */
  snapshots: ReadonlyArray<StringField<K>>;
}

const templateBuild = { templateId: 'string', volumeId: 'string', snapshotId: 'string', port: 'number' } as const;
const branchCreate: OpSpec<'branch-create'> = {
  fields: { containerId: 'string', volumeId: 'string?', snapshotId: 'string?' }, snapshots: ['snapshotId'],
};
const rewind: OpSpec<'restore'> = {
  fields: {
    containerId: 'string', branchId: 'string', snapshotId: 'string', event: 'string',
    oldVolumeId: 'string', newVolumeId: 'string', fromSpare: 'boolean?', templateVersion: 'number?',
    detail: 'string?', bookmarkId: 'string?', bookmarkName: 'string?', oldBaseId: 'string?',
    newSpanId: 'string?', replaySpanId: 'string?', moment: 'string?',
  },
  snapshots: ['snapshotId', 'oldBaseId'],
};

const specs: { [K in JournalOp]: OpSpec<K> } = {
  'template-create': { fields: { ...templateBuild, name: 'string' }, snapshots: ['snapshotId'] },
  'template-refresh': { fields: templateBuild, snapshots: ['snapshotId'] },
  'container-create': { fields: { containerId: 'string', volumeId: 'string', port: 'number', uid: 'number?' }, snapshots: [] },
  'container-delete': {
    fields: { containerId: 'string', volumeIds: 'string?', volumeId: 'string?', port: 'number?', uid: 'number?' }, snapshots: [],
  },
  'branch-create': branchCreate,
  'branch-snapshot': branchCreate,
  'branch-delete': {
    fields: {
      containerId: 'string', volumeId: 'string', baseSnapshotId: 'string?', spareVolumeId: 'string?', spareSnapshotId: 'string?',
      coldSnapshotId: 'string?', readySnapshotId: 'string?',
    },
    snapshots: ['baseSnapshotId', 'spareSnapshotId', 'coldSnapshotId', 'readySnapshotId'],
  },
  'bookmark-create': { fields: { containerId: 'string', snapshotId: 'string' }, snapshots: ['snapshotId'] },
  'bookmark-pull': {
    fields: { volumeId: 'string', snapshotId: 'string', templateVolumeId: 'string?', templateSnapshotId: 'string?' },
    snapshots: ['snapshotId', 'templateSnapshotId'],
  },
  activate: { fields: { containerId: 'string', fromId: 'string', toId: 'string', captureId: 'string?' }, snapshots: ['captureId'] },
  restore: rewind,
  reset: rewind,
  refresh: rewind,
  'spare-build': {
    fields: {
      containerId: 'string', branchId: 'string', snapshotId: 'string', volumeId: 'string',
      dropVolumeId: 'string?', dropSnapshotId: 'string?',
    },
    snapshots: ['snapshotId', 'dropSnapshotId'],
  },
  dehydrate: {
    fields: {
      containerId: 'string', branchId: 'string', volumeId: 'string', snapshotId: 'string', lastActiveAt: 'string?',
      spareVolumeId: 'string?', spareSnapshotId: 'string?', ahead: 'boolean?',
    },
    snapshots: ['snapshotId', 'spareSnapshotId'],
  },
  materialise: {
    fields: {
      containerId: 'string', branchId: 'string', volumeId: 'string', snapshotId: 'string',
      victimId: 'string?', spareVolumeId: 'string?', spareSnapshotId: 'string?',
    },
    snapshots: ['snapshotId', 'spareSnapshotId'],
  },
};

export function isJournalOp(op: string): op is JournalOp {
  return Object.prototype.hasOwnProperty.call(specs, op);
}

/** A stored entry as its operation's record, or what is wrong with it: an operation this
 *  engine does not know, or a field missing or of the wrong type. The step is not checked:
 *  each recovery decides from the steps it knows. */
export function readJournalEntry(e: StoredJournalEntry): { rec: JournalRecord } | { problem: string } {
  if (!isJournalOp(e.op)) return { problem: `"${e.op}" is no operation this engine knows` };
  const data: Readonly<Record<string, unknown>> = e.data ?? {};
  for (const [field, kind] of Object.entries(specs[e.op].fields as Record<string, string>)) {
    const value = data[field];
    const optional = kind.endsWith('?');
    if (value === undefined && optional) continue;
    if (typeof value !== kind.replace('?', '')) return { problem: `its ${field} is ${value === undefined ? 'missing' : `not a ${kind.replace('?', '')}`}` };
  }
  return { rec: e as JournalRecord }; // checked above against its operation's fields
}

/** The snapshots a stored entry names, read from its operation's snapshot fields. Also for
 *  entries that would not pass readJournalEntry (0.1 ones, before upgrade.ts finishes them). */
export function journalSnapshots(e: StoredJournalEntry): string[] {
  if (!isJournalOp(e.op)) return [];
  const data: Readonly<Record<string, unknown>> = e.data ?? {};
  return (specs[e.op].snapshots as readonly string[]).map((f) => data[f]).filter((v): v is string => typeof v === 'string');
}
