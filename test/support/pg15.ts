import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import { ephemeralPort as freePort } from '../../server/engine/ports';

/** Debian's PostgreSQL 15, started by a test as "production": the source of a
 *  template made from a live database. */
export const PG15_BIN = '/usr/lib/postgresql/15/bin';

export interface LivePostgres {
  url: string;
  sql(text: string): Promise<unknown[]>;
  stop(): void;
}

export function pg15Missing(): string | undefined {
  if (!fs.existsSync(path.join(PG15_BIN, 'pg_ctl'))) return `Debian's PostgreSQL 15 is not installed at ${PG15_BIN} (apt-get install postgresql-15)`;
  return undefined;
}

export async function startPg15(password = 'prod-secret'): Promise<LivePostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-pg15-'));
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? { uid: 65534, gid: 65534 } : undefined; // nobody: PostgreSQL refuses root
  const pwfile = path.join(dir, 'pw');
  fs.writeFileSync(pwfile, password);
  if (user) { fs.chownSync(dir, user.uid, user.gid); fs.chownSync(pwfile, user.uid, user.gid); }
  const run = (bin: string, args: string[]) =>
    execFileSync(path.join(PG15_BIN, bin), args, { ...(user ?? {}), stdio: 'pipe', cwd: dir });
  run('initdb', ['-D', `${dir}/data`, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--no-sync']);
  const port = await freePort();
  run('pg_ctl', ['start', '-w', '-D', `${dir}/data`, '-l', `${dir}/log`, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`]);
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    async sql(text: string) {
      const c = new Client({ connectionString: url });
      await c.connect();
      try { return (await c.query(text)).rows; } finally { await c.end(); }
    },
    stop() {
      try { run('pg_ctl', ['stop', '-m', 'immediate', '-D', `${dir}/data`]); } catch { /* already stopped */ }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

