import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EngineError } from '../errors';
import { reserve } from '../reservations';
import type { FileOwner } from '../volumes/driver';

/** PostgreSQL refuses to run as root. When the engine runs as root, every
 *  cluster runs as this unprivileged system user, created on first need. */
export const PG_SYSTEM_USER = 'slipstream';

export function resolvePgOwner(): FileOwner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return lookup(PG_SYSTEM_USER) ?? createSystemUser(PG_SYSTEM_USER);
}

function lookup(name: string): FileOwner | undefined {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function createSystemUser(name: string): FileOwner {
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name], { stdio: 'pipe' });
  } catch (err) {
    // Without useradd we fall back to nobody, which still keeps PostgreSQL off root.
    const nobody = lookup('nobody');
    if (nobody) return nobody;
    throw new Error(`cannot create the system user ${name} for PostgreSQL: ${(err as Error).message}`);
  }
  const owner = lookup(name);
  if (!owner) throw new Error(`useradd ${name} succeeded but the user is not in /etc/passwd`);
  return owner;
}

export function currentUserName(): string {
  return os.userInfo().username;
}

/**
 * Under a root engine each container's cluster runs as an OS user id of its own,
 * so that one team user's database superuser cannot read another's files. The ids
 * need no /etc/passwd entry: the postmaster and pg_ctl never look their user up
 * (only initdb does, and templates are built as PG_SYSTEM_USER). The range lies
 * far above login users and the subordinate ids useradd hands out for namespaces.
 */
export const CONTAINER_UIDS = { first: 1_500_000_000, last: 1_500_999_999 };

/** Ids handed to container creates that have not recorded their container yet. */
const claimed = new Set<number>();

/** An id for a new container: not one of `used` (this engine's containers), not
 *  claimed by a create in flight, and reserved machine-wide for `home`. */
export function allocateUid(used: Iterable<number>, home: string): number {
  const taken = new Set(used);
  for (let uid = CONTAINER_UIDS.first; uid <= CONTAINER_UIDS.last; uid++) {
    if (taken.has(uid) || claimed.has(uid) || !reserve('uids', uid, home)) continue;
    claimed.add(uid);
    return uid;
  }
  throw new EngineError('InUse', `every OS user id from ${CONTAINER_UIDS.first} to ${CONTAINER_UIDS.last} is taken. Delete unused containers.`);
}

/** The create recorded its container (whose record now holds the id), or gave up. */
export function unclaimUid(uid: number): void {
  claimed.delete(uid);
}

export function uidOwner(uid: number): FileOwner {
  return { uid, gid: uid };
}

/** Can files in `dir` be given to ids in the range? Not inside a user namespace that
 *  maps only a few ids; there every cluster shares PG_SYSTEM_USER instead. */
export async function canGiveFilesAway(dir: string): Promise<boolean> {
  const probe = path.join(dir, `.uid-probe-${process.pid}`);
  try {
    await fs.promises.writeFile(probe, '');
    await fs.promises.chown(probe, CONTAINER_UIDS.first, CONTAINER_UIDS.first);
    return true;
  } catch {
    return false;
  } finally {
    await fs.promises.rm(probe, { force: true });
  }
}
