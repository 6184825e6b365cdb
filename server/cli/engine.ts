/**
 * engine start | stop | status | run. `start` launches `engine run` of this same
 * script as a detached daemon and waits until it answers on the socket.
 */
import * as fs from 'fs';
import { spawn, type ChildProcess } from 'child_process';
import { setTimeout as delay } from 'timers/promises';
import { connectEngine, engineNotRunningMessage, hasErrorCode } from '../common/client';
import { homeDirMode, homeFiles } from '../common/home';
import { formatImageSize, POOL_IMAGE_NEEDS_ROOT } from '../common/poolImage';
import { EngineShutdownRequest, EngineStatusRequest, type DatabaseStart, type EngineStatus, type PoolImageStatus } from '../protocol';
import type { EngineRunArgs } from './args';
import type { Context, GroupHandlers } from './context';
import { CliError, details, shortTime } from './output';

const POLL_MS = 100;
const WAIT_MS = 30_000;
const LOG_TAIL_LINES = 20;
const EXIT_GRACE_MS = 2000;

export const engineCommands: GroupHandlers<'engine'> = {
  'engine start': start,
  'engine stop': stop,
  'engine status': status,
  'engine run': run,
};

async function start(ctx: Context, args: EngineRunArgs): Promise<number> {
  ctx.requireLocal();
  const running = await probe(ctx.home);
  if (running) {
    ctx.emit(running, `the engine is already running for ${ctx.home}\n${statusText(running)}`);
    return 0;
  }
  // Before anything is made: a non-root daemon would only fail, after creating the home.
  if (args.poolImage !== undefined && process.getuid?.() !== 0) throw new CliError('Unsupported', POOL_IMAGE_NEEDS_ROOT);
  fs.mkdirSync(ctx.home, { recursive: true, mode: homeDirMode() });
  const log = homeFiles(ctx.home).log;
  const logStart = fileSize(log);
  const child = spawnDaemon(ctx.home, args, log);
  const up = await waitUntilUp(ctx, child, log, logStart);
  ctx.emit(up, `engine started\n${startupText(up.startup)}${statusText(up)}`);
  return 0;
}

async function stop(ctx: Context): Promise<number> {
  ctx.requireLocal();
  const client = await connectEngine({ home: ctx.home }).catch(notRunningToUndefined);
  if (!client) {
    // Stopping what is not running is not a failure: scripts can stop unconditionally.
    ctx.io.stderr.write(`slipstream: ${engineNotRunningMessage(ctx.home).split(';')[0]}\n`);
    ctx.emit({ stopped: 0 }, '');
    return 0;
  }
  let result: { stopped: number } = { stopped: 0 };
  let pid: number | undefined;
  try {
    pid = (await client.request(EngineStatusRequest.type, {}, { signal: ctx.signal })).pid;
    result = await client.request(EngineShutdownRequest.type, {}, { signal: ctx.signal });
  } catch (err) {
    // The engine may close the socket before its answer gets out; that is a stop too.
    if (!hasErrorCode(err, 'ConnectionLost')) throw err;
  } finally {
    await client.close();
  }
  await waitUntilGone(ctx, pid);
  ctx.emit(result, `engine stopped (${result.stopped} database${result.stopped === 1 ? '' : 's'} stopped)`);
  return 0;
}

async function status(ctx: Context): Promise<number> {
  const st = await ctx.call(EngineStatusRequest.type, {});
  ctx.emit(st, statusText(st));
  return 0;
}

/** The daemon itself, in the foreground. Loaded lazily so other commands never load the engine. */
async function run(ctx: Context, args: EngineRunArgs): Promise<number> {
  const { runEngine } = await import('../engine/main.js');
  await runEngine({ home: ctx.home, ...args });
  // The engine has stopped. A handle it left open (a client that never hung up, a child
  // that ignores signals) must not keep a stopped daemon alive, so `engine stop` returns.
  setTimeout(() => {
    process.stderr.write('engine stopped, but open handles kept the process alive; exiting\n');
    process.exit(0);
  }, EXIT_GRACE_MS).unref();
  return 0;
}

function statusText(st: EngineStatus): string {
  return details([
    ['engine id', st.engineId],
    ['pid', String(st.pid)],
    ['home', st.home],
    ['pool', st.pool],
    ['driver', st.driver],
    ['pool image', st.poolImage ? poolImageText(st.poolImage) : undefined],
    ['postgres', st.postgres],
    ['version', `${st.version} (protocol ${st.protocol})`],
    ['user', st.user],
    ['started', shortTime(st.startedAt)],
    ['templates', String(st.templates)],
    ['containers', String(st.containers)],
    ['background', st.backgroundJobs ? `${st.backgroundJobs} job(s): spares being built, branches being dehydrated, checkpoints, old volumes being deleted` : undefined],
    ['WAL kept', `${st.wal.retentionHours} h per branch, at most ${st.wal.capMb ? `${st.wal.capMb} MiB` : 'any size'} per container (point-in-time restores)`],
    ['Captured', st.wal.captureSeconds ? `every ${st.wal.captureSeconds} s while a branch writes (a point-in-time restore replays at most that much WAL)` : 'only at operations and bookmarks (SLIPSTREAM_WAL_CAPTURE_SECONDS=0)'],
    ['failed', st.failed.length ? `${st.failed.length}: ${st.failed.map((f) => f.container).join(', ')}` : undefined],
  ]) + st.failed.map((f) => `\n  ${f.container}: ${f.reason}. ${f.action}`).join('');
}

function poolImageText(img: PoolImageStatus): string {
  const state = img.mounted ? 'mounted at the pool' : 'NOT mounted: restart the engine to mount it again';
  return `${img.file} (${img.fs}, ${formatImageSize(img.bytes)}, ${state})`;
}

/** What the start did with the databases that should run: which came back, which failed and why. */
function startupText(startup: readonly DatabaseStart[]): string {
  if (startup.length === 0) return '';
  const failed = startup.filter((d) => d.result === 'failed');
  const back = startup.filter((d) => d.result === 'started' && d.wasFailed);
  const lines = [`databases: ${startup.length - failed.length} running, ${failed.length} failed`];
  if (back.length) lines.push(`  came back after a failed start: ${back.map((d) => d.container).join(', ')}`);
  for (const d of failed) lines.push(`  ${d.wasFailed ? 'still failed' : 'failed'}: ${d.container}: ${d.reason}`);
  if (failed.length) lines.push('  (container show NAME says what to do; engine start or container start NAME retries)');
  return lines.join('\n') + '\n';
}

function notRunningToUndefined(err: unknown): undefined {
  if (hasErrorCode(err, 'EngineNotRunning')) return undefined;
  throw err;
}

/** The engine's status, or undefined while nothing answers on the socket. */
async function probe(home: string): Promise<EngineStatus | undefined> {
  const client = await connectEngine({ home }).catch(notRunningToUndefined);
  if (!client) return undefined;
  try {
    return await client.request(EngineStatusRequest.type, {});
  } finally {
    await client.close();
  }
}

/** A starting engine may accept and drop connections for a moment; only a clean answer counts. */
async function probeQuietly(home: string): Promise<EngineStatus | undefined> {
  return probe(home).catch(() => undefined);
}

function spawnDaemon(home: string, args: EngineRunArgs, log: string): ChildProcess {
  const argv = [process.argv[1], 'engine', 'run', '--home', home, '--driver', args.driver];
  if (args.pool) argv.push('--pool', args.pool);
  if (args.pgBin) argv.push('--pg-bin', args.pgBin);
  if (args.listen) argv.push('--listen', args.listen);
  if (args.tlsCert && args.tlsKey) argv.push('--tls-cert', args.tlsCert, '--tls-key', args.tlsKey);
  if (args.dbListen) argv.push('--db-listen', args.dbListen);
  if (args.poolImage !== undefined) argv.push('--pool-image', args.poolImage);
  const fd = fs.openSync(log, 'a', 0o600);
  try {
    // detached: its own session, so the terminal's Ctrl-C and close do not reach it.
    // cwd: the home, so the daemon does not pin the directory the user started it from.
    const child = spawn(process.execPath, argv, { detached: true, stdio: ['ignore', fd, fd], cwd: home });
    child.unref();
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

async function waitUntilUp(ctx: Context, child: ChildProcess, log: string, logStart: number): Promise<EngineStatus> {
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit = signal ? `was killed by ${signal}` : `exited with code ${code}`));
  child.once('error', (err) => (exit = `could not be started: ${err.message}`));
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const up = await probeQuietly(ctx.home);
    if (up) return up;
    if (exit) {
      ctx.io.stderr.write(logTail(log, logStart));
      throw new CliError('EngineFailed', `the engine ${exit} before it answered; see ${log}`);
    }
    await delay(POLL_MS, undefined, { signal: ctx.signal });
  }
  throw new CliError('EngineFailed', `the engine did not answer within ${WAIT_MS / 1000} s (it may still be starting); see ${log}`);
}

/** Until the socket stops answering and the process is gone, so a following start finds the home free. */
async function waitUntilGone(ctx: Context, pid: number | undefined): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (!(await probeQuietly(ctx.home)) && !(pid && processAlive(pid))) return;
    await delay(POLL_MS, undefined, { signal: ctx.signal });
  }
  throw new CliError('EngineFailed', `the engine did not stop within ${WAIT_MS / 1000} s; see ${homeFiles(ctx.home).log}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The log lines this start wrote (or the file's end, if it wrote none), framed for stderr. */
function logTail(log: string, from: number): string {
  let text: string;
  try {
    const whole = fs.readFileSync(log);
    const mine = whole.subarray(Math.min(from, whole.length)).toString('utf8');
    text = mine.trim() ? mine : whole.toString('utf8');
  } catch {
    return '';
  }
  const lines = text.trimEnd().split('\n').slice(-LOG_TAIL_LINES);
  if (lines.length === 0 || lines[0] === '') return '';
  return `last lines of ${log}:\n${lines.map((l) => '  ' + l).join('\n')}\n`;
}
