import type { ConnectionInfo } from '../../server/protocol';

/** The variables a terminal needs to reach a container's database; libpq reads the PG* ones, most apps DATABASE_URL. */
export function databaseEnv(conn: ConnectionInfo): Record<string, string> {
  return {
    DATABASE_URL: conn.url,
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGPASSWORD: conn.password,
    PGDATABASE: conn.database,
  };
}

export const DATABASE_ENV_NAMES = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE'] as const;
