import * as fs from 'fs';
import * as path from 'path';
import type { Client } from 'pg';
import type { FileOwner } from '../volumes/driver';
import { fixVolumeDir, replaceWithEmptyFile } from '../volumes/volumeFiles';

/**
 * A branch's WAL, kept so any moment of its history can be rebuilt (docs/architecture.md,
 * "Point-in-time restore"). PostgreSQL's own archiver copies each finished WAL segment into
 * the span's folder with `basic_archive` (which ships with PostgreSQL: it writes a temporary
 * file, syncs it and renames it, so a crash never leaves half a segment under a segment's
 * name). A point-in-time restore starts a snapshot's copy with `recovery.signal` and a
 * `restore_command` that reads that folder, replays up to the moment, and promotes it onto
 * a new timeline.
 *
 * Every setting here goes on the server's command line, which beats postgresql.conf and
 * `ALTER SYSTEM` (fixedSettings.ts): nothing inside a database can send its WAL elsewhere or
 * run another command. The folder is the container's OS user's, like its data: a tenant who
 * forges WAL there can only make their own point-in-time restores wrong (docs/security.md).
 */

/** The settings that archive into `dir`. */
export function archiveSettings(dir: string): Array<[string, string]> {
  return [['archive_mode', 'on'], ['archive_library', 'basic_archive'], ['basic_archive.archive_directory', checkedPath(dir)]];
}

/** What a start replays to: the WAL in `fromDir`, up to the last transaction committed at or
 *  before `target` (an ISO time). */
export interface Recovery {
  fromDir: string;
  target: string;
}

/** The settings of a start that replays to a moment, then promotes. hot_standby off: nobody
 *  connects before the replay ends, and the start counts as ready only once it has. */
export function recoverySettings(r: Recovery): Array<[string, string]> {
  return [
    ['restore_command', `cp "${checkedPath(r.fromDir)}/%f" "%p"`],
    ['recovery_target_time', pgTime(r.target)],
    ['recovery_target_action', 'promote'],
    ['recovery_target_timeline', 'latest'],
    ['hot_standby', 'off'],
  ];
}

/** PostgreSQL refuses ISO's `T…Z` form here (its check reads a plain timestamptz literal). */
function pgTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new Error(`not a moment: ${iso}`);
  return d.toISOString().replace('T', ' ').replace('Z', '+00');
}

/** Paths go inside a double-quoted shell word, inside a single-quoted option: nothing that
 *  either quoting would read. The engine's own folders never hold such characters. */
function checkedPath(p: string): string {
  if (/["'`$\\%\n]/.test(p)) throw new Error(`the WAL archive path ${JSON.stringify(p)} holds a character a shell command cannot carry; move the engine's pool`);
  return p;
}

/** Make the archive folder, the container's user's own (PostgreSQL writes it), not readable by
 *  others. The folder of all archives is the engine's: others may pass through it, not list
 *  it, and nobody else can put a link in it. The span's folder is still opened without
 *  following one before its mode and owner are set (fixVolumeDir). */
export async function prepareArchiveDir(dir: string, owner: FileOwner | undefined): Promise<void> {
  await fs.promises.mkdir(path.dirname(dir), { recursive: true, mode: 0o711 });
  await fs.promises.chmod(path.dirname(dir), 0o711);
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  await fixVolumeDir(dir, owner);
}

/** Write `recovery.signal` into a volume that is not running: its next start replays. The
 *  volume holds the tenant's files, so whatever has that name goes first, without a link
 *  being followed (volumeFiles.replaceWithEmptyFile). */
export function writeRecoverySignal(dataDir: string, owner: FileOwner | undefined): Promise<void> {
  return replaceWithEmptyFile(dataDir, 'recovery.signal', owner);
}

/** How long archiving the last segment may take before a flush gives up (it waits in a restore). */
const FLUSH_TIMEOUT_MS = 10_000;

/**
 * Put everything written so far into the archive: a transaction that commits now (replay to a
 * moment stops at the first commit after it, so there is always one to stop at), a switch to
 * the next WAL segment, and a wait until the archiver has copied the finished one. Returns
 * the time of that commit: every moment before it can be rebuilt from the archive.
 */
export async function flushToArchive(client: Client): Promise<{ at: string; segment: string }> {
  await client.query('BEGIN');
  const { rows } = await client.query('SELECT pg_catalog.pg_current_xact_id()::text AS xid, pg_catalog.clock_timestamp() AS at');
  await client.query('COMMIT');
  const at = (rows[0].at as Date).toISOString();
  const sw = await client.query('SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal()) AS segment, pg_catalog.clock_timestamp() AS switched');
  const segment = String(sw.rows[0].segment);
  const switched = sw.rows[0].switched as Date;
  const deadline = Date.now() + FLUSH_TIMEOUT_MS;
  for (;;) {
    const st = await client.query('SELECT last_archived_wal, last_failed_wal, last_failed_time FROM pg_catalog.pg_stat_archiver');
    const { last_archived_wal: archived, last_failed_wal: failed, last_failed_time: failedAt } = st.rows[0] as
      { last_archived_wal: string | null; last_failed_wal: string | null; last_failed_time: Date | null };
    if (archived && archived >= segment) return { at, segment };
    // A failure since the switch (a full pool, a folder gone) would only repeat: do not wait it out.
    if (failed && failedAt && failedAt >= switched) throw new Error(`archiving the WAL segment ${failed} failed (the database log says why)`);
    if (Date.now() > deadline) throw new Error(`the WAL segment ${segment} was not archived within ${FLUSH_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
