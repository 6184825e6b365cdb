import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import { EngineError } from '../errors';
import type { FileOwner } from '../volumes/driver';
import type { PgBinaries } from './binaries';

/**
 * One PostgreSQL cluster: a data directory (a volume), a port, and a private
 * runtime directory holding its Unix socket, its pg_hba.conf and its log.
 * pg_hba.conf lives outside the data directory on purpose: branches and
 * bookmarks carry data between containers, but never who may log in.
 */
export interface ClusterSpec {
  dataDir: string;
  runDir: string;
  port: number;
  /** 127.0.0.1 unless an admin says otherwise. */
  listen: string;
  owner?: FileOwner;
}

export const SUPERUSER = 'postgres';
export const DATABASE = 'postgres';

const HBA = [
  '# Written by the Slipstream engine; edits are overwritten.',
  '# The engine itself connects over the private Unix socket; everyone else needs the password.',
  'local all all trust',
  'host all all 0.0.0.0/0 scram-sha-256',
  'host all all ::/0 scram-sha-256',
  '',
].join('\n');

export async function initdb(bins: PgBinaries, dataDir: string, owner?: FileOwner): Promise<void> {
  // --no-sync: a template build that crashes is rolled back and rebuilt, and the
  // checkpoint at the clean stop that ends every build flushes what matters.
  await run(bins.initdb, ['-D', dataDir, '-U', SUPERUSER, '-E', 'UTF8', '--no-locale',
    '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '--no-instructions'], owner, 'initdb');
}

export async function prepareRunDir(spec: ClusterSpec): Promise<void> {
  await fs.promises.mkdir(spec.runDir, { recursive: true, mode: 0o700 });
  await fs.promises.writeFile(hbaPath(spec), HBA, { mode: 0o600 });
  if (spec.owner) {
    await fs.promises.chown(spec.runDir, spec.owner.uid, spec.owner.gid);
    await fs.promises.chown(hbaPath(spec), spec.owner.uid, spec.owner.gid);
  }
}

export async function start(bins: PgBinaries, spec: ClusterSpec): Promise<void> {
  if (await isRunning(spec)) return;
  await removeStalePid(spec.dataDir);
  await prepareRunDir(spec);
  const opts = [
    `-p ${spec.port}`,
    `-c listen_addresses='${spec.listen}'`,
    `-c unix_socket_directories='${spec.runDir}'`,
    `-c hba_file='${hbaPath(spec)}'`,
  ].join(' ');
  const since = await logSize(spec);
  await run(bins.pgCtl, ['start', '-w', '-t', '120', '-D', spec.dataDir, '-l', logPath(spec), '-o', opts], spec.owner,
    `start PostgreSQL on port ${spec.port}`, () => tail(logPath(spec))).catch(async (err: EngineError) => {
    throw (await portTaken(spec, since)) ? new EngineError('PortInUse', `port ${spec.port} is taken by another program, so the database could not start. `
      + `Find it with \`ss -ltnp 'sport = ${spec.port}'\` and stop it, then run the operation again or restart the engine.`) : err;
  });
}

/** Did this start fail because something else listens on the port? Only this start's log lines count. */
async function portTaken(spec: ClusterSpec, since: number): Promise<boolean> {
  const fh = await fs.promises.open(logPath(spec), 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(Math.max(0, Math.min(size - since, 65536)));
    await fh.read(buf, 0, buf.length, Math.max(since, size - buf.length));
    return /could not bind .*Address already in use|could not create any TCP\/IP sockets/.test(buf.toString());
  } finally {
    await fh.close();
  }
}

async function logSize(spec: ClusterSpec): Promise<number> {
  return fs.promises.stat(logPath(spec)).then((st) => st.size, () => 0);
}

export async function stop(bins: PgBinaries, spec: ClusterSpec): Promise<void> {
  if (!(await isRunning(spec))) return;
  await run(bins.pgCtl, ['stop', '-w', '-t', '120', '-m', 'fast', '-D', spec.dataDir], spec.owner,
    `stop PostgreSQL on port ${spec.port}`, () => tail(logPath(spec)));
}

/** Running means: postmaster.pid names a live process whose working directory is
 *  this data directory. A pid file copied into a snapshot names someone else. */
export async function isRunning(spec: Pick<ClusterSpec, 'dataDir'>): Promise<boolean> {
  const pid = await readPid(spec.dataDir);
  if (!pid) return false;
  try {
    const cwd = await fs.promises.readlink(`/proc/${pid}/cwd`);
    return path.resolve(cwd) === (await fs.promises.realpath(spec.dataDir));
  } catch {
    return false;
  }
}

/** Set the superuser's password over the private socket; called after every start,
 *  because a branch restored from someone else's bookmark carries their pg_authid. */
export async function setPassword(spec: ClusterSpec, password: string): Promise<void> {
  await withLocalClient(spec, async (client) => {
    const literal = password.replace(/'/g, "''");
    await client.query(`ALTER ROLE ${SUPERUSER} WITH PASSWORD '${literal}'`);
  });
}

export async function withLocalClient<T>(spec: ClusterSpec, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ host: spec.runDir, port: spec.port, user: SUPERUSER, database: DATABASE });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function logPath(spec: Pick<ClusterSpec, 'runDir'>): string {
  return path.join(spec.runDir, 'postgres.log');
}

function hbaPath(spec: Pick<ClusterSpec, 'runDir'>): string {
  return path.join(spec.runDir, 'pg_hba.conf');
}

async function readPid(dataDir: string): Promise<number | undefined> {
  try {
    const first = (await fs.promises.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function removeStalePid(dataDir: string): Promise<void> {
  await fs.promises.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
}

async function tail(file: string, lines = 15): Promise<string> {
  try {
    return (await fs.promises.readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function run(cmd: string, args: string[], owner: FileOwner | undefined, doing: string,
  detail?: () => Promise<string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      uid: owner?.uid, gid: owner?.gid, stdio: ['ignore', 'pipe', 'pipe'],
      // pg_ctl's postmaster must not die with the engine: databases outlive an engine crash
      // and the restarted engine adopts them.
      detached: true,
      env: { ...process.env, LC_ALL: 'C' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => reject(new EngineError('DatabaseFailed', `${doing}: ${err.message}`)));
    child.on('close', async (code) => {
      if (code === 0) return resolve();
      const extra = detail ? await detail() : '';
      reject(new EngineError('DatabaseFailed', `could not ${doing} (exit ${code}): ${(output + '\n' + extra).trim().slice(-2000)}`));
    });
  });
}
