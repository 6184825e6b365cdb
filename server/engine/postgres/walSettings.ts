/**
 * WAL settings that decide how much a branch costs on disk. Measured on this
 * machine (docs/performance.md, "Storage"): a template plus 10 branches, each
 * with a clustered 1% change.
 *
 * - `wal_compression`: a branch's first change to a page after a checkpoint
 *   writes the whole page to WAL, and that WAL is the branch's own bytes.
 *   Compressed (pglz: the embedded build has neither lz4 nor zstd), a branch
 *   cost 12.5 MB instead of 14.5 MB on reflink.
 * - `wal_recycle` and `wal_init_zero` off on copy-on-write volumes, as
 *   PostgreSQL's documentation advises for such file systems: a recycled
 *   segment is an old one renamed, still full of old WAL, and a new one is
 *   written with 16 MB of zeros. Every template kept ~280 MB of segments it
 *   would never read (551 MB became 270 MB), and each is shared by every
 *   branch cloned from it. On blocks, zeros are not stored and a copy is a copy,
 *   so PostgreSQL's defaults stay.
 *
 * Passed on the command line like the fixed settings, so data that says
 * otherwise cannot make every branch of it grow.
 */
export function walOptions(copyOnWrite: boolean): string[] {
  // summarize_wal: the WAL summaries name the pages changed since a capture, so the blocks
  // driver reads only those (walSummaries.ts). Fixed here, so data cannot turn it off.
  // wal_log_hints: a page whose only change is a hint bit (a transaction's outcome, cached
  // on its rows) is otherwise written without any WAL. A restore in place keeps every page
  // the WAL does not name; one that kept a "committed" hint for a transaction the restored
  // bookmark had seen aborted would show rows that were never committed (pg_rewind asks for
  // the same setting, for the same reason).
  const opts = ['-c wal_compression=pglz', '-c summarize_wal=on', '-c wal_log_hints=on'];
  if (copyOnWrite) opts.push('-c wal_recycle=off', '-c wal_init_zero=off');
  return opts;
}
