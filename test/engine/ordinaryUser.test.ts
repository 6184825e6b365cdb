/**
 * Most people run the engine as themselves, not as root. CI runs as root, so this
 * suite makes an ordinary OS user (useradd) and runs the real CLI and engine as it
 * (runuser): story 1 on the blocks driver, with every table compared by checksum and
 * amcheck after the restore, and the engine's files checked to be that user's.
 * Without root there is nobody to switch to: then the whole suite already runs as an
 * ordinary user, and this file says so and skips.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { BookmarkInfo, ConnectionInfo, ContainerInfo, EngineStatus } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { CLI, CliRunner, FIXTURES, type CliResult } from '../support/engine';
import { checksumAt, sqlAt } from '../support/team';

const USER = 'slipstream-laptop';

function why(): string | false {
  if (process.getuid?.() !== 0) return 'the engine already runs as an ordinary user in every other suite here (this one switches from root to one)';
  if (spawnSync('runuser', ['--help']).error) return 'runuser (util-linux) is missing';
  return false;
}
const SKIP = why();

/** The real CLI, run as the ordinary user with a home of its own. */
class AsUser extends CliRunner {
  constructor(readonly home: string) {
    super();
  }

  protected override who(): string {
    return ` (as ${USER})`;
  }

  cli(...args: string[]): CliResult {
    const r = spawnSync('runuser', ['-u', USER, '--', process.execPath, CLI, '--home', this.home, '--json', ...args], {
      encoding: 'utf8', timeout: 300_000, cwd: path.dirname(this.home), env: { ...process.env, SLIPSTREAM_HOME: '', SLIPSTREAM_ENGINE: '', HOME: this.home },
    });
    let json: unknown;
    try { json = JSON.parse(r.stdout); } catch { json = undefined; }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }
}

let dir = '';
let me: AsUser;

before(() => {
  if (SKIP) return;
  if (spawnSync('id', ['-u', USER]).status !== 0) {
    const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', USER], { encoding: 'utf8' });
    assert.equal(r.status, 0, `useradd: ${r.stderr}`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-laptop-'));
  fs.chmodSync(dir, 0o755);
  const uid = Number(spawnSync('id', ['-u', USER], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', USER], { encoding: 'utf8' }).stdout);
  fs.copyFileSync(path.join(FIXTURES, 'employees.sql'), path.join(dir, 'employees.sql'));
  fs.chownSync(dir, uid, gid);
  fs.chownSync(path.join(dir, 'employees.sql'), uid, gid);
  me = new AsUser(path.join(dir, 'home'));
  const reach = me.cli('--help');
  assert.equal(reach.code, 0, `${USER} cannot run ${CLI}: ${reach.stderr}`);
});
after(() => {
  if (SKIP || !me) return;
  me.cli('engine', 'stop');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('story 1 with the engine run by an ordinary user: blocks driver, data intact after the restore', { skip: SKIP }, async () => {
  me.ok('engine', 'start', '--driver', 'auto');
  const status = me.ok<EngineStatus>('engine', 'status');
  assert.equal(status.driver, 'blocks', 'no root: no btrfs, and /tmp has no reflink here');
  me.ok('template', 'create', 'employees', '--sql', path.join(dir, 'employees.sql'));
  me.ok<ContainerInfo>('container', 'create', 'qa', '--template', 'employees');
  const { url } = me.ok<ConnectionInfo>('container', 'url', 'qa');
  await sqlAt(url, `INSERT INTO employees (first_name, last_name) VALUES ('-1', 'deleted'), ('''', '')`);
  const before = await checksumAt(url);
  me.ok<BookmarkInfo>('bookmark', 'create', 'after edge case data', '--container', 'qa');
  await sqlAt(url, 'DELETE FROM employees');
  assert.notEqual(await checksumAt(url), before);
  me.ok('restore', 'after edge case data', '--container', 'qa');
  assert.equal(await checksumAt(url), before, 'every row is back');
  const check = await amcheck(url);
  assert.deepEqual(check.problems, []);
  assert.ok(check.heaps > 0 && check.indexes > 0);
  // Everything the engine made is the user's own, and its database runs as it.
  const uid = Number(spawnSync('id', ['-u', USER], { encoding: 'utf8' }).stdout);
  for (const p of [me.home, path.join(me.home, 'engine.sock'), status.pool]) assert.equal(fs.statSync(p).uid, uid, `${p} is ${USER}'s`);
  const data = (await sqlAt(url, `SELECT current_setting('data_directory') AS d`))[0].d as string;
  assert.equal(fs.statSync(data).uid, uid, 'the database runs as the same user');
});
