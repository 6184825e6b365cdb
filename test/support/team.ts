/**
 * Team-mode helpers: an engine that also listens on loopback TCP (or TLS), CLI
 * runs as a given user over that port, direct SQL by connection URL, and a
 * raw JSON-RPC socket for tests that must send what no real client sends.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { Client } from 'pg';
import type { ConnectionInfo } from '../../server/protocol';
import { ephemeralPort } from '../../server/engine/ports';
import { CliRunner, TestEngine, type CliResult } from './engine';

/** Any free loopback port: the engine's own ephemeral-port helper. */
export const freePort = ephemeralPort;

export interface TeamEngine {
  e: TestEngine;
  /** tcp://127.0.0.1:PORT or tls://127.0.0.1:PORT */
  url: string;
  port: number;
  adminToken: string;
}

/** A fresh engine home started with --listen on a free loopback port. */
export async function startTeamEngine(opts: { tls?: { cert: string; key: string }; driver?: string; pool?: string; env?: Record<string, string> } = {}): Promise<TeamEngine> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-team-'));
  const e = new TestEngine(home, opts.pool);
  const port = await freePort();
  const args = ['engine', 'start', '--driver', opts.driver ?? 'blocks', '--listen', `127.0.0.1:${port}`,
    ...(opts.pool ? ['--pool', opts.pool] : []),
    ...(opts.tls ? ['--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key] : [])];
  const r = e.cliWith(opts.env ?? {}, ...args);
  if (r.code !== 0) throw new Error(`engine start failed: ${r.stderr || r.stdout}`);
  const adminToken = fs.readFileSync(path.join(home, 'admin-token'), 'utf8').trim();
  return { e, url: `${opts.tls ? 'tls' : 'tcp'}://127.0.0.1:${port}`, port, adminToken };
}

/** The real CLI, as one team user over the engine's TCP port (SLIPSTREAM_ENGINE / SLIPSTREAM_TOKEN). */
export class Remote extends CliRunner {
  constructor(readonly e: TestEngine, readonly url: string, readonly token: string | undefined, readonly extraEnv: Record<string, string> = {}) {
    super();
  }

  protected override who(): string {
    return ` (as ${this.token?.slice(0, 8)}…)`;
  }

  cli(...args: string[]): CliResult {
    return this.e.cliWith({ SLIPSTREAM_ENGINE: this.url, SLIPSTREAM_TOKEN: this.token ?? '', SLIPSTREAM_TLS_CA: '', ...this.extraEnv }, ...args);
  }

  async sql<T = Record<string, unknown>>(container: string, text: string): Promise<T[]> {
    return sqlAt(this.ok<ConnectionInfo>('container', 'url', container).url, text) as Promise<T[]>;
  }

  async checksum(container: string): Promise<string> {
    return checksumAt(this.ok<ConnectionInfo>('container', 'url', container).url);
  }
}

export async function sqlAt(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 20_000 });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** One md5 over every row of every user table (with row counts): equal means equal data. */
export async function checksumAt(url: string): Promise<string> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 20_000 });
  await client.connect();
  try {
    const tables = (await client.query(`SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables
       WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)).rows.map((r) => r.t as string);
    const parts: string[] = [];
    for (const t of tables) {
      const [row] = (await client.query(`SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS sum, count(*) AS n FROM ${t} x`)).rows;
      parts.push(`${t}=${row.n}:${row.sum}`);
    }
    return parts.join(' ');
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- raw JSON-RPC

export function frame(body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([Buffer.from(`Content-Length: ${b.length}\r\n\r\n`, 'ascii'), b]);
}

export function request(id: number | string | null, method: string, params?: unknown): Buffer {
  return frame(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
}

export interface RawMessage {
  id?: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data?: { code?: string } };
  method?: string;
  params?: unknown;
}

/**
 * A socket that speaks only framing: it writes whatever bytes a test gives it,
 * parses whatever comes back, and reports when the engine closes it.
 */
export class RawSocket {
  private buf = Buffer.alloc(0);
  readonly messages: RawMessage[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  readonly closedAt: Promise<number>;

  private constructor(readonly socket: net.Socket) {
    let markClosed!: (t: number) => void;
    this.closedAt = new Promise((r) => (markClosed = r));
    socket.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); this.wake(); });
    socket.on('error', () => undefined);
    socket.on('close', () => { this.closed = true; markClosed(Date.now()); this.wake(); });
  }

  static unix(socketPath: string): Promise<RawSocket> {
    return RawSocket.open(() => net.createConnection({ path: socketPath }), 'connect');
  }

  static tcp(port: number): Promise<RawSocket> {
    return RawSocket.open(() => net.createConnection({ host: '127.0.0.1', port }), 'connect');
  }

  static tls(port: number, ca: string): Promise<RawSocket> {
    return RawSocket.open(() => tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca) }), 'secureConnect');
  }

  private static open(make: () => net.Socket, event: string): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const s = make();
      s.once(event, () => { s.removeListener('error', reject); resolve(new RawSocket(s)); });
      s.once('error', reject);
    });
  }

  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.socket.destroyed) return resolve();
      this.socket.write(data, () => resolve());
    });
  }

  private parse(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(this.buf.subarray(0, end).toString('ascii'));
      if (!m) return;
      const len = Number(m[1]);
      if (this.buf.length < end + 4 + len) return;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString('utf8');
      this.buf = this.buf.subarray(end + 4 + len);
      try { this.messages.push(JSON.parse(body) as RawMessage); } catch { /* not ours to judge */ }
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The answer with this id, or undefined if the engine closed the connection or `ms` passed. */
  async answer(id: number | string, ms = 15_000): Promise<RawMessage | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.find((m) => m.id === id && (m.result !== undefined || m.error !== undefined));
      if (found) return found;
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  /** Resolves true when the engine closes the connection within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    if (this.closed) return true;
    return Promise.race([this.closedAt.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The engine daemon's pid and resident memory (kB), from /proc. */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
