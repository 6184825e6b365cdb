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

/**
 * Reserve `n` for `home`. True if it is now (or already was) home's. A reservation
 * is honoured only while its home exists and belongs to whoever wrote the file: the
 * folder is world-writable, so an entry written by anyone else (a container's program,
 * say) is a forgery, and one whose home is gone is stale. Either is taken over, where
 * this engine may remove the file.
 */
export function reserve(kind: ReservationKind, n: number, home: string): boolean {
  const dir = folder(kind);
  fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
  const file = path.join(dir, String(n));
  if (create(file, home)) return true;
  let holder: string;
  let writer: number;
  try {
    holder = fs.readFileSync(file, 'utf8');
    writer = fs.statSync(file).uid;
  } catch {
    return false; // released this moment, or unreadable: try the next number
  }
  if (holder === home) return true;
  if (honoured(holder, writer)) return false;
  try {
    fs.rmSync(file); // the sticky bit lets only its writer (or root) remove it
  } catch {
    return false;
  }
  return create(file, home);
}

/** Create the reservation file; false if it exists. Without a usable folder the
 *  caller's own checks decide, so that counts as reserved. */
function create(file: string, home: string): boolean {
  try {
    fs.writeFileSync(file, home, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'EEXIST';
  }
}

function honoured(holder: string, writer: number): boolean {
  try {
    return path.isAbsolute(holder) && fs.statSync(holder).uid === writer;
  } catch {
    return false;
  }
}

export function release(kind: ReservationKind, n: number, home: string): void {
  const file = path.join(folder(kind), String(n));
  try {
    if (fs.readFileSync(file, 'utf8') === home) fs.rmSync(file, { force: true });
  } catch {
    // never reserved, or already released
  }
}
