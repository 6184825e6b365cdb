import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * Machine-wide reservations of the numbers a container keeps for life: its port
 * and, under root, its OS user id. One file per number names the engine home that
 * owns it. Without them, two engines on one machine could hand out the same number:
 * a port is free for a moment at every switch or restore, and a user id is only
 * ever seen on files.
 */
export type ReservationKind = 'ports' | 'uids';

function folder(kind: ReservationKind): string {
  return path.join(os.tmpdir(), `slipstream-${kind}`);
}

/** Reserve `n` for `home`. True if it is now (or already was) home's. A reservation
 *  whose home no longer exists is stale and is taken over. */
export function reserve(kind: ReservationKind, n: number, home: string): boolean {
  const dir = folder(kind);
  fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
  const file = path.join(dir, String(n));
  try {
    fs.writeFileSync(file, home, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return true; // no registry: the caller's own checks decide
  }
  const holder = fs.readFileSync(file, 'utf8');
  if (holder === home) return true;
  if (fs.existsSync(holder)) return false;
  fs.writeFileSync(file, home);
  return true;
}

export function release(kind: ReservationKind, n: number, home: string): void {
  const file = path.join(folder(kind), String(n));
  try {
    if (fs.readFileSync(file, 'utf8') === home) fs.rmSync(file, { force: true });
  } catch {
    // never reserved, or already released
  }
}
