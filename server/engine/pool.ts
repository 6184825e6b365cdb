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
  const tag = createHash('sha256').update(home).digest('hex').slice(0, 12);
  return path.join('/var/lib/slipstream', tag, 'pool');
}

/** Can `owner` reach `dir` (execute permission on it and every ancestor)? */
export function traversable(dir: string, owner: FileOwner): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      // Not there yet: it will be created by us with a traversable mode.
      if (d === path.dirname(d)) return true;
      continue;
    }
    const ok = st.uid === owner.uid ? st.mode & 0o100 : st.gid === owner.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!ok) return false;
    if (d === path.dirname(d)) return true;
  }
}
