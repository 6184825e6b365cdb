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

/** The WAL as it is now, once the backup has ended. */
export function scanWal(tree: VolumeTree): Promise<TreeEntry[]> {
  return tree.scan(ONLINE_WAL_DIR);
}
