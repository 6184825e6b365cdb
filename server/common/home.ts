import * as os from 'os';
import * as path from 'path';

/**
 * The engine's home directory and the files in it. Shared by the engine and
 * its clients, so both agree on where the socket is.
 *
 *   HOME/engine.sock   JSON-RPC Unix socket (0600)
 *   HOME/engine.lock   pid of the engine that owns this home
 *   HOME/engine.log    the daemon's log
 *   HOME/admin-token   the first admin's token for team mode (0600)
 *   HOME/meta/         LMDB metadata
 *   HOME/pool/         volumes and snapshots (unless --pool says otherwise)
 *   HOME/run/          per-container runtime files (sockets, pg_hba.conf, logs)
 */
export function resolveHome(flag?: string): string {
  const raw = flag || process.env.SLIPSTREAM_HOME || path.join(os.homedir(), '.slipstream');
  return path.resolve(raw);
}

export const homeFiles = (home: string) => ({
  socket: path.join(home, 'engine.sock'),
  lock: path.join(home, 'engine.lock'),
  log: path.join(home, 'engine.log'),
  adminToken: path.join(home, 'admin-token'),
  meta: path.join(home, 'meta'),
  pool: path.join(home, 'pool'),
  run: path.join(home, 'run'),
  settings: path.join(home, 'settings.json'),
});

/** A root engine runs PostgreSQL as an unprivileged user, which must pass through
 *  the home (and any parent made for it) to reach the pool: 0711 lets it pass
 *  without listing. Anyone else's home is private. */
export function homeDirMode(): number {
  return process.getuid?.() === 0 ? 0o711 : 0o700;
}
