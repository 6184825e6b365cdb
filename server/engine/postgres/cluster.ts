import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'pg';
import { EngineError } from '../errors';
import { faultPoint } from '../faults';
import type { FileOwner } from '../volumes/driver';
import type { PgBinaries } from './binaries';
import { SESSION_OPTIONS, serverOptions } from './fixedSettings';
import { archiveSettings, recoverySettings, type Recovery } from './walArchive';
import { walOptions } from './walSettings';
import { hbaPath, logPath, logSize, prepareRunDir, readLog, socketDir, tailLog, writeHba } from './runDir';
import { launch, quit, runningPid, untilReady } from './postmaster';
import { scramVerifier } from './scram';

/**
 * One PostgreSQL cluster: a data directory (a volume), a port, and a private
 * runtime directory holding its Unix socket, its pg_hba.conf and its log
 * (runDir.ts: the engine owns it, the container's user only its socket folder).
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
  /** The volume shares blocks with its clones (btrfs, reflink): WAL settings differ (walSettings.ts). */
  copyOnWrite: boolean;
  /** Where PostgreSQL archives its WAL (walArchive.ts): the folder of the branch's current span. */
  archiveDir?: string;
  /** This start replays to a moment first (a point-in-time restore). */
  recovery?: Recovery;
}

export const SUPERUSER = 'postgres';
export const DATABASE = 'postgres';

/** Who may connect. `sealed` while foreign data is sanitised: only the engine, over the
 *  private socket, because until then the superuser's password is the data's, not this container's. */
export type Access = 'open' | 'sealed';

const HBA: Record<Access, string> = {
  open: [
    '# Written by the Slipstream engine; edits are overwritten.',
    '# The engine itself connects over the private Unix socket; everyone else needs the password.',
    'local all all trust',
    'host all all 0.0.0.0/0 scram-sha-256',
    'host all all ::/0 scram-sha-256',
    '',
  ].join('\n'),
  sealed: [
    '# Written by the Slipstream engine while it sanitises data loaded from elsewhere:',
    '# only the engine, as the container\'s own superuser, over the private Unix socket.',
    `local all ${SUPERUSER} trust`,
    '',
  ].join('\n'),
};

export async function initdb(bins: PgBinaries, dataDir: string, owner?: FileOwner): Promise<void> {
  // --no-sync: a template build that crashes is rolled back and rebuilt, and the
  // checkpoint at the clean stop that ends every build flushes what matters.
  await run(bins.initdb, ['-D', dataDir, '-U', SUPERUSER, '-E', 'UTF8', '--no-locale',
    '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '--no-instructions'], owner, 'run initdb');
}

/** Start the server with the settings a bookmark must not change fixed on its command line. */
export async function start(bins: PgBinaries, spec: ClusterSpec, access: Access = 'open'): Promise<void> {
  if (await isRunning(spec)) {
    if (await hasSocket(spec) && await acceptsConnections(spec)) return;
    // Started by an engine that kept its socket elsewhere (before runDir.ts): start it again here.
    // (Or it ended its crash recovery by exiting: then there is nothing to stop.)
    await stop(bins, spec);
  }
  await removeStalePid(spec.dataDir);
  await prepareRunDir(spec, HBA[access]);
  // external_pid_file is fixed like those in fixedSettings.ts, but per cluster: the container's own folder.
  const opts = serverCommandLine(spec, path.join(socketDir(spec), 'postmaster.pid'));
  const since = await logSize(spec);
  const launched = await launch(bins.postgres, spec.dataDir, opts, spec.owner, logPath(spec), START_TIMEOUT_MS,
    spec.recovery ? () => faultPoint('replay:during') : undefined);
  if (launched.ready) return;
  if (await portTaken(spec, since)) {
    throw new EngineError('PortInUse', `port ${spec.port} is taken by another program, so the database could not start. `
      + `Find it with \`ss -ltnp 'sport = ${spec.port}'\` and stop it, then run the operation again or restart the engine.`);
  }
  // What the server logged says why; how it ended (it exited, or never got ready) only when it logged nothing.
  const said = await tailLog(spec, 15, since);
  throw new PostgresFailed(`start PostgreSQL on port ${spec.port}`, postgresSaid(said.trim() ? said : launched.why), `${launched.why}\n${said}`);
}

/** As long as pg_ctl's -t 120 waited for a start. */
const START_TIMEOUT_MS = 120_000;

/** How long a server that is still recovering (it restarted itself after a crash, say a PANIC
 *  on a full pool) is waited for, as pg_ctl waits for a start. */
const RECOVERY_WAIT_MS = 120_000;

/**
 * A server that runs may still be in crash recovery: it answers "the database system is in
 * recovery mode" (SQLSTATE 57P03) until it is done. Wait for it rather than call the database
 * failed for a moment's state; false when it exited instead (so the caller starts it again,
 * and a start that fails says why, such as a full pool).
 */
async function acceptsConnections(spec: ClusterSpec): Promise<boolean> {
  const until = Date.now() + RECOVERY_WAIT_MS;
  for (;;) {
    const client = new Client({ host: socketDir(spec), port: spec.port, user: SUPERUSER, database: DATABASE, options: SESSION_OPTIONS });
    client.on('error', () => undefined);
    const code = await client.connect().then(() => undefined, (err: { code?: string }) => err.code ?? 'failed');
    await client.end().catch(() => undefined);
    if (code === undefined) return true;
    if (!(await isRunning(spec))) return false;
    // Still recovering: wait. Refusing for another reason: the caller's own session reports it.
    if (code !== '57P03' || Date.now() > until) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The server's `-o` options: its port, where it listens, and every fixed setting. */
function serverCommandLine(spec: ClusterSpec, pidFile: string): string {
  return [
    `-p ${spec.port}`,
    `-c listen_addresses='${spec.listen}'`,
    `-c unix_socket_directories='${socketDir(spec)}'`,
    `-c hba_file='${hbaPath(spec)}'`,
    `-c external_pid_file='${pidFile}'`,
    ...serverOptions([
      ...(spec.archiveDir ? archiveSettings(spec.archiveDir) : []),
      ...(spec.recovery ? recoverySettings(spec.recovery) : []),
    ]),
    ...walOptions(spec.copyOnWrite),
  ].join(' ');
}

/** Let everyone with the password in again, once the foreign data is sanitised. Waits until
 *  the server has read the new pg_hba.conf, so the caller's next connection is let in. */
export async function unseal(spec: ClusterSpec): Promise<void> {
  await writeHba(spec, HBA.open);
  const before = await withLocalClient(spec, async (client) => {
    const { rows } = await client.query('SELECT pg_catalog.pg_conf_load_time() AS t');
    await client.query('SELECT pg_catalog.pg_reload_conf()');
    return rows[0].t as Date;
  });
  for (let i = 0; i < 200; i++) {
    // A new backend inherits the postmaster's load time: later means it read the new file.
    const now = await withLocalClient(spec, async (client) => (await client.query('SELECT pg_catalog.pg_conf_load_time() AS t')).rows[0].t as Date);
    if (now.getTime() > before.getTime()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new EngineError('DatabaseFailed', `the database on port ${spec.port} did not reload its pg_hba.conf within 2 s, so it still admits only the engine. `
    + 'Restart the engine; see the database log in the runtime directory for why.');
}

async function hasSocket(spec: ClusterSpec): Promise<boolean> {
  return fs.promises.lstat(path.join(socketDir(spec), `.s.PGSQL.${spec.port}`)).then(() => true, () => false);
}

/** Did this start fail because something else listens on the port? Only this start's log lines count. */
async function portTaken(spec: ClusterSpec, since: number): Promise<boolean> {
  const text = await readLog(spec, since, 65536);
  return /could not bind .*Address already in use|could not create any TCP\/IP sockets/.test(text);
}

/** How a stop went: `clean` after a shutdown checkpoint; `immediate` when the server could not
 *  write one (a full pool, a stuck disk) and was stopped at once. Its data is safe in its WAL
 *  then, and the next start replays it, but what is on disk is not a clean copy. */
export type Stopped = { clean: true } | { clean: false; reason: string };

/** A shutdown checkpoint that hits this will retry for ever: stop at once instead of waiting. */
const STOP_STUCK = /No space left on device|could not (write|fsync|extend) /;
const STOP_TIMEOUT_S = 120;

/** `fast` writes a shutdown checkpoint (and escalates to `immediate` when it cannot);
 *  `immediate` skips it, for a database whose data is being thrown away (a restore's old volume). */
export type StopMode = 'fast' | 'immediate';

export async function stop(bins: PgBinaries, spec: ClusterSpec, mode: StopMode = 'fast'): Promise<Stopped> {
  if (!(await isRunning(spec))) return { clean: true };
  const since = await logSize(spec);
  if (mode === 'immediate') {
    await stopAtOnce(bins, spec, since);
    return { clean: false, reason: 'stopped at once, as asked' };
  }
  let settled = false;
  const fast = run(bins.pgCtl, ['stop', '-w', '-t', String(STOP_TIMEOUT_S), '-m', 'fast', '-D', spec.dataDir], spec.owner,
    `stop PostgreSQL on port ${spec.port}`, () => tailLog(spec, 15, since)).then(() => undefined, (err: Error) => err)
    .finally(() => (settled = true));
  let stuck = '';
  while (!settled && !stuck) {
    await Promise.race([fast, new Promise((r) => setTimeout(r, 250))]);
    stuck = STOP_STUCK.exec(await readLog(spec, since, 65536)) ? await tailLog(spec, 5, since) : '';
  }
  const failed = settled ? await fast : undefined;
  if (!stuck && !failed) return { clean: true };
  if (!stuck && !(await isRunning(spec))) return { clean: true }; // it finished as pg_ctl gave up
  if (await isRunning(spec)) await stopAtOnce(bins, spec, since);
  await fast;
  const said = failed instanceof PostgresFailed ? failed.output : failed?.message;
  return { clean: false, reason: stuck || said || 'the shutdown did not finish' };
}

async function stopAtOnce(bins: PgBinaries, spec: ClusterSpec, since: number): Promise<void> {
  const why = await quit(bins.pgCtl, spec.dataDir, spec.owner, STOP_TIMEOUT_S * 1000);
  if (!why) return;
  const said = await tailLog(spec, 15, since);
  throw new PostgresFailed(`stop PostgreSQL on port ${spec.port} at once`, postgresSaid(said.trim() ? `${said}\n${why}` : why), `${why}\n${said}`);
}

/**
 * Bring a data directory stopped at once (a branch a switch left) to a clean shutdown while
 * the container's database runs from another volume: start it with no TCP address, its
 * socket under another port number in the container's socket folder, so the two never meet;
 * its start replays the WAL and writes the end-of-recovery checkpoint; then a fast stop.
 * (A single-user backend would need no socket at all, but it must find the container's uid
 * in the password file, and a team host's container users are not there.) Its log lines go
 * to the container's log. Cut short by a crash, it is a database running on a volume that is
 * not active, which the next start of that branch stops first (start, above).
 */
export async function checkpointAlone(bins: PgBinaries, spec: ClusterSpec, whileUp: () => Promise<void>): Promise<void> {
  const alone: ClusterSpec = { ...spec, listen: '', port: spec.port === ALONE_PORT ? ALONE_PORT + 1 : ALONE_PORT };
  const since = await logSize(spec);
  await run(bins.pgCtl, ['start', '-w', '-t', '120', '-D', spec.dataDir, '-l', logPath(spec), '-o', serverCommandLine(alone, '')],
    spec.owner, 'start PostgreSQL without a port to checkpoint a branch', () => tailLog(spec, 15, since))
    .catch(async (err: Error) => {
      // pg_ctl gave up, but the server may still run (stalled): stop it, so nothing is left on the volume.
      await stop(bins, alone, 'immediate').catch(() => undefined);
      throw err;
    });
  if (spec.recovery && !(await untilReady(spec.dataDir, START_TIMEOUT_MS))) {
    await stop(bins, alone, 'immediate').catch(() => undefined);
    throw new PostgresFailed('replay the WAL without a port', 'the server did not finish its replay', await tailLog(spec, 15, since));
  }
  await whileUp();
  const stopped = await stop(bins, alone);
  if (!stopped.clean) throw new Error(`its shutdown checkpoint did not finish: ${stopped.reason}`);
}

/** The port number that names the socket of checkpointAlone's server (Unix socket only). */
const ALONE_PORT = 1;

/** The error for a capture that needs a clean copy and got an unclean stop. */
export function uncleanStop(reason: string, outcome: string): EngineError {
  return new EngineError('DatabaseFailed', `the database could not shut down cleanly, so the engine stopped it at once and ${outcome}. `
    + `Its data is safe: the next start replays its WAL. Free space on the pool if PostgreSQL says it is full, then try again. PostgreSQL said: ${postgresSaid(reason).replace(/\n/g, ' ')}`);
}

/** Running means: postmaster.pid names a live process whose working directory is
 *  this data directory. A pid file copied into a snapshot names someone else. */
export async function isRunning(spec: Pick<ClusterSpec, 'dataDir'>): Promise<boolean> {
  return (await runningPid(spec.dataDir)) !== undefined;
}

/** Set the superuser's password over the private socket; called after every start,
 *  because a branch restored from someone else's bookmark carries their pg_authid.
 *  It is sent as a SCRAM-SHA-256 verifier, so the password itself never reaches a server log. */
export async function setPassword(spec: ClusterSpec, password: string): Promise<void> {
  await withLocalClient(spec, async (client) => {
    await client.query(`ALTER ROLE ${SUPERUSER} WITH PASSWORD '${scramVerifier(password)}'`);
  });
}

/**
 * A session as the container's superuser over the private socket. The socket folder is the
 * tenant's, so first make sure the server that answered is this container's own; and
 * whatever the data's role settings say, the session loads no library and fires no event trigger.
 */
export async function withLocalClient<T>(spec: ClusterSpec, fn: (c: Client) => Promise<T>, database = DATABASE): Promise<T> {
  const client = new Client({ host: socketDir(spec), port: spec.port, user: SUPERUSER, database, options: SESSION_OPTIONS });
  // A server that goes away between queries (a PANIC on a full pool, a tenant's
  // pg_terminate_backend during an online backup) emits 'error' on the idle client;
  // unheard, that would end the engine. The next query fails with it instead.
  client.on('error', () => undefined);
  await client.connect().catch((err: Error) => {
    throw new EngineError('DatabaseFailed', `could not reach the database on port ${spec.port} over its private socket: ${err.message}. `
      + 'Run `slipstream container start` for it; its log is in the engine\'s runtime directory.');
  });
  try {
    await verifyServer(spec, client);
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The backend serving us must run as the container's user in the container's data directory. */
async function verifyServer(spec: ClusterSpec, client: Client): Promise<void> {
  const pid = Number((await client.query('SELECT pg_catalog.pg_backend_pid() AS pid')).rows[0]?.pid);
  const uid = spec.owner?.uid ?? process.getuid?.();
  const [st, cwd, dataDir] = await Promise.all([
    fs.promises.stat(`/proc/${pid}`).catch(() => undefined),
    fs.promises.readlink(`/proc/${pid}/cwd`).catch(() => ''),
    fs.promises.realpath(spec.dataDir).catch(() => spec.dataDir),
  ]);
  if (!Number.isInteger(pid) || !st || st.uid !== uid || path.resolve(cwd) !== dataDir) {
    throw new EngineError('DatabaseFailed', `the server on ${socketDir(spec)} is not the database of ${spec.dataDir} `
      + `(its backend ${pid} runs as uid ${st?.uid ?? '?'} in ${cwd || '?'}), so the engine sent it nothing. `
      + 'A program in the container replaced its socket. Restarting the database makes a new one: switch branches, '
      + 'or run `slipstream engine stop` and `engine start`.');
  }
}

export { logPath } from './runDir';

async function removeStalePid(dataDir: string): Promise<void> {
  await fs.promises.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
}

/**
 * A PostgreSQL program (pg_ctl, initdb) failed. The message says what could not be done
 * and ends with what PostgreSQL said, labelled and trimmed to the lines that explain it
 * (`postgresSaid`); `output` keeps everything (pg_ctl's output and the log's tail) for the
 * engine log. Callers that know the operation (a bookmark, a switch) lead with it.
 */
export class PostgresFailed extends EngineError {
  constructor(readonly doing: string, readonly said: string, readonly output: string) {
    super('DatabaseFailed', `could not ${doing}. PostgreSQL said:${said.includes('\n') ? '\n  ' + said.replace(/\n/g, '\n  ') : ' ' + said}`);
    this.name = 'PostgresFailed';
  }
}

/** Log lines that explain a failure, and pg_ctl's lines that never do. */
const EXPLAINS = /^(FATAL|PANIC|ERROR|DETAIL|HINT|CONTEXT):/;
const NOISE = /^(waiting for server to (start|shut down)|stopped waiting|Examine the log output|pg_ctl: could not start server|done$|server (started|stopped))/;

/**
 * What PostgreSQL said, fit for the end of a user's message: the FATAL/PANIC/ERROR lines
 * and their DETAIL and HINT (else the last lines that are not pg_ctl's chatter), without
 * the log's time and pid prefix, host paths cut to their last part (a team user is not
 * told the engine's paths), at most 4 lines of 300 characters.
 */
export function postgresSaid(output: string): string {
  const lines = output.split('\n')
    .map((l) => l.replace(/^\d{4}-\d\d-\d\d[ T][\d:.]+(?: ?[A-Z]{2,5}|[+-]\d\d(?::?\d\d)?)? (?:\[\d+\] )?/, '').replace(/\s+/g, ' ').trim())
    .filter((l) => l && !NOISE.test(l));
  const explaining = lines.filter((l) => EXPLAINS.test(l));
  const chosen = (explaining.length ? explaining : lines).filter((l, i, all) => all.indexOf(l) === i).slice(-4);
  const text = chosen.map((l) => {
    const short = l.replace(/"\/(?:[^"/]*\/)*([^"/]*)"/g, '"$1"');
    return short.length > 300 ? `${short.slice(0, 299)}…` : short;
  }).join('\n');
  return text || 'nothing (see the engine log)';
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
    child.on('error', (err) => reject(new EngineError('DatabaseFailed', `could not ${doing}: ${err.message}`)));
    child.on('close', async (code) => {
      if (code === 0) return resolve();
      const extra = detail ? await detail() : '';
      const all = `${output}\n${extra}`.trim();
      reject(new PostgresFailed(doing, postgresSaid(all), `(exit ${code}) ${all.slice(-4000)}`));
    });
  });
}
