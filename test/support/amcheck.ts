/**
 * PostgreSQL's own corruption checks, for tests that must prove data intact and not
 * merely counted: verify_heapam on every table, materialized view and TOAST table,
 * and bt_index_check with heapallindexed on every valid B-tree index. The amcheck
 * extension ships with the embedded PostgreSQL; it is created for the check and
 * dropped after, so user tables and their checksums are untouched.
 */
import { Client } from 'pg';

export interface AmcheckResult {
  heaps: number;
  indexes: number;
  /** One line per corruption found; empty when the database is intact. */
  problems: string[];
}

export async function amcheck(url: string): Promise<AmcheckResult> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 20_000 });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS amcheck');
    const problems: string[] = [];
    const heaps = (await client.query<{ oid: number; name: string }>(
      `SELECT c.oid, c.oid::regclass::text AS name FROM pg_class c
        WHERE c.relkind IN ('r', 'm', 't') AND c.relpersistence <> 't'`)).rows;
    for (const h of heaps) {
      const bad = await client.query<{ blkno: string; offnum: string; msg: string }>(
        'SELECT blkno, offnum, msg FROM verify_heapam($1::regclass, check_toast => true)', [h.oid]);
      for (const r of bad.rows) problems.push(`${h.name} block ${r.blkno} item ${r.offnum}: ${r.msg}`);
    }
    const indexes = (await client.query<{ oid: number; name: string }>(
      `SELECT c.oid, c.oid::regclass::text AS name FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
        WHERE am.amname = 'btree' AND i.indisvalid AND i.indisready AND c.relpersistence <> 't'`)).rows;
    for (const ix of indexes) {
      try {
        await client.query('SELECT bt_index_check($1::regclass, heapallindexed => true)', [ix.oid]);
      } catch (err) {
        problems.push(`${ix.name}: ${(err as Error).message}`);
      }
    }
    await client.query('DROP EXTENSION amcheck');
    return { heaps: heaps.length, indexes: indexes.length, problems };
  } finally {
    await client.end();
  }
}
