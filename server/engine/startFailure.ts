import * as fs from 'fs';
import type { ContainerFailure } from '../protocol';
import { EngineError } from './errors';
import { now } from './ids';
import type { ContainerRecord } from './records';

/**
 * What a user is told about a database that should run and does not: a short
 * reason taken from the error, and what to do. The whole error (pg_ctl's output
 * and the log's tail) goes to the engine log; the reason stays one line.
 */
export function startFailure(err: unknown, c: Pick<ContainerRecord, 'name' | 'port'>, pool: string): ContainerFailure {
  const message = err instanceof Error ? err.message : String(err);
  const then = thenRetry(c.name);
  if (err instanceof EngineError && err.code === 'PortInUse') {
    return {
      reason: `port ${c.port} is taken by another program`,
      action: `Find it with \`ss -ltnp 'sport = ${c.port}'\` and stop it, ${then}`, at: now(),
    };
  }
  // A database that could not write a byte (a PANIC, then crash recovery that cannot finish)
  // reports many things; on a full pool, the full pool is what the user can act on.
  if (/No space left on device|ENOSPC/.test(message) || poolIsFull(pool)) {
    return {
      reason: `no space left on ${poolIsFull(pool) ? 'the pool' : 'the disk'}`,
      action: `Free space (delete bookmarks and branches you no longer need, or ask an admin to grow the pool), ${then}`, at: now(),
    };
  }
  return { reason: shortReason(message), action: `An admin finds the whole error in the engine's log. Fix its cause, ${then}`, at: now() };
}

/** The flag says the database should run, no start failed, no operation holds it down, and
 *  yet it does not run: it stopped behind the engine's back. */
export function stoppedOutside(c: Pick<ContainerRecord, 'name'>): ContainerFailure {
  return {
    reason: 'the database is not running: it stopped outside the engine (a crash, a kill or a manual stop)',
    action: `Run \`slipstream container start ${shellWord(c.name)}\` to start it again (the next \`engine start\` does too).`,
    at: now(),
  };
}

function thenRetry(name: string): string {
  return `then run \`slipstream container start ${shellWord(name)}\` (the next \`engine start\` also retries it).`;
}

/** PostgreSQL's last FATAL or PANIC line (the log's tail may hold older ones), else the
 *  first line; host paths shortened to their last part, since a team user is not told the
 *  engine's paths. */
function shortReason(message: string): string {
  const fatal = [...message.matchAll(/(?:FATAL|PANIC):\s+(.+)/g)].pop()?.[1];
  const line = fatal ?? message.split('\n')[0];
  const short = line.replace(/"\/(?:[^"/]*\/)*([^"/]*)"/g, '"$1"').trim();
  return short.length > 200 ? `${short.slice(0, 199)}…` : short;
}

function poolIsFull(pool: string): boolean {
  try {
    const st = fs.statfsSync(pool);
    return st.bavail * st.bsize < 1024 * 1024;
  } catch {
    return false;
  }
}

/** A container name as one shell word, for commands the user copies. */
export function shellWord(name: string): string {
  return /^[\w.@+-]+$/.test(name) ? name : `'${name.replace(/'/g, "'\\''")}'`;
}
