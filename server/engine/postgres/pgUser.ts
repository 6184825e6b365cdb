import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
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
