import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { FileOwner } from '../volumes/driver';

/**
 * The server process itself: is it running, start it, stop it at once.
 *
 * pg_ctl's `-w` looks at the server ten times a second, so each start and each stop cost up to
 * 100 ms more than the server needed (measured here: an immediate stop 103 ms through pg_ctl,
 * 8 ms signalled and watched; a start after one 107 ms, 70 ms watched). Every switch and every
 * restore stops one server and starts one, so these two are done here, watched every few
 * milliseconds, the same way pg_ctl does them: the start through `sh -c exec` with stdin from
 * /dev/null, output appended to the log, in a session of its own; the stop by `pg_ctl kill`
 * run as the container's user, so a pid the tenant wrote into postmaster.pid can only name
 * one of its own processes.
 */

/** How often a start or a stop is looked at. */
const POLL_MS = 5;

/** postmaster.pid's lines (PostgreSQL's LOCK_FILE_LINE_*): the pid first, the status eighth. */
const PID_LINE = 0;
const STATUS_LINE = 7;

/** The lines of the data directory's postmaster.pid, or undefined. The tenant writes the data
 *  directory and decides the file's size: never through a symlink, never more than 1 KiB. */
async function pidFile(dataDir: string): Promise<string[] | undefined> {
  try {
    const fh = await fs.promises.open(path.join(dataDir, 'postmaster.pid'), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0).finally(() => fh.close());
    return buf.subarray(0, bytesRead).toString().split('\n');
  } catch {
    return undefined;
  }
}

function pidOf(lines: string[] | undefined): number | undefined {
  const pid = Number(lines?.[PID_LINE]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid of the server running on the data directory: the one postmaster.pid names, if that
 *  process works in the directory (a stale file, or one naming another process, says no). */
export async function runningPid(dataDir: string): Promise<number | undefined> {
  const pid = pidOf(await pidFile(dataDir));
  if (!pid) return undefined;
  try {
    const cwd = await fs.promises.readlink(`/proc/${pid}/cwd`);
    return path.resolve(cwd) === (await fs.promises.realpath(dataDir)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export type Launched = { ready: true } | { ready: false; why: string };

/**
 * Start `postgres -D dataDir <options>` as `owner` (options shell-quoted, as pg_ctl's `-o`),
 * appending its output to `log`, and wait until its postmaster.pid says it is ready for
 * connections (after any crash recovery), it exits, or `timeoutMs` passes. It outlives the
 * engine: an engine that restarts adopts it (cluster.start).
 */
export async function launch(postgres: string, dataDir: string, options: string, owner: FileOwner | undefined,
  log: string, timeoutMs: number, launched?: () => Promise<void>): Promise<Launched> {
  // The engine's own runtime directory holds the log: opened without following a symlink.
  const out = await fs.promises.open(log, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  let exited: string | undefined;
  let pid: number | undefined;
  try {
    const child = spawn('/bin/sh', ['-c', `exec "$0" -D "$1" ${options}`, postgres, dataDir], {
      uid: owner?.uid, gid: owner?.gid, detached: true, stdio: ['ignore', out.fd, out.fd], env: { ...process.env, LC_ALL: 'C' },
    });
    pid = child.pid;
    child.on('error', (err) => (exited = `it could not be run: ${err.message}`));
    child.on('exit', (code, signal) => (exited = `it exited${signal ? ` on ${signal}` : ` with code ${code}`}`));
    child.unref();
  } finally {
    await out.close();
  }
  await launched?.();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) return { ready: false, why: exited };
    const lines = await pidFile(dataDir);
    if (pidOf(lines) === pid && lines?.[STATUS_LINE]?.trim() === 'ready') return { ready: true };
    if (Date.now() > deadline) return { ready: false, why: `it was not ready for connections within ${timeoutMs / 1000} s` };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Wait until the running server's postmaster.pid says `ready`: pg_ctl's `-w` also takes the
 * `standby` it writes while a replay runs, and a server stopped then, in the middle of its
 * promotion, restarts into plain crash recovery that replays past the moment (seen here).
 */
export async function untilReady(dataDir: string, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    const lines = await pidFile(dataDir);
    if (!pidOf(lines)) return false;
    if (lines?.[STATUS_LINE]?.trim() === 'ready') return true;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return false;
}

/**
 * Stop the server at once (SIGQUIT: no shutdown checkpoint; the next start replays the WAL),
 * sent by `pg_ctl kill` as `owner`, and wait until it is gone. Says why not, if it is not.
 */
export async function quit(pgCtl: string, dataDir: string, owner: FileOwner | undefined, timeoutMs: number): Promise<string | undefined> {
  const pid = await runningPid(dataDir);
  if (!pid) return undefined;
  const said = await new Promise<string | undefined>((resolve) => {
    const child = spawn(pgCtl, ['kill', 'QUIT', String(pid)], { uid: owner?.uid, gid: owner?.gid, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code) => resolve(code === 0 ? undefined : err.trim() || `pg_ctl kill exited with code ${code}`));
  });
  const deadline = Date.now() + timeoutMs;
  while (await runningPid(dataDir) === pid) {
    if (said) return said;
    if (Date.now() > deadline) return `the server (pid ${pid}) still ran ${timeoutMs / 1000} s after it was told to stop at once`;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return undefined;
}
