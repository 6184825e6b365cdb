/**
 * A real engine daemon for the bench: started and stopped through the real
 * CLI (as a user would), driven through the typed protocol client for the
 * timed operations, so a figure is the engine's work plus one socket round
 * trip, not Node's start-up time for a CLI process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { RequestType } from 'vscode-jsonrpc';
import { connectEngine, type EngineClient } from '../../server/common/client';
import { ContainerUrlRequest, EngineStatusRequest, type ErrorData } from '../../server/protocol';
import { onCleanup } from './cleanup';
import { exec, type RunAs } from './exec';
import { quietClient } from './pgCluster';

export const CLI = path.resolve(__dirname, '../../../dist/cli.js');

export class BenchEngine {
  /** Container URLs: stable for a container's life, whichever branch is active. */
  private readonly urls = new Map<string, string>();

  private constructor(readonly home: string, readonly client: EngineClient, readonly pid: number,
    private readonly release: () => Promise<void>) {}

  /** `as`: the OS user the engine runs as (an ordinary one for blocks under root, as on a laptop);
   *  the bench itself stays root and talks to it with the home's admin token. */
  static async start(home: string, driver: string, pool: string, as?: RunAs): Promise<BenchEngine> {
    await fs.promises.mkdir(home, { recursive: true });
    if (as) await fs.promises.chown(home, as.uid, as.gid);
    const cli = (...args: string[]) => engineCli(home, as, ...args);
    await cli('engine', 'start', '--driver', driver, '--pool', pool);
    const client = await connectEngine({ home });
    const { pid } = await client.request(EngineStatusRequest.type, {});
    const release = onCleanup(`stop the engine in ${home}`, async () => {
      await client.close();
      await cli('engine', 'stop').catch(() => killIfAlive(pid));
    });
    return new BenchEngine(home, client, pid, release);
  }

  request<P extends object, R>(type: RequestType<P, R, ErrorData>, params: P): Promise<R> {
    return this.client.request(type, params);
  }

  /** Run statements in a container's database, over its public URL as an app would. */
  async sql(container: string, statements: string[]): Promise<void> {
    let url = this.urls.get(container);
    if (!url) {
      url = (await this.request(ContainerUrlRequest.type, { name: container })).url;
      this.urls.set(container, url);
    }
    const c = quietClient(new Client({ connectionString: url }));
    await c.connect();
    try {
      for (const s of statements) await c.query(s);
    } finally {
      await c.end();
    }
  }

  /** Open a session over the container's public URL and keep it: `alive()` says whether
   *  the same backend still answers, so an operation that restarted the database shows. */
  async openSession(container: string): Promise<{ alive(): Promise<boolean>; close(): Promise<void> }> {
    const url = (await this.request(ContainerUrlRequest.type, { name: container })).url;
    const c = quietClient(new Client({ connectionString: url }));
    await c.connect();
    const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    return {
      alive: () => c.query('SELECT pg_backend_pid() AS p').then((r) => r.rows[0].p === pid, () => false),
      close: () => c.end().catch(() => undefined),
    };
  }

  /** Wait until the engine runs no background job (engine status counts them). */
  async idle(): Promise<void> {
    for (let waited = 0; waited < 1_200_000; waited += 200) {
      if ((await this.request(EngineStatusRequest.type, {})).backgroundJobs === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('the engine still ran background jobs after 20 minutes');
  }

  /** The engine's resident set in bytes (its own process; PostgreSQL's are separate). */
  rss(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status);
    return kb ? Number(kb[1]) * 1024 : NaN;
  }

  /** Sample the peak resident set while `fn` runs. */
  async peakRssDuring<T>(fn: () => Promise<T>): Promise<{ result: T; peak: number }> {
    let peak = this.rss();
    const timer = setInterval(() => { peak = Math.max(peak, this.rss()); }, 10);
    try {
      const result = await fn();
      return { result, peak: Math.max(peak, this.rss()) };
    } finally {
      clearInterval(timer);
    }
  }

  stop(): Promise<void> {
    return this.release();
  }
}

function engineCli(home: string, as: RunAs | undefined, ...args: string[]): Promise<string> {
  return exec(process.execPath, [CLI, '--home', home, '--json', ...args], { as, env: { SLIPSTREAM_HOME: '', ...(as ? { HOME: home } : {}) } });
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
