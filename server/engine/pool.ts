import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { FileOwner } from './volumes/driver';

/**
 * Where volumes live. PostgreSQL runs as an unprivileged user when the engine
 * is root, and that user must be able to walk down to its data directory. A
 * home under /root (0700) does not allow that, so such an engine keeps its
 * pool under /var/lib/slipstream instead, one folder per home.
 */
export function choosePool(home: string, wanted: string | undefined, owner: FileOwner | undefined): string {
  const pool = path.resolve(wanted ?? path.join(home, 'pool'));
  if (wanted || !owner || traversable(path.dirname(pool), owner)) return pool;
  return path.join(outsideHome(home), 'pool');
}

/**
 * Where the containers' runtime directories live (Unix socket and its lock file,
 * pg_hba.conf, postgres.log): HOME/run, never on the pool, so a full pool cannot
 * stop PostgreSQL from creating them. PostgreSQL must reach it too, so a home it
 * cannot walk through keeps them beside the moved pool, in a folder of their own.
 */
export function chooseRunRoot(home: string, owner: FileOwner | undefined): string {
  if (!owner || traversable(home, owner)) return path.join(home, 'run');
  return path.join(outsideHome(home), 'run');
}

/** Root's folder for what PostgreSQL must reach when it cannot reach where it came from. */
export const OUTSIDE = '/var/lib/slipstream';

/** OUTSIDE/postgres/<key>: the copies of PostgreSQL a root engine runs (postgres/binaryCopy.ts). */
export const PG_COPIES = path.join(OUTSIDE, 'postgres');

/** OUTSIDE/<hash of home>: for what PostgreSQL must reach under a home it cannot. */
function outsideHome(home: string): string {
  const tag = createHash('sha256').update(home).digest('hex').slice(0, 12);
  return path.join(OUTSIDE, tag);
}

/** Can `owner` reach `dir` (execute permission on it and every ancestor)? */
export function traversable(dir: string, owner: FileOwner): boolean {
  return blockingFolder(dir, owner) === undefined;
}

/** The first folder, from the top, that keeps `owner` from reaching `dir`; undefined if none. */
export function blockingFolder(dir: string, owner: FileOwner): string | undefined {
  const chain: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    chain.unshift(d);
    if (d === path.dirname(d)) break;
  }
  for (const d of chain) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return undefined; // not there yet: it will be created by us with a traversable mode
    }
    const ok = st.uid === owner.uid ? st.mode & 0o100 : st.gid === owner.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!ok) return d;
  }
  return undefined;
}
