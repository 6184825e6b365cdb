import { lsnValue, summaryEnd } from '../postgres/walSummaries';
import type { TreeEntry, VolumeTree } from './volumeFiles';

/**
 * What a driver needs to copy a running database (driver.ts, OnlineBackup): which
 * files wait until the backup has ended, and which are left out.
 */

/** Its contents are copied last, after pg_backup_stop: they must hold all the WAL up to the backup's end. */
export const ONLINE_WAL_DIR = 'pg_wal';

/** Files of the running server, not of its data; and the labels the backup itself
 *  supplies, which a tenant could otherwise plant in the data directory. */
const LEFT_OUT = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'backup_label.old', 'tablespace_map', 'tablespace_map.old']);

/** What of a running database's scan is copied during the backup: all but the WAL's
 *  contents (the directory itself is kept) and the files above. */
export function copiedDuringBackup(entries: TreeEntry[]): TreeEntry[] {
  return entries.filter((e) => !LEFT_OUT.has(e.rel) && !e.rel.startsWith(`${ONLINE_WAL_DIR}/`));
}

/**
 * The WAL as it is now, once the backup that started at `startLsn` has ended at `stopLsn`,
 * from the segment that holds the start (or the newest summary's end, if earlier) to the
 * one that holds the stop:
 * - Segments that start after it are left out: recycled ones (old segments renamed for
 *   reuse, full of stale WAL) and what the server wrote after the backup. Recovery needs
 *   the WAL up to the backup's end; the copy is of that moment.
 * - So are the WAL summaries that end after it. They describe WAL the copy does not hold; a
 *   copy started later writes its own WAL at those LSNs, and its summarizer, which goes on
 *   from the newest summary it finds, would never summarise that: the next capture would
 *   miss its pages (the summaries trap, DESIGN.md).
 */
export async function scanWal(tree: VolumeTree, startLsn: string, stopLsn: string): Promise<TreeEntry[]> {
  const stop = lsnValue(stopLsn);
  const kept = (await tree.scan(ONLINE_WAL_DIR)).filter((e) =>
    (summaryEnd(e.rel) ?? 0n) <= stop && (segmentStart(e.rel, Number(e.st.size)) ?? 0n) <= stop);
  // Segments that end before the backup's start are not needed to start the copy (recovery
  // begins at its checkpoint), and they cost a bookmark and a restore on blocks 16 MiB each.
  // The copy's summarizer goes on from the newest summary the copy holds, so the WAL from
  // there is kept too.
  let newest = 0n;
  for (const e of kept) {
    const end = summaryEnd(e.rel) ?? 0n;
    if (end > newest) newest = end;
  }
  const start = lsnValue(startLsn);
  const from = newest > 0n && newest < start ? newest : start;
  return kept.filter((e) => {
    const first = segmentStart(e.rel, Number(e.st.size));
    return first === undefined || first + BigInt(e.st.size) > from;
  });
}

const WAL_SEGMENT = /^pg_wal\/[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})$/;

/** The first LSN of a WAL segment file, from its name and its size (the segment size). */
export function segmentStart(rel: string, size: number): bigint | undefined {
  const m = WAL_SEGMENT.exec(rel);
  if (!m || size <= 0 || 0x100000000 % size !== 0) return undefined;
  const bytes = BigInt(size);
  return (BigInt(`0x${m[1]}`) * (0x100000000n / bytes) + BigInt(`0x${m[2]}`)) * bytes;
}
