/**
 * The datasets: pgbench's schema (branches, tellers, accounts, history) filled
 * with generate_series, so every run and every peer gets the same rows with no
 * download and no dependence on Debian's pgbench. One scale unit is 100,000
 * accounts, about 15 MB on disk, as with pgbench -i.
 */
export interface Dataset {
  name: string;
  scale: number;
}

/** pg_database_size measured here: 7.5 MB of catalogs plus 15 MB per scale unit
 *  (scale 1: 23 MB, 6: 97 MB, 16: 247 MB, 160: 2400 MB). */
export function approxMB(scale: number): number {
  return Math.round(7.5 + 15 * scale);
}

export function describe(ds: Dataset): string {
  return `${ds.name} (pgbench scale ${ds.scale}, ~${approxMB(ds.scale)} MB)`;
}

/** Statements that build the dataset in the current database. fillfactor 100 is
 *  pgbench's default: an UPDATE must then put the new row version on another page,
 *  as happens in a busy table. VACUUM FREEZE leaves no hint-bit writes for later
 *  reads to do, so the first read of a copy dirties nothing. */
export function seedStatements(ds: Dataset): string[] {
  const s = ds.scale;
  return [
    'CREATE TABLE pgbench_branches (bid int NOT NULL, bbalance int, filler char(88)) WITH (fillfactor = 100)',
    'CREATE TABLE pgbench_tellers (tid int NOT NULL, bid int, tbalance int, filler char(84)) WITH (fillfactor = 100)',
    'CREATE TABLE pgbench_accounts (aid int NOT NULL, bid int, abalance int, filler char(84)) WITH (fillfactor = 100)',
    'CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))',
    `INSERT INTO pgbench_branches SELECT b, 0, '' FROM generate_series(1, ${s}) b`,
    `INSERT INTO pgbench_tellers SELECT t, (t - 1) / 10 + 1, 0, '' FROM generate_series(1, ${10 * s}) t`,
    `INSERT INTO pgbench_accounts SELECT a, (a - 1) / 100000 + 1, 0, '' FROM generate_series(1, ${100000 * s}) a`,
    'ALTER TABLE pgbench_branches ADD PRIMARY KEY (bid)',
    'ALTER TABLE pgbench_tellers ADD PRIMARY KEY (tid)',
    'ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)',
    'VACUUM (FREEZE, ANALYZE)',
  ];
}

/** The same statements as one SQL file, for the engine's `sql` template source. */
export function seedFile(ds: Dataset): string {
  return seedStatements(ds).map((s) => `${s};\n`).join('');
}

/**
 * How the 1% of accounts rows to update are chosen, deterministically:
 * - scattered: every 100th aid (aid % 100 = k), the shape of random OLTP writes;
 *   it dirties about 60% of the table's 8 KiB pages.
 * - clustered: one contiguous 1% range of aids, the shape of a batch job on
 *   recent rows; it dirties about 1% of the pages (plus where the new versions go).
 */
export type ChangePattern = 'scattered' | 'clustered';

export function changeStatement(ds: Dataset, pattern: ChangePattern, k: number): string {
  const rows = ds.scale * 100000;
  if (pattern === 'scattered') return `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = ${k % 100}`;
  const width = rows / 100;
  const lo = (k % 100) * width + 1;
  return `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN ${lo} AND ${lo + width - 1}`;
}
