/**
 * Which WAL a copy of a data directory reads again. A snapshot's pg_wal holds segments that
 * end before its last checkpoint's redo point: PostgreSQL removes them at the next checkpoint,
 * and until then keeps them (its WAL summarizer had not read them when the checkpoint ended, or
 * its archiver had not sent them). No copy started from the snapshot reads them: recovery begins
 * at the redo point (an online backup's copy, at the backup's start), and a copy's summarizer
 * begins at the newer of its oldest segment and its newest summary's end
 * (GetOldestUnsummarizedLSN), never before the redo point the blocks driver asks it from. A push
 * leaves them out, as pg_basebackup does: after a 1% change they were 40% of the chunks a push
 * sent (docs/performance.md, "Stop 30"). It leaves out too the segments ahead of the WAL that
 * hold none yet (unwrittenWal).
 */
import type { SnapshotEntry } from '../volumes/snapshotReader';
import { segmentStart } from '../volumes/onlineBackup';

export const CONTROL_FILE = 'global/pg_control';
export const BACKUP_LABEL = 'backup_label';

/** What a data directory's pg_control says about its WAL. */
export interface ControlFile {
  /** The last checkpoint record's LSN, and its redo LSN. */
  checkPoint: bigint;
  redo: bigint;
  /** Shut down cleanly: the checkpoint record is the last WAL record. */
  shutDown: boolean;
}

/** Bytes of pg_control parseControlFile reads. */
export const CONTROL_HEAD = 48;

/** From pg_control's first CONTROL_HEAD bytes (ControlFileData: `state` at byte 16, `checkPoint`
 *  at byte 32, then `checkPointCopy`, which starts with `redo`, since PostgreSQL 11); undefined
 *  when they do not make sense. */
export function parseControlFile(buf: Buffer): ControlFile | undefined {
  if (buf.length < CONTROL_HEAD) return undefined;
  const checkPoint = buf.readBigUInt64LE(32);
  const redo = buf.readBigUInt64LE(40);
  return redo > 0n && redo <= checkPoint ? { checkPoint, redo, shutDown: buf.readUInt32LE(16) === DB_SHUTDOWNED } : undefined;
}

/** DBState's DB_SHUTDOWNED (catalog/pg_control.h). */
const DB_SHUTDOWNED = 1;

/** An online backup's start, from its backup_label ("START WAL LOCATION: 0/2000028 (file …)"). */
export function backupStart(label: string): bigint | undefined {
  const m = /^START WAL LOCATION: ([0-9A-F]{1,8})\/([0-9A-F]{1,8}) /m.exec(label);
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : undefined;
}

/**
 * The files of `entries` no copy reads again: WAL segments that end at or before `control`'s
 * redo point and the backup's start (`label`, the snapshot's backup_label, if it has one), with
 * their archive status files. None when the snapshot holds a replication slot (a slot keeps the
 * WAL from its own point on) or a backup_label that does not say where it starts. `control` and
 * `label` come from the snapshot, which its tenant wrote: what they make a push leave out is
 * only that tenant's own WAL.
 */
export function spentWal(entries: readonly SnapshotEntry[], control: ControlFile, label?: string): Set<string> {
  const spent = new Set<string>();
  let before = control.redo;
  if (label !== undefined) {
    const start = backupStart(label);
    if (start === undefined) return spent;
    if (start < before) before = start;
  }
  if (entries.some((e) => e.path.startsWith('pg_replslot/'))) return spent;
  for (const e of entries) {
    if (e.type !== 'file' || e.size < MIN_SEGMENT) continue;
    const start = segmentStart(e.path, e.size);
    if (start !== undefined && start + BigInt(e.size) <= before) spent.add(e.path);
  }
  for (const e of entries) {
    const m = ARCHIVE_STATUS.exec(e.path);
    if (m && spent.has(`pg_wal/${m[1]}`)) spent.add(e.path);
  }
  return spent;
}

/**
 * The WAL segments of `entries` past the one the last checkpoint is in that hold no WAL yet:
 * segments a checkpoint renamed ahead for reuse (full of old WAL) or made ahead of time (zeros,
 * when it ended past three quarters of a segment). PostgreSQL writes a segment's first page
 * before anything after it, and its header names the segment's own start (xlp_pageaddr, at
 * byte 8); these name another place, or none. Recovery of a copy ends where the WAL does, at
 * such a segment as at a missing one, and PostgreSQL makes the segments it writes next.
 * `firstPage` reads the start of a segment (its first chunk).
 */
export async function unwrittenWal(entries: readonly SnapshotEntry[], control: ControlFile,
  firstPage: (path: string) => Promise<Buffer>): Promise<Set<string>> {
  const unwritten = new Set<string>();
  // Read side by side: a snapshot's pages are seldom cached, and one after another a few
  // segments' first pages took 30 ms of a push after a small change.
  const ahead = entries.flatMap((e) => {
    const start = e.type === 'file' && e.size >= MIN_SEGMENT ? segmentStart(e.path, e.size) : undefined;
    return start !== undefined && start > control.checkPoint ? [{ path: e.path, start }] : [];
  });
  await Promise.all(ahead.map(async ({ path, start }) => {
    const page = await firstPage(path);
    if (page.length < PAGE_HEADER || page.readBigUInt64LE(8) !== start) unwritten.add(path);
  }));
  return unwritten;
}

/** The bytes of a WAL page header up to and with xlp_pageaddr (XLogPageHeaderData). */
const PAGE_HEADER = 16;

/** PostgreSQL's smallest WAL segment size (initdb --wal-segsize 1). */
const MIN_SEGMENT = 1024 * 1024;
const ARCHIVE_STATUS = /^pg_wal\/archive_status\/([0-9A-F]{24})\.(ready|done)$/;
