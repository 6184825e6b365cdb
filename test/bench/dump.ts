/**
 * The logical peer: pg_dump plus pg_restore with Debian's PostgreSQL 15 tools
 * against a PostgreSQL 15 server holding the same data (the embedded 18 ships
 * no pg_dump, and a 15 pg_dump refuses an 18 server). Custom format, one job:
 * the way most people do it. It runs on the ordinary file system only, since
 * it copies rows, not files, and file-system cloning cannot help it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { seedStatements, type Dataset } from './dataset';
import { exec, timed } from './exec';
import { PG15_BIN, PgCluster } from './pgCluster';
import { repeat, type Summary } from './stats';

export function pg15Missing(): string | undefined {
  for (const tool of ['initdb', 'pg_ctl', 'pg_dump', 'pg_restore']) {
    if (!fs.existsSync(path.join(PG15_BIN, tool))) return `Debian's PostgreSQL 15 ${tool} is not at ${PG15_BIN} (apt-get install postgresql-15)`;
  }
  return undefined;
}

export async function measureDump(workDir: string, ds: Dataset, runs: number): Promise<Summary> {
  const dir = path.join(workDir, `pg15-${ds.name}`);
  await fs.promises.mkdir(dir);
  await fs.promises.chmod(dir, 0o755);
  const pg = await PgCluster.at(PG15_BIN, path.join(dir, 'data'));
  await pg.initdb();
  await pg.start();
  await pg.sql(seedStatements(ds));
  const file = path.join(dir, 'dump');
  const tool = (name: string, args: string[]) => exec(path.join(PG15_BIN, name), [...pg.connArgs, ...args]);
  const s = await repeat(runs, async () => undefined, (i) => timed(async () => {
    await tool('pg_dump', ['-Fc', '-f', file, 'postgres']);
    await pg.sql([`CREATE DATABASE restored_${i}`]);
    await tool('pg_restore', ['--no-owner', '-d', `restored_${i}`, file]);
  }).finally(() => pg.sql([`DROP DATABASE IF EXISTS restored_${i}`]).then(() => fs.promises.rm(file, { force: true }))));
  await pg.stop();
  await fs.promises.rm(dir, { recursive: true, force: true });
  return s;
}
