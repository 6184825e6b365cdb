/**
 * The one loader for SQL text: `sql` sources, plain-format dump files and the
 * output of `pg_dump` for `url` sources. It does what `psql -v ON_ERROR_STOP=1 -f`
 * does, without psql (the embedded PostgreSQL has none):
 *
 * - the input is read as bytes, line by line, and never held whole in memory;
 * - SQL lines go through StatementSplitter and each statement runs as a simple
 *   query of its own, as psql does (sqlSplit.ts says why not the whole text at
 *   once); only runs of plain INSERTs share a round trip (see addToBatch);
 * - `COPY ... FROM stdin;` switches to data mode: the following lines are
 *   streamed into pg-copy-streams' from() until the `\.` line;
 * - on an error, the message names the input and the line in it.
 */
import * as pg from 'pg';
import { from as copyFrom, type CopyStreamQuery } from 'pg-copy-streams';
import { addAbortSignal, type Readable } from 'stream';
import type { EngineError } from '../errors';
import type { TargetDatabase } from './index';
import { StatementSplitter, type Statement } from './sqlSplit';
import { cancelled, failed } from './tools';

export interface SqlStreamOptions {
  target: TargetDatabase;
  /** How messages name the input: "schema.sql", "the pg_dump output". */
  name: string;
  /** What the user should do about an error in the SQL, e.g. "Fix the file and run the command again." */
  fix: string;
  signal: AbortSignal;
  /** Called after each chunk is read, for byte-based progress. */
  onChunk?: () => void;
}

/** Run `input` against the target database, in a session of its own. */
export async function loadSqlStream(input: Readable, opts: SqlStreamOptions): Promise<void> {
  addAbortSignal(opts.signal, input); // destroys the input, so a stalled read ends too
  const { client, pid } = await connect(opts.target).catch((err: unknown) => {
    input.destroy(); // close the file (or the pipe, so pg_dump stops)
    throw err;
  });
  const onAbort = () => void cancelBackend(opts.target, pid);
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await new SqlLoader(client, opts).run(input);
  } catch (err) {
    throw opts.signal.aborted ? cancelled() : err;
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- connections

/**
 * Everything explicit, because pg otherwise reads the engine's own environment:
 * PGSSLMODE=require (set for some cloud database) would fail against the local
 * build cluster, and PGOPTIONS could impose a statement_timeout on a long load.
 */
function clientConfig(t: TargetDatabase): pg.ClientConfig {
  return {
    host: t.host, port: t.port, user: t.user, password: t.password, database: t.database,
    ssl: false,
    options: '-c statement_timeout=0',
    // Without it the session would use the database's encoding while pg sends UTF-8;
    // all text we send is UTF-8 (see setEncoding).
    client_encoding: 'UTF8',
    application_name: 'slipstream source loader',
    connectionTimeoutMillis: 15_000,
  };
}

async function connect(t: TargetDatabase): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client(clientConfig(t));
  client.on('error', () => undefined); // a lost connection surfaces through the running query
  try {
    await client.connect();
    const res = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return { client, pid: res.rows[0].pid };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw failed(`could not connect to the template database at ${t.host}:${t.port}: ${(err as Error).message}. ` +
      'The engine\'s build database did not accept connections; check the engine log and run the command again.');
  }
}

/** An abort must stop a statement that is running (a slow CREATE INDEX, pg_sleep, a COPY),
 *  and pg has no cancel API, so ask the server from a second session. */
async function cancelBackend(t: TargetDatabase, pid: number): Promise<void> {
  const c = new pg.Client(clientConfig(t));
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT pg_cancel_backend($1)', [pid]);
  } catch {
    // The load is failing anyway; the engine stops the build database after a cancel.
  } finally {
    await c.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- the loader

interface ActiveCopy {
  stream: CopyStreamQuery;
  statement: Statement;
  /** The file line of the first data row. */
  dataLine: number;
  /** Resolves with the error when the server rejects the COPY. It never rejects, so
   *  racing it against writes cannot leave an unhandled rejection behind. */
  failed: Promise<unknown>;
  error?: unknown;
}

const NEWLINE = Buffer.from('\n');
/** Plain INSERTs may share a round trip (see runBatched); nothing else does. */
const BATCHABLE = /^INSERT\s/i;
const BATCH_STATEMENTS = 1000;
const BATCH_CHARS = 1 << 20;
const COPY_FROM_STDIN = /^COPY\s[\s\S]*\bFROM\s+STDIN\b/i;
const SET_CLIENT_ENCODING = /^SET\s+(?:SESSION\s+)?client_encoding\s*(?:=|TO)\s*'?([\w-]+)'?\s*;?\s*$/i;

/**
 * psql meta-commands we skip, because none of them changes what gets loaded:
 * - \restrict KEY / \unrestrict KEY: pg_dump 18 (and 17.6, 16.10, 15.14, ...) wraps
 *   its output in these so a malicious server cannot inject meta-commands into
 *   psql. We never execute meta-commands, so there is nothing to guard.
 * - \connect / \c: pg_dump --create and pg_dumpall switch databases; a template
 *   is always loaded into its one target database, so we stay where we are.
 * - \set, \unset, \echo, \qecho, \warn, \timing, \pset: psql's own variables and
 *   display (stopping at the first error, as ON_ERROR_STOP asks, is what we always do).
 * \encoding is honoured like SET client_encoding. Any other meta-command (\i,
 * \copy, \gexec, ...) would change the result, so it is an error, not a silent skip.
 */
const SKIPPED_META = new Set(['restrict', 'unrestrict', 'connect', 'c', 'set', 'unset', 'echo', 'qecho', 'warn', 'timing', 'pset']);

class SqlLoader {
  private splitter = new StatementSplitter();
  private decode: (b: Buffer) => string = decodeUtf8;
  /** True when the input is not UTF-8, so COPY data must be converted before sending. */
  private transcode = false;
  private lineNo = 0;
  private pending: Buffer[] = []; // the start of a line whose end has not been read yet
  private copy?: ActiveCopy;
  private batch: Statement[] = [];
  private batchChars = 0;

  constructor(private readonly client: pg.Client, private readonly opts: SqlStreamOptions) {}

  async run(input: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of input) {
      await this.chunk(chunk);
      this.opts.onChunk?.();
    }
    if (this.pending.length) await this.lines(Buffer.concat([...this.pending, NEWLINE]));
    await this.finish();
  }

  /** Keep partial lines aside without copying (a 50 MB bytea row arrives in many chunks). */
  private async chunk(chunk: Buffer): Promise<void> {
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      this.pending.push(chunk);
      return;
    }
    const head = chunk.subarray(0, last + 1);
    const whole = this.pending.length ? Buffer.concat([...this.pending, head]) : head;
    this.pending = last + 1 < chunk.length ? [chunk.subarray(last + 1)] : [];
    await this.lines(whole);
  }

  /** Process whole lines: `buf` ends with a newline. */
  private async lines(buf: Buffer): Promise<void> {
    let pos = 0;
    while (pos < buf.length) {
      if (this.opts.signal.aborted) throw cancelled();
      pos = this.copy ? await this.copyLines(buf, pos) : await this.sqlLine(buf, pos);
    }
  }

  private async sqlLine(buf: Buffer, pos: number): Promise<number> {
    const nl = buf.indexOf(10, pos);
    const end = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl; // CRLF files
    this.lineNo++;
    let text = this.decodeLine(buf.subarray(pos, end));
    if (this.lineNo === 1 && text.startsWith('\uFEFF')) text = text.slice(1); // byte order mark
    if (this.splitter.outsideQuotes && text.trimStart().startsWith('\\')) {
      this.metaCommand(text.trim());
      this.splitter.push('', this.lineNo); // keep the splitter's line count in step with the file
      return nl + 1;
    }
    for (const st of this.splitter.push(text, this.lineNo)) {
      if (this.copy) throw this.fail(st.firstLine, 'COPY ... FROM stdin must be the last statement on its line.');
      await this.execute(st);
    }
    if (this.copy) this.startCopyData();
    return nl + 1;
  }

  private decodeLine(raw: Buffer): string {
    try {
      return this.decode(raw);
    } catch {
      throw this.fail(this.lineNo, 'the text is not valid UTF-8.',
        'If the file uses another encoding, start it with SET client_encoding = \'LATIN1\'; (or the encoding it uses). ');
    }
  }

  private metaCommand(line: string): void {
    const [cmd, arg] = line.slice(1).split(/\s+/);
    if (cmd === 'encoding' && arg) return this.setEncoding(arg);
    if (SKIPPED_META.has(cmd)) return;
    throw this.fail(this.lineNo, `the psql meta-command \\${cmd} is not supported: Slipstream runs the SQL itself, without psql.`,
      'Remove the line, or use a command source that runs psql (psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f FILE). ');
  }

  private async execute(st: Statement): Promise<void> {
    if (this.opts.signal.aborted) throw cancelled();
    if (BATCHABLE.test(st.body)) return this.addToBatch(st);
    await this.flushBatch();
    const enc = SET_CLIENT_ENCODING.exec(st.body);
    if (enc) return this.setEncoding(enc[1], st.firstLine);
    if (COPY_FROM_STDIN.test(st.body)) return this.startCopy(st);
    if (st.body !== ';') await this.runOne(st);
  }

  private async runOne(st: Statement): Promise<void> {
    try {
      await this.client.query(st.text);
    } catch (err) {
      throw this.sqlError(err, lineOfPosition(st, err));
    }
  }

  /**
   * One round trip per statement makes `pg_dump --inserts` output and INSERT-heavy
   * seed files slow (each also commits). Consecutive INSERTs therefore go as one
   * multi-statement query, which the server runs as one implicit transaction: safe
   * for INSERT, which never needs to run outside a transaction block. On an error
   * that transaction has rolled back, so we run the batch again one statement at a
   * time, which gives psql's result and the exact line of the failing statement.
   */
  private async addToBatch(st: Statement): Promise<void> {
    this.batch.push(st);
    this.batchChars += st.text.length;
    if (this.batch.length >= BATCH_STATEMENTS || this.batchChars >= BATCH_CHARS) await this.flushBatch();
  }

  private async flushBatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.batchChars = 0;
    if (batch.length <= 1) return batch.length ? this.runOne(batch[0]) : undefined;
    try {
      await this.client.query(batch.map((st) => st.text).join(''));
    } catch {
      if (this.opts.signal.aborted) throw cancelled();
      for (const st of batch) await this.runOne(st);
    }
  }

  /**
   * The session stays UTF-8 whatever the file declares, because pg always sends
   * UTF-8: we decode the file's own encoding here and let the server see UTF-8.
   * So the SET itself is not sent.
   */
  private setEncoding(name: string, line = this.lineNo): void {
    const decode = decoderFor(name);
    if (!decode) {
      throw this.fail(line, `the encoding ${name} is not supported.`,
        'Re-create the dump with pg_dump --encoding=UTF8, or convert the file to UTF-8. ');
    }
    this.decode = decode;
    this.transcode = decode !== decodeUtf8;
  }

  // -------------------------------------------------------------- COPY

  private startCopy(st: Statement): void {
    const stream = this.client.query(copyFrom(st.text));
    const copy: ActiveCopy = { stream, statement: st, dataLine: 0, failed: Promise.resolve(undefined) };
    copy.failed = new Promise((resolve) => stream.once('error', (err) => {
      copy.error = err;
      resolve(err);
    }));
    this.copy = copy;
  }

  /** Called once the COPY statement's line is done: data starts on the next line. */
  private startCopyData(): void {
    if (!this.splitter.idle) throw this.fail(this.lineNo, 'COPY ... FROM stdin must be the last statement on its line.');
    this.splitter = new StatementSplitter(); // drop the rest of the COPY line, so line numbers stay exact
    this.copy!.dataLine = this.lineNo + 1;
  }

  /** Stream data lines until the `\.` line; returns where SQL resumes. */
  private async copyLines(buf: Buffer, pos: number): Promise<number> {
    let p = pos;
    while (p < buf.length) {
      const nl = buf.indexOf(10, p);
      this.lineNo++;
      if (isEndOfCopy(buf, p, nl)) {
        await this.copyWrite(buf.subarray(pos, p));
        await this.copyEnd();
        return nl + 1;
      }
      p = nl + 1;
    }
    await this.copyWrite(buf.subarray(pos, p));
    return p;
  }

  /** One write at a time, waiting for each: pg-copy-streams crashes if it still holds
   *  buffered data when the server rejects the COPY, so we never let it buffer. */
  private async copyWrite(data: Buffer): Promise<void> {
    const copy = this.copy!;
    if (copy.error) throw this.copyError(copy);
    if (!data.length) return;
    const chunk = this.transcode ? Buffer.from(this.decode(data), 'utf8') : data;
    const written = new Promise<void>((resolve) => copy.stream.write(chunk, () => resolve()));
    await Promise.race([written, copy.failed]);
    if (copy.error) throw this.copyError(copy);
  }

  private async copyEnd(): Promise<void> {
    const copy = this.copy!;
    if (copy.error) throw this.copyError(copy);
    const finished = new Promise<void>((resolve) => copy.stream.once('finish', () => resolve()));
    copy.stream.end();
    await Promise.race([finished, copy.failed]);
    if (copy.error) throw this.copyError(copy);
    this.copy = undefined;
  }

  private async finish(): Promise<void> {
    if (this.copy) {
      throw this.fail(this.copy.statement.firstLine, 'the input ended inside this COPY\'s data, before its "\\." line: it looks truncated.',
        'Re-create the dump, or end the COPY data with a line holding only \\. ');
    }
    const last = this.splitter.end();
    if (last) await this.execute(last);
    await this.flushBatch();
  }

  // -------------------------------------------------------------- errors

  /** COPY errors carry the data row in `where` ("COPY t, line 3, column a: ..."). */
  private copyError(copy: ActiveCopy): EngineError {
    const where = copy.error instanceof pg.DatabaseError ? /\bline (\d+)/.exec(copy.error.where ?? '') : null;
    const line = where ? copy.dataLine + Number(where[1]) - 1 : copy.statement.firstLine;
    return this.sqlError(copy.error, line);
  }

  private sqlError(err: unknown, line: number): EngineError {
    if (this.opts.signal.aborted) return cancelled();
    if (!(err instanceof pg.DatabaseError)) return this.fail(line, `${(err as Error)?.message ?? String(err)}.`);
    const extra = [err.detail, err.hint && `Hint: ${err.hint}`].filter(Boolean).join(' ');
    return this.fail(line, `${err.message}.${extra ? ` ${extra}` : ''}`);
  }

  private fail(line: number, what: string, todo = ''): EngineError {
    return failed(`${this.opts.name} line ${line}: ${what} ${todo}${this.opts.fix}`);
  }
}

function isEndOfCopy(buf: Buffer, start: number, nl: number): boolean {
  const len = nl - start - (nl > start && buf[nl - 1] === 13 ? 1 : 0);
  return len === 2 && buf[start] === 0x5c && buf[start + 1] === 0x2e; // "\."
}

/** The file line of a server error: `position` is a 1-based character (not byte, not
 *  UTF-16 unit) offset into the text we sent, which began at `st.startLine`. */
function lineOfPosition(st: Statement, err: unknown): number {
  const position = err instanceof pg.DatabaseError ? Number(err.position) : NaN;
  if (!(position > 0)) return st.firstLine;
  let line = st.startLine;
  let n = 0;
  for (const ch of st.text) {
    if (++n >= position) break;
    if (ch === '\n') line++;
  }
  return line;
}

// ---------------------------------------------------------------- encodings

const utf8 = new TextDecoder('utf-8', { fatal: true });
const decodeUtf8 = (b: Buffer): string => utf8.decode(b);

/** PostgreSQL encoding names (normalised: upper case, letters and digits only) to WHATWG labels. */
const WHATWG: Record<string, string> = {
  LATIN2: 'iso-8859-2', LATIN3: 'iso-8859-3', LATIN4: 'iso-8859-4', LATIN5: 'iso-8859-9',
  LATIN6: 'iso-8859-10', LATIN7: 'iso-8859-13', LATIN8: 'iso-8859-14', LATIN9: 'iso-8859-15',
  LATIN10: 'iso-8859-16', ISO88595: 'iso-8859-5', ISO88596: 'iso-8859-6', ISO88597: 'iso-8859-7',
  ISO88598: 'iso-8859-8', KOI8R: 'koi8-r', KOI8U: 'koi8-u', WIN866: 'ibm866', WIN874: 'windows-874',
  EUCJP: 'euc-jp', SJIS: 'shift_jis', EUCKR: 'euc-kr', UHC: 'euc-kr', BIG5: 'big5', GBK: 'gbk',
  GB18030: 'gb18030', EUCCN: 'gbk',
};

function decoderFor(name: string): ((b: Buffer) => string) | undefined {
  const n = name.toUpperCase().replace(/[^A-Z0-9]/g, '');
  // SQL_ASCII means "bytes as they are"; in practice that is UTF-8 text.
  if (['UTF8', 'UNICODE', 'SQLASCII'].includes(n)) return decodeUtf8;
  // Node's latin1 is exactly ISO-8859-1, as PostgreSQL's LATIN1 is (WHATWG maps it to windows-1252).
  if (n === 'LATIN1' || n === 'ISO88591') return (b) => b.toString('latin1');
  const label = /^WIN(125\d)$/.exec(n) ? `windows-${n.slice(3)}` : WHATWG[n];
  if (!label) return undefined;
  try {
    const d = new TextDecoder(label);
    return (b) => d.decode(b);
  } catch {
    return undefined; // a Node built without full ICU
  }
}
