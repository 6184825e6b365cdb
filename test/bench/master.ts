/**
 * One stopped PostgreSQL 18 data directory per dataset, seeded with the same
 * SQL as the engine's template. The peers start from copies of it; its size is
 * what "one full copy" means in the storage figures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { seedStatements, type Dataset } from './dataset';
import { timed } from './exec';
import { PG18_BIN, PgCluster } from './pgCluster';
import { allocatedBytes } from './sites';

export interface Master {
  ds: Dataset;
  dataDir: string;
  /** Allocated bytes of the whole data directory (one full copy). */
  copyBytes: number;
  /** pg_database_size of the seeded database. */
  dbBytes: number;
  seedSeconds: number;
}

export async function buildMaster(workDir: string, ds: Dataset): Promise<Master> {
  const dir = path.join(workDir, `master-${ds.name}`);
  await fs.promises.mkdir(dir);
  await fs.promises.chmod(dir, 0o755);
  const dataDir = path.join(dir, 'data');
  const pg = await PgCluster.at(PG18_BIN, dataDir);
  await pg.initdb();
  await pg.start();
  const seedSeconds = await timed(() => pg.sql(seedStatements(ds)));
  const dbBytes = Number(await pg.scalar(`SELECT pg_database_size('postgres')`));
  await pg.stop();
  return { ds, dataDir, copyBytes: await allocatedBytes(dataDir), dbBytes, seedSeconds };
}
