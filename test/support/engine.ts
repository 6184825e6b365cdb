import { spawnSync, type SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import type { ConnectionInfo } from '../../server/protocol';

/** The real `slipstream` binary, as built by `npm run build`. */
export const CLI = path.resolve(__dirname, '../../../dist/cli.js');
export const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: unknown;
}

/** Running the real CLI and reading its JSON: what every test-side CLI user shares. */
export abstract class CliRunner {
  abstract cli(...args: string[]): CliResult;

  /** Run a command that must succeed; its JSON result. */
  ok<T = unknown>(...args: string[]): T {
    const r = this.cli(...args);
    if (r.code !== 0) throw new Error(`slipstream ${args.join(' ')}${this.who()} exited ${r.code}: ${r.stderr || r.stdout}`);
    return r.json as T;
  }

  /** Run a command that must fail with exit 1 and a stable error code; the error. */
  fails(code: string, ...args: string[]): { code: string; message: string } {
    const r = this.cli(...args);
    const error = (r.json as { error?: { code: string; message: string } } | undefined)?.error;
    if (r.code !== 1 || error?.code !== code) {
      throw new Error(`expected slipstream ${args.join(' ')}${this.who()} to fail with ${code}, got exit ${r.code}: ${r.stdout} ${r.stderr}`);
    }
    return error;
  }

  /** Wait until the engine runs no background job (spare builds, old volumes' deletion),
   *  before counting what is on disk. */
  async idle(timeoutMs = 120_000): Promise<void> {
    for (const end = Date.now() + timeoutMs; Date.now() < end;) {
      if (this.ok<{ backgroundJobs: number }>('engine', 'status').backgroundJobs === 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the engine${this.who()} still ran background jobs after ${timeoutMs / 1000} s`);
  }

  /** Who runs the commands, for failure messages. */
  protected who(): string {
    return '';
  }
}

/** A real engine daemon on a fresh home, driven through the real CLI. */
export class TestEngine extends CliRunner {
  constructor(readonly home: string, readonly pool?: string) {
    super();
  }

  static async start(opts: { driver?: string; pool?: string } = {}): Promise<TestEngine> {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-'));
    const engine = new TestEngine(home, opts.pool);
    const args = ['engine', 'start', '--driver', opts.driver ?? 'blocks', ...(opts.pool ? ['--pool', opts.pool] : [])];
    engine.ok(...args);
    return engine;
  }

  cli(...args: string[]): CliResult {
    return this.cliWith({}, ...args);
  }

  /** The CLI with extra environment (`engine start` passes it on to the daemon it spawns)
   *  and, optionally, another working directory (`--command`, git context). */
  cliWith(env: Record<string, string>, ...args: string[]): CliResult {
    return this.run({ env }, args);
  }

  cliIn(cwd: string, ...args: string[]): CliResult {
    return this.run({ cwd }, args);
  }

  private run(opts: { env?: Record<string, string>; cwd?: string }, args: string[]): CliResult {
    // --home would name this home's local engine over SLIPSTREAM_ENGINE, and --engine with it is refused:
    // a command for a team engine gets the home from the environment instead, which does not compete.
    const remote = Boolean(opts.env?.SLIPSTREAM_ENGINE) || args.includes('--engine');
    const home = remote ? [] : ['--home', this.home];
    const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [CLI, ...home, '--json', ...args], {
      encoding: 'utf8', timeout: 300_000, cwd: opts.cwd, env: { ...process.env, SLIPSTREAM_HOME: remote ? this.home : '', ...opts.env },
    });
    let json: unknown;
    try { json = JSON.parse(r.stdout); } catch { json = undefined; }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }

  async sql<T = Record<string, unknown>>(container: string, text: string, params: unknown[] = []): Promise<T[]> {
    const { url } = this.ok<ConnectionInfo>('container', 'url', container);
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(text, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  /** An md5 over every row of every user table: equal checksums mean equal data. */
  async checksum(container: string): Promise<Record<string, string>> {
    return tableChecksumsAt(this.ok<ConnectionInfo>('container', 'url', container).url);
  }

  async stop(): Promise<void> {
    this.cli('engine', 'stop');
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}

/** Per table, its row count and an md5 over every row: equal checksums mean equal data. */
export async function tableChecksumsAt(url: string): Promise<Record<string, string>> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 20_000 });
  await client.connect();
  try {
    const tables = (await client.query<{ t: string }>(
      `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables
       WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)).rows;
    const sums: Record<string, string> = {};
    for (const { t } of tables) {
      const [row] = (await client.query<{ sum: string; n: string }>(
        `SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS sum, count(*) AS n FROM ${t} x`)).rows;
      sums[t] = `${row.n}:${row.sum}`;
    }
    return sums;
  } finally {
    await client.end();
  }
}
