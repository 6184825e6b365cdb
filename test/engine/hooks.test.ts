import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { BranchInfo, ConnectionInfo, ContainerInfo, TimelinePage } from '../../server/protocol';
import { CLI, FIXTURES, TestEngine } from '../support/engine';

/**
 * Tracker issue 14, "Hooks for the application": `--hooks` runs slipstream.json's
 * commands after a switch, restore or refresh, in the user's shell, through the
 * real CLI and a real engine. A hook learns what happened from its environment;
 * a failed hook is reported and the change stands; a wrong slipstream.json is
 * refused before anything changes.
 */
let e: TestEngine;
let tmp: string;

/** A repository folder with this slipstream.json, and a subfolder to run the CLI from. */
function repo(name: string, config: unknown): { dir: string; sub: string } {
  const dir = path.join(tmp, name);
  const sub = path.join(dir, 'src', 'app');
  fs.mkdirSync(sub, { recursive: true });
  fs.writeFileSync(path.join(dir, 'slipstream.json'), JSON.stringify(config, null, 2));
  return { dir, sub };
}

/** What a hook wrote with `env | grep ^SLIPSTREAM_ > FILE`, as a record, without SLIPSTREAM_HOME:
 *  the test's own environment, which a hook inherits like the rest of the user's. */
function envFile(file: string): Record<string, string> {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('SLIPSTREAM_HOME='));
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

const dump = (file: string) => `env | grep '^SLIPSTREAM_' > ${file}`;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-hooks-'));
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'app', '--template', 'employees');
  e.ok('bookmark', 'create', 'base', '--container', 'app');
  e.ok('branch', 'create', 'feature', '--container', 'app');
});
after(async () => {
  await e?.destroy();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('1. a switch with --hooks runs afterSwitch in slipstream.json\'s folder, found from a subfolder, and tells it what happened', () => {
  const { dir, sub } = repo('switch', { template: 'employees', container: 'app', hooks: { afterSwitch: [dump('switch.env'), 'echo restarted the app'] } });
  const r = e.cliIn(sub, 'branch', 'activate', 'feature', '--container', 'app', '--hooks');
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.json as BranchInfo).name, 'feature', 'stdout is still one JSON document: the result');
  assert.match(r.stderr, /afterSwitch hook: echo restarted the app\nrestarted the app\n/, 'with --json the hooks\' output goes to stderr');
  const c = e.ok<ContainerInfo>('container', 'show', 'app');
  const { password } = e.ok<ConnectionInfo>('container', 'url', 'app');
  const env = envFile(path.join(dir, 'switch.env'));
  assert.deepEqual(env, {
    SLIPSTREAM_EVENT: 'switch', SLIPSTREAM_OPERATION: 'activate', SLIPSTREAM_CONTAINER: 'app', SLIPSTREAM_BRANCH: 'feature',
    SLIPSTREAM_TEMPLATE: 'employees', SLIPSTREAM_TEMPLATE_VERSION: String(c.templateVersion), SLIPSTREAM_HOST: c.host,
    SLIPSTREAM_PORT: String(c.port), SLIPSTREAM_DATABASE: c.database, SLIPSTREAM_USER: c.user,
    SLIPSTREAM_DATABASE_URL: `postgresql://${c.user}@${c.host}:${c.port}/${c.database}`,
  });
  assert.ok(!fs.readFileSync(path.join(dir, 'switch.env'), 'utf8').includes(password), 'no password in the hooks\' environment');

  // branch create --activate is a switch too; without --hooks nothing runs.
  fs.rmSync(path.join(dir, 'switch.env'));
  e.ok('branch', 'activate', 'main', '--container', 'app');
  assert.equal(fs.existsSync(path.join(dir, 'switch.env')), false, 'no --hooks, no hooks');
  const created = e.cliIn(sub, 'branch', 'create', 'second', '--container', 'app', '--activate', '--hooks');
  assert.equal(created.code, 0, created.stderr);
  assert.equal(envFile(path.join(dir, 'switch.env')).SLIPSTREAM_BRANCH, 'second');
  e.ok('branch', 'activate', 'main', '--container', 'app');
});

test('2. restore and reset run afterRestore; the output streams after the result, in order', async () => {
  const { dir, sub } = repo('restore', { template: 'employees', container: 'app', hooks: { afterRestore: [dump('restore.env'), 'echo hook says hi'] } });
  await e.sql('app', `INSERT INTO employees (first_name, last_name) VALUES ('Gone', 'soon')`);
  const human = spawnSync(process.execPath, [CLI, '--home', e.home, 'restore', 'base', '--container', 'app', '--hooks'],
    { cwd: sub, encoding: 'utf8', env: { ...process.env, SLIPSTREAM_HOME: '' }, timeout: 300_000 });
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /^restored bookmark base into branch main of container app\nhook says hi\n$/, 'the result first, then the hook\'s output');
  assert.match(human.stderr, /slipstream: afterRestore hook: env \| grep/);
  const restored = envFile(path.join(dir, 'restore.env'));
  assert.equal(restored.SLIPSTREAM_EVENT, 'restore');
  assert.equal(restored.SLIPSTREAM_OPERATION, 'restore');
  assert.equal(restored.SLIPSTREAM_BOOKMARK, 'base', 'the bookmark as the command named it');
  assert.equal(restored.SLIPSTREAM_BRANCH, 'main');

  const reset = e.cliIn(sub, 'reset', '--container', 'app', '--hooks');
  assert.equal(reset.code, 0, reset.stderr);
  const afterReset = envFile(path.join(dir, 'restore.env'));
  assert.equal(afterReset.SLIPSTREAM_EVENT, 'restore', 'a reset runs the afterRestore hooks');
  assert.equal(afterReset.SLIPSTREAM_OPERATION, 'reset');
  assert.equal(afterReset.SLIPSTREAM_BOOKMARK, undefined);

  // No hooks for the event: nothing runs, and stderr says so.
  const none = e.cliIn(sub, 'branch', 'activate', 'feature', '--container', 'app', '--hooks');
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stderr, /slipstream\.json has no "afterSwitch" hooks; none were run/);
  e.ok('branch', 'activate', 'main', '--container', 'app');
});

test('3. a failing hook: exit 1 with a message naming it, the later hooks skipped, and the restore done', async () => {
  const { dir, sub } = repo('failing', { template: 'employees', container: 'app', hooks: { afterRestore: ['echo starting', 'exit 7', 'touch never.txt'] } });
  await e.sql('app', `INSERT INTO employees (first_name, last_name) VALUES ('Gone', 'soon')`);
  const r = e.cliIn(sub, 'restore', 'base', '--container', 'app', '--hooks');
  assert.equal(r.code, 1);
  const doc = r.json as { error: { code: string; message: string }; result: BranchInfo };
  assert.equal(doc.error.code, 'HookFailed');
  assert.equal(doc.error.message, 'the afterRestore hook "exit 7" failed (exit code 7) (1 later hook was not run); '
    + 'the restore of branch main of container app stands: it is done and was not undone');
  assert.equal(doc.result.name, 'main', 'the JSON document carries the result of the change that stands');
  assert.match(r.stderr, /^slipstream: the afterRestore hook "exit 7" failed/m);
  assert.equal(fs.existsSync(path.join(dir, 'never.txt')), false);
  const rows = await e.sql<{ n: string }>('app', `SELECT count(*) AS n FROM employees WHERE first_name = 'Gone'`);
  assert.equal(rows[0]!.n, '0', 'the restore is done: the row added after the bookmark is gone');
  const last = e.ok<TimelinePage>('timeline', '--container', 'app').events[0]!; // newest first
  assert.equal(last.kind, 'restored');

  // Without --json: the message on stderr, exit 1.
  const human = spawnSync(process.execPath, [CLI, '--home', e.home, 'reset', '--container', 'app', '--hooks'],
    { cwd: sub, encoding: 'utf8', env: { ...process.env, SLIPSTREAM_HOME: '' }, timeout: 300_000 });
  assert.equal(human.status, 1);
  assert.match(human.stdout, /^reset branch main of container app: changes since the last operation are gone\nstarting\n$/);
  assert.match(human.stderr, /slipstream: the afterRestore hook "exit 7" failed \(exit code 7\) \(1 later hook was not run\); the reset of branch main of container app stands/);
});

test('4. a wrong slipstream.json, or none, is refused before anything changes', async () => {
  await e.sql('app', `INSERT INTO employees (first_name, last_name) VALUES ('Kept', 'row')`);
  const before = JSON.stringify([e.ok<TimelinePage>('timeline', '--container', 'app').events.length, await e.checksum('app'), e.ok<ContainerInfo>('container', 'show', 'app').activeBranch]);
  const bad: Array<[unknown, string, RegExp]> = [
    [{ template: 'employees', hooks: { afterRestore: 5 } }, 'restore', /"hooks\.afterRestore" must be a command or a list of commands \(strings\), not a number\. Nothing was changed\.$/],
    [{ template: 'employees', hooks: { afterRestore: ['ok', false] } }, 'restore', /"hooks\.afterRestore" must be .*not a list with something other than strings in it/],
    [{ template: 'employees', hooks: { onRestore: 'x' } }, 'restore', /"hooks\.onRestore" is not a hook; the hooks are "afterSwitch", "afterRestore", "afterRefresh"/],
    [{ template: 'employees', hooks: 'restart' }, 'switch', /"hooks" must be an object/],
    [{ template: 7, hooks: { afterSwitch: 'x' } }, 'switch', /"template" must be a template name/],
  ];
  for (const [i, [config, op, why]] of bad.entries()) {
    const { dir, sub } = repo(`bad-${i}`, config);
    const args = op === 'restore' ? ['restore', 'base', '--container', 'app', '--hooks'] : ['branch', 'activate', 'feature', '--container', 'app', '--hooks'];
    const r = e.cliIn(sub, ...args);
    assert.equal(r.code, 1, `${JSON.stringify(config)}: ${r.stderr}`);
    const error = (r.json as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'InvalidArgument');
    assert.ok(error.message.startsWith(`${path.join(dir, 'slipstream.json')}: `), `names the file: ${error.message}`);
    assert.match(error.message, why);
  }
  const nowhere = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-nojson-'));
  const r = e.cliIn(nowhere, 'restore', 'base', '--container', 'app', '--hooks');
  fs.rmSync(nowhere, { recursive: true });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--hooks: there is no slipstream\.json in .*slip-nojson-.* or a folder above it; nothing was changed/);
  const after = JSON.stringify([e.ok<TimelinePage>('timeline', '--container', 'app').events.length, await e.checksum('app'), e.ok<ContainerInfo>('container', 'show', 'app').activeBranch]);
  assert.equal(after, before, 'no restore, no switch: the data and the timeline are as they were');
});

test('5. refresh runs afterRefresh with the new template version', () => {
  const { dir, sub } = repo('refresh', { template: 'employees', container: 'app', hooks: { afterRefresh: dump('refresh.env') } });
  e.ok('template', 'refresh', 'employees');
  const r = e.cliIn(sub, 'refresh', '--container', 'app', '--hooks');
  assert.equal(r.code, 0, r.stderr);
  const env = envFile(path.join(dir, 'refresh.env'));
  assert.equal(env.SLIPSTREAM_EVENT, 'refresh');
  assert.equal(env.SLIPSTREAM_TEMPLATE_VERSION, String((r.json as ContainerInfo).templateVersion));
  assert.equal(env.SLIPSTREAM_TEMPLATE_VERSION, '2');
});
