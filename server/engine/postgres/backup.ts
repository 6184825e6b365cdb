import type { OnlineBackup } from '../volumes/driver';
import { type ClusterSpec, withLocalClient } from './cluster';
import { changedPagesBetween, isLsn } from './walSummaries';

/**
 * An online base backup of a running cluster, for drivers whose snapshots are not
 * atomic: the database keeps serving while its files are copied, and no session is cut.
 *
 * The engine's session (private socket, no libraries, pg_catalog only) first makes a
 * temporary physical replication slot that reserves WAL at once, so no checkpoint during
 * a long copy can recycle the segment the backup starts from; the slot dies with the
 * session. Then pg_backup_start(fast), the copy, pg_backup_stop: its label goes into the
 * copy, and the driver copies pg_wal after it, so the copy holds all the WAL it needs.
 * Starting the copy replays that WAL from the backup's checkpoint ("backup recovery").
 */

export type BackupResult =
  | { started: true; lsn: string }
  /** pg_backup_start or the slot was refused (the data's settings, a full slot table):
   *  the caller captures another way. Nothing was copied. */
  | { started: false; reason: string };

export async function withOnlineBackup(spec: ClusterSpec, label: string, copy: (online: OnlineBackup) => Promise<void>):
  Promise<BackupResult> {
  return withLocalClient(spec, async (client) => {
    let startLsn: string;
    try {
      await client.query('SELECT pg_catalog.pg_create_physical_replication_slot($1, true, true)', [slotName(label)]);
      startLsn = String((await client.query('SELECT pg_catalog.pg_backup_start($1, true)::text AS lsn', [label])).rows[0].lsn);
    } catch (err) {
      return { started: false, reason: (err as Error).message };
    }
    if (!isLsn(startLsn)) throw new Error(`pg_backup_start answered ${JSON.stringify(startLsn)}, not an LSN`);
    let lsn: string | undefined;
    try {
      await copy({
        startLsn,
        changedSince: (since) => changedPagesBetween(client, since, startLsn),
        finish: async () => {
          const { rows } = await client.query('SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_catalog.pg_backup_stop(false)');
          lsn = String(rows[0].lsn);
          if (!isLsn(lsn)) throw new Error(`pg_backup_stop answered ${JSON.stringify(lsn)}, not an LSN`);
          const files = new Map([['backup_label', Buffer.from(String(rows[0].labelfile))]]);
          if (rows[0].spcmapfile) files.set('tablespace_map', Buffer.from(String(rows[0].spcmapfile)));
          return { files, stopLsn: lsn };
        },
      });
    } finally {
      if (lsn === undefined) await client.query('SELECT pg_catalog.pg_backup_stop(false)').catch(() => undefined);
    }
    if (lsn === undefined) throw new Error('the volume driver never ended the online backup');
    return { started: true, lsn };
  });
}

/** Slot names allow lower-case letters, digits and underscores. */
function slotName(label: string): string {
  return `slipstream_${label.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}
