/**
 * Which pages of a running cluster changed since an earlier capture, from PostgreSQL's
 * WAL summaries (`summarize_wal = on`, fixed on every server's command line by
 * walSettings.ts). The blocks driver reads only those pages' chunks of a relation
 * file instead of the whole file (issue "ext4 without root", docs/architecture.md
 * "Changed pages from WAL summaries").
 *
 * The summaries are trusted only where they are complete: the cluster's own history (its
 * timeline, and after a point-in-time restore its ancestors up to where each ended), no gap
 * between `since` and `upto`, and the summarizer past `upto`. Anything else (a summary
 * removed after wal_summary_keep_time, a start that skipped WAL) answers with a reason, and
 * the caller reads whole files: slower, never wrong.
 *
 * What summaries do not say, and so what is never vouched for here: the free space map
 * and visibility map forks (not fully WAL-logged), unlogged and temporary relations (no
 * WAL at all; the caller sees their `_init` fork or `t` prefix), relations created,
 * dropped or truncated within the range (a "limit block"), files outside relations.
 */
import type { Client } from 'pg';

/** PostgreSQL's fixed OIDs of the two built-in tablespaces. */
const DEFAULT_TABLESPACE = 1663;
const GLOBAL_TABLESPACE = 1664;
const MAIN_FORK = 0;

/** The pages that may differ, by relation segment file (relative to the data directory). */
export interface ChangedPagesJson {
  blocks: Record<string, number[]>;
  limited: string[];
  blockSize: number;
  blocksPerSegment: number;
}

export class ChangedPages {
  constructor(
    /** Changed block numbers within the segment, by segment file. */
    private readonly blocks: ReadonlyMap<string, ReadonlySet<number>>,
    /** Relations (the path of segment 0) created, dropped or truncated in the range. */
    private readonly limited: ReadonlySet<string>,
    readonly blockSize: number,
    private readonly blocksPerSegment: number,
  ) {}

  /** These and the pages `rows` name (the WAL records after the summaries, walRecords.ts). */
  plus(rows: readonly SummaryRow[]): ChangedPages {
    const blocks = new Map([...this.blocks].map(([k, v]) => [k, new Set(v)]));
    const limited = new Set(this.limited);
    addRows(rows, this.blocksPerSegment, blocks, limited);
    return new ChangedPages(blocks, limited, this.blockSize, this.blocksPerSegment);
  }

  /**
   * The chunks of `rel` (chunk `i` covers bytes [i * chunkSize, (i + 1) * chunkSize)) that
   * hold a changed page, or undefined when the summaries cannot vouch for the file: it is
   * not the main fork of a logged relation, or the relation was created, dropped or truncated.
   */
  chunksOf(rel: string, chunkSize: number): Set<number> | undefined {
    const seg = relationSegment(rel);
    if (!seg || this.limited.has(seg.relation)) return undefined;
    const out = new Set<number>();
    for (const b of this.blocks.get(rel) ?? []) out.add(Math.floor((b * this.blockSize) / chunkSize));
    return out;
  }

  /** Changed pages in all, for the log. */
  get pageCount(): number {
    let n = 0;
    for (const s of this.blocks.values()) n += s.size;
    return n;
  }

  /** For a volume's state file (blocks: the pages noted when its database stopped). */
  toJSON(): ChangedPagesJson {
    return {
      blocks: Object.fromEntries([...this.blocks].map(([k, v]) => [k, [...v]])), limited: [...this.limited],
      blockSize: this.blockSize, blocksPerSegment: this.blocksPerSegment,
    };
  }

  /** What toJSON wrote, or undefined if it is not that (a damaged state then costs a rehash). */
  static fromJSON(raw: unknown): ChangedPages | undefined {
    const j = raw as Partial<ChangedPagesJson> | undefined;
    const whole = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
    if (!j || typeof j !== 'object' || !whole(j.blockSize) || !whole(j.blocksPerSegment) || !Array.isArray(j.limited)
      || !j.limited.every((l) => typeof l === 'string') || !j.blocks || typeof j.blocks !== 'object') return undefined;
    const blocks = new Map<string, Set<number>>();
    for (const [file, list] of Object.entries(j.blocks)) {
      if (!Array.isArray(list) || !list.every(whole)) return undefined;
      blocks.set(file, new Set(list));
    }
    return new ChangedPages(blocks, new Set(j.limited), j.blockSize, j.blocksPerSegment);
  }

  /** Built from rows of pg_wal_summary_contents. */
  static fromRows(rows: readonly SummaryRow[], blocksPerSegment: number, blockSize: number): ChangedPages {
    const blocks = new Map<string, Set<number>>();
    const limited = new Set<string>();
    addRows(rows, blocksPerSegment, blocks, limited);
    return new ChangedPages(blocks, limited, blockSize, blocksPerSegment);
  }
}

function addRows(rows: readonly SummaryRow[], blocksPerSegment: number, blocks: Map<string, Set<number>>, limited: Set<string>): void {
  for (const r of rows) {
    if (r.fork !== MAIN_FORK) continue;
    const relation = relationPath(r.tablespace, r.database, r.relfilenode);
    if (relation === undefined) continue; // another tablespace: its files are never vouched for
    if (r.isLimit) {
      limited.add(relation);
      continue;
    }
    const segno = Math.floor(r.block / blocksPerSegment);
    const file = segno === 0 ? relation : `${relation}.${segno}`;
    let set = blocks.get(file);
    if (!set) blocks.set(file, (set = new Set()));
    set.add(r.block % blocksPerSegment);
  }
}

export interface SummaryRow {
  tablespace: number;
  database: number;
  relfilenode: number;
  fork: number;
  block: number;
  isLimit: boolean;
}

/** The data-directory path of a relation's main fork, segment 0. */
function relationPath(tablespace: number, database: number, relfilenode: number): string | undefined {
  if (tablespace === DEFAULT_TABLESPACE) return `base/${database}/${relfilenode}`;
  if (tablespace === GLOBAL_TABLESPACE) return `global/${relfilenode}`;
  return undefined;
}

/** A main-fork segment file of a relation in a built-in tablespace, and its relation's segment 0. */
export function relationSegment(rel: string): { relation: string; segno: number } | undefined {
  const m = /^((?:base\/\d+|global)\/\d+)(?:\.(\d+))?$/.exec(rel);
  return m ? { relation: m[1], segno: m[2] ? Number(m[2]) : 0 } : undefined;
}

/** A relation whose `_init` fork exists is unlogged: none of its changes reach the WAL. */
export function isUnlogged(rel: string, exists: (rel: string) => boolean): boolean {
  const seg = relationSegment(rel);
  return seg !== undefined && exists(`${seg.relation}_init`);
}

/** An LSN ("16/B374D848") as a number that compares. */
export function lsnValue(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function isLsn(lsn: unknown): lsn is string {
  return typeof lsn === 'string' && /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(lsn);
}

/** The summary files' name: timeline, start LSN and end LSN in hex (walsummary.c). */
const SUMMARY_FILE = /^pg_wal\/summaries\/([0-9A-F]{8})([0-9A-F]{16})([0-9A-F]{16})\.summary$/;

/** The end LSN of a WAL summary file, from its name; undefined for any other file. */
export function summaryEnd(rel: string): bigint | undefined {
  const m = SUMMARY_FILE.exec(rel);
  return m ? BigInt(`0x${m[3]}`) : undefined;
}

interface Summary { tli: number; start: string; end: string }

/** At most this many changed pages are listed (64 GiB of 8 KiB pages); past it, files are read whole. */
const MAX_ROWS = 8_000_000;

/**
 * The pages changed between `since` and `upto` (both LSNs of this cluster's current
 * timeline), or why the summaries cannot say. Waits (up to `waitMs`) for the summarizer
 * to reach `upto`: a backup's start LSN is a checkpoint's redo point, where it ends a summary.
 */
export async function changedPagesBetween(client: Client, since: string, upto: string, waitMs = 10_000, known?: Cluster):
  Promise<ChangedPages | { reason: string }> {
  const from = lsnValue(since);
  const to = lsnValue(upto);
  if (from > to) return { reason: `the last capture (${since}) is ahead of this one (${upto})` };
  const cluster = known ?? await clusterOf(client);
  const reached = await waitForSummarizer(client, cluster.tli, to, waitMs);
  if (reached !== true) return { reason: reached };
  const { rows } = await client.query(
    `SELECT tli::int AS tli, start_lsn::text AS start, end_lsn::text AS end FROM pg_catalog.pg_available_wal_summaries()
      WHERE end_lsn > $1::pg_lsn AND start_lsn < $2::pg_lsn ORDER BY start_lsn`, [since, upto]);
  const ends = cluster.tli > 1 ? await timelineEnds(client, cluster.tli) : new Map<number, bigint>();
  if (typeof ends === 'string') return { reason: ends };
  const covering = summariesCovering(rows as Summary[], cluster.tli, from, to, ends);
  if ('reason' in covering) return covering;
  const all: SummaryRow[] = [];
  for (const s of covering.use) {
    // One row per fork with its blocks as a list: thousands of rows cost the engine more to
    // parse than the server to list. Bounded: the answer comes from the tenant's own server,
    // and the engine holds it in memory.
    const r = await client.query(
      `SELECT reltablespace::int8::text AS ts, reldatabase::int8::text AS db, relfilenode::int8::text AS node,
              relforknumber::int AS fork, is_limit_block AS is_limit, string_agg(relblocknumber::int8::text, ',') AS blocks
         FROM (SELECT * FROM pg_catalog.pg_wal_summary_contents($1::int8, $2::pg_lsn, $3::pg_lsn) LIMIT $4) c
        GROUP BY 1, 2, 3, 4, 5`, [s.tli, s.start, s.end, MAX_ROWS - all.length + 1]);
    for (const row of r.rows) {
      const blocks = String(row.blocks).split(',');
      if (all.length + blocks.length > MAX_ROWS) return { reason: `the WAL summaries name more than ${MAX_ROWS} changed pages` };
      const key = { tablespace: Number(row.ts), database: Number(row.db), relfilenode: Number(row.node), fork: Number(row.fork), isLimit: row.is_limit === true };
      for (const block of blocks) all.push({ ...key, block: Number(block) });
    }
  }
  return ChangedPages.fromRows(all, cluster.blocksPerSegment, cluster.blockSize);
}

/** The ends of the current timeline's ancestors, from its history file (the engine connects as
 *  superuser), or why they cannot be read. The file is the tenant's: a forged one can only make
 *  the tenant's own capture miss pages of its own history. */
async function timelineEnds(client: Client, tli: number): Promise<TimelineEnds | string> {
  const name = `pg_wal/${tli.toString(16).toUpperCase().padStart(8, '0')}.history`;
  try {
    const { rows } = await client.query('SELECT pg_catalog.pg_read_file($1) AS text', [name]);
    return parseHistory(String(rows[0].text));
  } catch (err) {
    return `the history of timeline ${tli} could not be read (${(err as Error).message})`;
  }
}

/** What the page lists need to know of a cluster: its timeline and its sizes. */
interface Cluster { tli: number; blockSize: number; blocksPerSegment: number; walSegmentSize: number }

async function clusterOf(client: Client): Promise<Cluster> {
  // segment_size is in blocks: a relation file holds that many before the next segment.
  const { rows } = await client.query(`SELECT (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS tli,
    current_setting('block_size')::int AS bs, (SELECT setting::int8 FROM pg_catalog.pg_settings WHERE name = 'segment_size') AS segblocks,
    pg_catalog.pg_size_bytes(current_setting('wal_segment_size')) AS walseg`);
  const r = rows[0];
  return { tli: Number(r.tli), blockSize: Number(r.bs), blocksPerSegment: Number(r.segblocks), walSegmentSize: Number(r.walseg) };
}

/**
 * What a running cluster can tell about the pages changed since `since` before it stops:
 * the summaries written so far, and where the WAL they do not cover starts. The rest is
 * read from the WAL itself once the server is down (walRecords.ts), so nothing written
 * between this question and the stop is missed.
 */
export interface ChangesSoFar {
  since: string;
  pages: ChangedPages;
  /** The WAL from here on is not summarised yet. */
  walFrom: string;
  /** The server had written its WAL this far when asked: the WAL read later must reach it. */
  flushed: string;
  timeline: number;
  walSegmentSize: number;
}

export async function changesSoFar(client: Client, since: string): Promise<ChangesSoFar | { reason: string }> {
  const cluster = await clusterOf(client);
  const { rows } = await client.query(`SELECT pg_catalog.pg_current_wal_flush_lsn()::text AS flushed, summarized_tli::int AS tli,
    summarized_lsn::text AS lsn FROM pg_catalog.pg_get_wal_summarizer_state()`);
  const s = rows[0] as { flushed: string; tli: number; lsn: string };
  const { flushed } = s;
  const tli = cluster.tli;
  if (!isLsn(flushed)) return { reason: `pg_current_wal_flush_lsn answered ${JSON.stringify(flushed)}` };
  if (s.tli !== tli || !isLsn(s.lsn)) return { reason: `the WAL summarizer is on timeline ${s.tli}, the cluster on ${tli}` };
  const walSegmentSize = cluster.walSegmentSize;
  if (lsnValue(s.lsn) <= lsnValue(since)) {
    const none = ChangedPages.fromRows([], cluster.blocksPerSegment, cluster.blockSize);
    return { since, pages: none, walFrom: since, flushed, timeline: tli, walSegmentSize };
  }
  const pages = await changedPagesBetween(client, since, s.lsn, 0, cluster);
  if (!(pages instanceof ChangedPages)) return pages;
  return { since, pages, walFrom: s.lsn, flushed, timeline: tli, walSegmentSize };
}

/**
 * Where each earlier timeline of the cluster's history ends (its switch point), from the
 * current timeline's history file: after a point-in-time restore the data came from an
 * ancestor timeline up to that point, then from the current one (`tli`: no end).
 */
export type TimelineEnds = ReadonlyMap<number, bigint>;

/** Read a timeline history file (`<parent tli>\t<switch point>\t<reason>` per line, timeline.c). */
export function parseHistory(text: string): TimelineEnds {
  const ends = new Map<number, bigint>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})/.exec(line);
    if (m) ends.set(Number(m[1]), lsnValue(m[2]));
  }
  return ends;
}

/** The part of a summary that describes this cluster's own history, or undefined: a summary
 *  of an ancestor timeline counts up to that timeline's end (past it, it summarised WAL that
 *  was restored from the archive but never replayed: extra pages, harmless, yet no cover). */
function ownPart(s: Summary, tli: number, ends: TimelineEnds): { start: bigint; end: bigint } | undefined {
  const start = lsnValue(s.start);
  const end = lsnValue(s.end);
  if (s.tli === tli) return { start, end };
  const ended = ends.get(s.tli);
  if (ended === undefined || start >= ended) return undefined; // not this history, or past its end
  return { start, end: end < ended ? end : ended };
}

/** The summaries of this cluster's history (timeline `tli` and its ancestors) that cover
 *  [from, to) without a gap, or why they do not. */
export function summariesCovering(summaries: readonly Summary[], tli: number, from: bigint, to: bigint, ends: TimelineEnds = new Map()):
  { use: Summary[] } | { reason: string } {
  let covered = from;
  const use: Summary[] = [];
  for (const s of summaries) {
    const part = ownPart(s, tli, ends);
    if (!part) continue;
    if (part.start > covered) return { reason: `no WAL summary covers ${formatLsn(covered)} to ${s.start} on timeline ${s.tli}` };
    if (part.end > covered) covered = part.end;
    use.push(s);
  }
  return covered >= to ? { use } : { reason: `no WAL summary of this history (timeline ${tli}${ends.size ? ` and ${[...ends.keys()].join(', ')}` : ''}) covers ${formatLsn(covered)} to ${formatLsn(to)}` };
}

export function formatLsn(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Wait until the summarizer has summarised WAL up to `to` on timeline `tli`; true, or why not. */
export async function waitForSummarizer(client: Client, tli: number, to: bigint, waitMs: number): Promise<true | string> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await client.query(
      'SELECT summarized_tli::int AS tli, summarized_lsn::text AS lsn, summarizer_pid AS pid FROM pg_catalog.pg_get_wal_summarizer_state()');
    const s = rows[0] as { tli: number; lsn: string; pid: number | null };
    if (s.tli === tli && lsnValue(s.lsn) >= to) return true;
    if (Date.now() > deadline) {
      return s.pid === null ? 'the WAL summarizer is not running' : `the WAL summarizer reached ${s.lsn} of timeline ${s.tli}, not ${formatLsn(to)} in ${waitMs / 1000} s`;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
