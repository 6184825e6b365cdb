import * as fs from 'fs';
import * as path from 'path';
import type { DatabaseStart, DriverChoice } from '../protocol';
import { isParseError, parseHostPort } from '../common/address';
import { homeDirMode, homeFiles } from '../common/home';
import { warmBranches } from './coldBranches';
import { sparesSetting } from './spares';
import { walLimits } from './walRetention';
import { quietCheckpointMs } from './quietCheckpoints';
import { Engine, log, type EngineConfig } from './engine';
import { EngineError } from './errors';
import { newId, now } from './ids';
import { acquireHomeLock } from './lock';
import { isJournalOp, readJournalEntry } from './journal';
import { recoverEntry } from './operations';
import { choosePool, chooseRunRoot } from './pool';
import { openPoolImage, poolImageHint, type PoolImage } from './poolImage';
import { pgBinariesFor } from './postgres/binaries';
import * as cluster from './postgres/cluster';
import { canGiveFilesAway, currentUserName, resolvePgOwner } from './postgres/pgUser';
import { reserve } from './reservations';
import { RpcServer } from './rpc';
import { ensureAdmin } from './users';
import { Store } from './store';
import { upgradeHome } from './upgrade';
import { createDriver } from './volumes';
import { version } from '../../package.json';
import { removePath } from './volumes/volumeFiles';

export interface EngineOptions {
  home: string;
  driver: DriverChoice;
  pool?: string;
  pgBin?: string;
  /** Team mode: also serve JSON-RPC on HOST:PORT, with tokens. */
  listen?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** The address new containers' databases listen on (default 127.0.0.1). */
  dbListen?: string;
  /** --pool-image SIZE: put a new home's pool on a loop-mounted btrfs (or XFS) image. */
  poolImage?: string;
}

/** What the first start of an engine on a home decided, kept so later starts agree. */
interface HomeSettings {
  engineId: string;
  /** Who Unix-socket clients are: the OS user that first started this home. Kept, so the
   *  local containers stay theirs; no team user may take the name. */
  localOwner?: string;
  pool: string;
  driver: string;
  /** The pool is on this image, mounted again by every start (poolImage.ts). */
  poolImage?: PoolImage;
}

/**
 * The engine daemon: take the home's lock, open the metadata, pick the volume
 * driver, finish or roll back what a crash interrupted, start the databases
 * that were running, then answer on the socket until told to stop.
 * Resolves when the engine has stopped.
 */
export async function runEngine(opts: EngineOptions): Promise<void> {
  const files = homeFiles(opts.home);
  // First, so that a setting that is refused changes nothing.
  const tunables = {
    spares: sparesSetting(process.env.SLIPSTREAM_SPARES),
    warmBranches: warmBranches(process.env.SLIPSTREAM_WARM_BRANCHES),
    quietCheckpointMs: quietCheckpointMs(process.env.SLIPSTREAM_QUIET_CHECKPOINT_MS),
    wal: walLimits(process.env),
  };
  const owner = resolvePgOwner();
  const bins = await pgBinariesFor(opts.pgBin, owner); // before the home: a start that cannot work changes nothing
  await fs.promises.mkdir(opts.home, { recursive: true, mode: homeDirMode() });
  await fs.promises.chmod(opts.home, homeDirMode());
  const releaseLock = acquireHomeLock(files.lock, opts.home);
  let store: Store | undefined;
  try {
    await fs.promises.mkdir(files.meta, { recursive: true, mode: 0o700 });
    store = new Store(files.meta);
    const newHome = store.metaValue('settings') === undefined;
    const settings = homeSettings(store, opts, choosePool(opts.home, opts.pool, owner));
    const poolImage = await openPoolImage({ home: opts.home, pool: settings.pool, wanted: opts.poolImage, saved: settings.poolImage, newHome });
    await fs.promises.mkdir(settings.pool, { recursive: true, mode: 0o711 });
    const driver = await createDriver(settings.driver as DriverChoice, { pool: settings.pool, log });
    poolImageHint(driver.name, poolImage, newHome);
    saveSettings(store, { ...settings, localOwner: settings.localOwner ?? currentUserName(), driver: driver.name, ...(poolImage ? { poolImage } : {}) });
    const runRoot = chooseRunRoot(opts.home, owner);
    await fs.promises.mkdir(runRoot, { recursive: true, mode: 0o711 });
    await fs.promises.chmod(runRoot, 0o711); // mkdir's mode is masked by the umask
    const config: EngineConfig = {
      engineId: settings.engineId, home: opts.home, pool: settings.pool, runRoot, version,
      localOwner: settings.localOwner ?? currentUserName(), startedAt: now(), pgBinDirs: pgToolDirs(opts.pgBin), dbListen: opts.dbListen ?? '127.0.0.1',
      ...(poolImage ? { poolImage } : {}),
      ...tunables,
    };
    const containerUids = owner !== undefined && (await canGiveFilesAway(settings.pool));
    const engine = new Engine(config, store, driver, bins, owner, containerUids);
    log(`engine ${config.engineId} on ${opts.home}: pool ${settings.pool}, ${driver.name} driver, PostgreSQL from ${engine.bins.dir}${describeOsUsers(owner, containerUids)}`);
    ensureAdmin(store, files.adminToken);
    await upgradeHome(engine); // before anything reads a branch's volume
    await retireRunDirsOnPool(engine, path.join(settings.pool, 'run'));
    const failedBefore = new Set(store.allContainers().filter((c) => c.failure).map((c) => c.id));
    await recover(engine);
    reserveNumbers(engine);
    engine.startup = await startDatabases(engine, failedBefore);
    engine.spares.scheduleActive(); // recovery may have deleted a half-made one
    engine.cold.scheduleAll(); // K may have changed, or a crash cut a dehydration short
    engine.walRetention.start(); // also deletes archives no span names
    engine.intervalCapture.start();
    engine.quiet.start(engine.config.quietCheckpointMs);
    const server = new RpcServer(engine);
    await server.listenUnix(files.socket, { name: config.localOwner, admin: true });
    log(`listening on ${files.socket}`);
    if (opts.listen) await listenTeam(server, opts);
    await untilStopped(engine, server);
  } finally {
    await store?.close().catch(() => undefined);
    releaseLock();
  }
}

function homeSettings(store: Store, opts: EngineOptions, pool: string): HomeSettings {
  const saved = store.metaValue('settings') as HomeSettings | undefined;
  if (!saved) return { engineId: newId('eng'), localOwner: currentUserName(), pool, driver: opts.driver };
  if (opts.pool && path.resolve(opts.pool) !== saved.pool) {
    throw new EngineError('InvalidArgument', `this home's pool is ${saved.pool}; it cannot move to ${opts.pool}. Leave out --pool, or use another --home.`);
  }
  if (opts.driver !== 'auto' && opts.driver !== saved.driver) {
    throw new EngineError('InvalidArgument', `this home's volumes use the ${saved.driver} driver; it cannot switch to ${opts.driver}. Leave out --driver, or use another --home.`);
  }
  return saved;
}

function saveSettings(store: Store, settings: HomeSettings): void {
  store.tx(() => store.putMetaValue('settings', settings));
}

async function listenTeam(server: RpcServer, opts: EngineOptions): Promise<void> {
  const at = parseHostPort(opts.listen!);
  if (isParseError(at)) throw new EngineError('InvalidArgument', `--listen: ${at.error}`);
  const { host, port } = at;
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) {
    throw new EngineError('InvalidArgument', 'TLS needs both --tls-cert and --tls-key.');
  }
  const tlsFiles = opts.tlsCert && opts.tlsKey ? { cert: opts.tlsCert, key: opts.tlsKey } : undefined;
  const address = await server.listenTcp(host, port, tlsFiles).catch((err: Error) => {
    throw new EngineError('PortInUse', `cannot listen on ${opts.listen}: ${err.message}`);
  });
  log(`team mode: listening on ${tlsFiles ? 'tls' : 'tcp'}://${address.address}:${address.port}; clients need a token`);
  if (!tlsFiles && !['127.0.0.1', '::1', 'localhost'].includes(host)) {
    log('warning: team mode without TLS sends tokens in clear text; add --tls-cert and --tls-key');
  }
}

/** pg_dump / pg_restore for url and dump sources: next to --pg-bin, then Debian's, then PATH. */
function pgToolDirs(pgBin?: string): string[] {
  const debian = fs.existsSync('/usr/lib/postgresql')
    ? fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)).map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  return [...(pgBin ? [path.resolve(pgBin)] : []), ...debian];
}

/** Whatever the journal still holds was interrupted: finish it or roll it back. An entry of
 *  an operation this engine does not know is dropped; one whose fields are not what its
 *  operation writes is left as it is, since recovering from wrong data could lose some. */
async function recover(engine: Engine): Promise<void> {
  for (const entry of engine.store.allJournalEntries()) {
    log(`recovering interrupted ${entry.op} (${entry.id}, step ${entry.step})`);
    const read = readJournalEntry(entry);
    if ('problem' in read) {
      const known = isJournalOp(entry.op);
      log(`journal entry ${entry.id} ${known ? 'left as it is' : 'dropped'}, not recovered: ${read.problem}`);
      if (!known) engine.store.tx(() => engine.journalEnd(entry));
      continue;
    }
    try {
      await recoverEntry(engine, read.rec);
    } catch (err) {
      log(`recovery of ${entry.op} ${entry.id} failed: ${(err as Error).message}`);
    }
  }
}

function describeOsUsers(owner: { uid: number } | undefined, containerUids: boolean): string {
  if (!owner) return '';
  if (containerUids) return `, each container's PostgreSQL as its own OS user id (templates as uid ${owner.uid})`;
  return `, every PostgreSQL as uid ${owner.uid}: this machine cannot give files to other ids, so containers are not isolated from each other's files`;
}

/** Reservations live in the temp dir, which a reboot may empty: claim this home's again. */
function reserveNumbers(engine: Engine): void {
  const home = engine.config.home;
  for (const c of engine.store.allContainers()) {
    if (!reserve('ports', c.port, home)) log(`container ${c.owner}/${c.name}: port ${c.port} is reserved by another engine on this machine`);
    if (c.uid !== undefined && !reserve('uids', c.uid, home)) log(`container ${c.owner}/${c.name}: OS user id ${c.uid} is reserved by another engine on this machine`);
  }
}

/** Engines before this one kept the runtime directories on the pool (POOL/run), where a
 *  full pool kept PostgreSQL from starting. A database still running from there (left by
 *  a crashed engine) is stopped, so that it starts again with its socket in the new place;
 *  then the old folder goes. */
async function retireRunDirsOnPool(engine: Engine, old: string): Promise<void> {
  if (!fs.existsSync(old)) return;
  for (const c of engine.store.allContainers()) {
    if (!fs.existsSync(path.join(old, c.id)) || !(await cluster.isRunning(engine.clusterOf(c)))) continue;
    log(`container ${c.owner}/${c.name}: restarting its database to move its socket off the pool`);
    await engine.stopDatabase(c).catch((err) => log(`container ${c.owner}/${c.name}: stop failed: ${err.message}`));
  }
  await removePath(old);
  log(`removed the old runtime directories on the pool (${old}); they are in ${engine.config.runRoot} now`);
}

/** Start every database that should run, failed ones included: an engine start is the retry.
 *  Says in the log, and in `engine status`, which came back and which still failed, and why. */
async function startDatabases(engine: Engine, failedBefore: Set<string>): Promise<DatabaseStart[]> {
  const report: DatabaseStart[] = [];
  for (const c of engine.store.allContainers().filter((x) => x.running || x.failure)) {
    const wasFailed = failedBefore.has(c.id);
    try {
      await engine.startDatabase(c);
      report.push({ container: c.name, owner: c.owner, result: 'started', wasFailed });
      if (wasFailed) log(`container ${c.owner}/${c.name}: database came back after a failed start`);
    } catch (err) {
      report.push({ container: c.name, owner: c.owner, result: 'failed', wasFailed, reason: c.failure?.reason ?? (err as Error).message });
    }
  }
  const failed = report.filter((d) => d.result === 'failed');
  log(`databases: ${report.length - failed.length} running, ${failed.length} failed`
    + failed.map((d) => `\n  ${d.owner}/${d.container}: ${d.reason}`).join(''));
  return report;
}

async function stopDatabases(engine: Engine): Promise<void> {
  for (const c of engine.store.allContainers()) {
    await engine.stopDatabase(c).catch((err) => log(`container ${c.name}: stop failed: ${err.message}`));
  }
}

function untilStopped(engine: Engine, server: RpcServer): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: cancelling running operations, stopping databases, exiting`);
      await server.close();
      engine.stopping = true;
      engine.quiet.stop();
      engine.walRetention.stop();
      engine.intervalCapture.stop();
      await stopDatabases(engine);
      if (server.busy > 0) {
        // They outlived the grace period. Exit as a crash would, without releasing the
        // lock to a new engine while they still touch volumes: the next start finishes
        // or rolls them back from the journal.
        log(`${server.busy} operation(s) still running; exiting now, the next start finishes or rolls them back`);
        process.exit(0);
      }
      if (engine.backgroundJobs > 0) {
        // A spare's clone, a dehydration's capture or a volume's deletion cannot be cut
        // short; the journal names each, and the next start finishes or deletes it.
        log('background work (a spare, a dehydration, an old volume\'s deletion) still runs; exiting now, the next start finishes it');
        process.exit(0);
      }
      resolve();
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}
