/** server/common/hooks.ts and slipstream.json's "hooks": the parser the CLI and the extension share, the
 *  hooks' environment, and running them with a real shell (issue 14). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { hookEnvironment, hookEvent, hookFailureMessage, NO_HOOKS, parseHooks, runHooks } from '../../server/common/hooks';
import { findWorkspaceConfig, parseWorkspaceConfig, readWorkspaceConfig } from '../../server/common/workspaceConfig';
import type { ContainerInfo } from '../../server/protocol';

test('hooks: a command or a list per event; none is fine', () => {
  assert.deepEqual(parseHooks(undefined), NO_HOOKS);
  assert.deepEqual(parseHooks({}), NO_HOOKS);
  assert.deepEqual(parseHooks({ afterSwitch: 'docker compose restart app', afterRestore: ['a', 'b'] }),
    { switch: ['docker compose restart app'], restore: ['a', 'b'], refresh: [] });
  assert.deepEqual(parseHooks({ afterRefresh: [] }), NO_HOOKS);
});

test('hooks: a wrong type or an unknown key is refused, naming the key', () => {
  const cases: Array<[unknown, RegExp]> = [
    [['x'], /^"hooks" must be an object with "afterSwitch", "afterRestore", "afterRefresh"$/],
    ['x', /^"hooks" must be an object/],
    [{ afterSwitch: 3 }, /^"hooks\.afterSwitch" must be a command or a list of commands \(strings\), not a number$/],
    [{ afterRestore: ['ok', 4] }, /^"hooks\.afterRestore" must be .* not a list with something other than strings in it$/],
    [{ afterRefresh: null }, /^"hooks\.afterRefresh" .* not null$/],
    [{ afterSwitch: ['  '] }, /^"hooks\.afterSwitch" has an empty command$/],
    [{ afterswitch: 'x' }, /^"hooks\.afterswitch" is not a hook; the hooks are "afterSwitch", "afterRestore", "afterRefresh"$/],
    [{ afterReset: 'x' }, /^"hooks\.afterReset" is not a hook/],
  ];
  for (const [raw, why] of cases) {
    const parsed = parseHooks(raw);
    assert.ok('error' in parsed, JSON.stringify(raw));
    assert.match(parsed.error, why);
  }
});

test('slipstream.json: hooks parse with the rest, and a bad one refuses the whole file, naming it', () => {
  const ok = parseWorkspaceConfig(JSON.stringify({ template: 't', hooks: { afterSwitch: 'make restart' } }), '/repo');
  assert.deepEqual(ok.ok && ok.config.hooks, { switch: ['make restart'], restore: [], refresh: [] });
  const bad = parseWorkspaceConfig(JSON.stringify({ template: 't', hooks: { afterSwitch: true } }), '/repo', '/repo/slipstream.json');
  assert.equal(bad.ok, false);
  assert.equal(bad.ok ? '' : bad.message, '/repo/slipstream.json: "hooks.afterSwitch" must be a command or a list of commands (strings), not a boolean');
});

test('slipstream.json is found from a folder upward, the nearest first', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-find-'));
  try {
    const deep = path.join(root, 'repo', 'src', 'app');
    fs.mkdirSync(deep, { recursive: true });
    assert.equal(findWorkspaceConfig(deep), undefined);
    fs.writeFileSync(path.join(root, 'repo', 'slipstream.json'), '{"template":"t","hooks":{"afterRestore":"x"}}');
    assert.equal(findWorkspaceConfig(deep), path.join(root, 'repo', 'slipstream.json'));
    fs.writeFileSync(path.join(root, 'repo', 'src', 'slipstream.json'), '{"template":3}');
    const nearest = findWorkspaceConfig(deep)!;
    assert.equal(nearest, path.join(root, 'repo', 'src', 'slipstream.json'));
    const read = readWorkspaceConfig(nearest);
    assert.equal(read.ok, false);
    assert.match(read.ok ? '' : read.message, new RegExp(`^${nearest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: "template"`));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

const container: ContainerInfo = {
  id: 'c1', name: 'dev', template: 'employees', templateVersion: 3, owner: 'me', host: '127.0.0.1', port: 25432,
  database: 'employees', user: 'slip user', driver: 'reflink', activeBranch: 'feature-x', branches: 2, state: 'running',
  createdAt: '2026-01-01T00:00:00Z',
};

test('the environment says what happened, with no password; reset counts as a restore', () => {
  assert.equal(hookEvent('reset'), 'restore');
  assert.equal(hookEvent('activate'), 'switch');
  const env = hookEnvironment({ operation: 'reset', container });
  assert.deepEqual(env, {
    SLIPSTREAM_EVENT: 'restore', SLIPSTREAM_OPERATION: 'reset', SLIPSTREAM_CONTAINER: 'dev', SLIPSTREAM_BRANCH: 'feature-x',
    SLIPSTREAM_TEMPLATE: 'employees', SLIPSTREAM_TEMPLATE_VERSION: '3', SLIPSTREAM_HOST: '127.0.0.1', SLIPSTREAM_PORT: '25432',
    SLIPSTREAM_DATABASE: 'employees', SLIPSTREAM_USER: 'slip user', SLIPSTREAM_DATABASE_URL: 'postgresql://slip%20user@127.0.0.1:25432/employees',
  });
  assert.equal(hookEnvironment({ operation: 'restore', container, bookmark: 'bm_1' }).SLIPSTREAM_BOOKMARK, 'bm_1');
  assert.equal(hookEnvironment({ operation: 'activate', container: { ...container, host: '::1' } }).SLIPSTREAM_DATABASE_URL,
    'postgresql://slip%20user@[::1]:25432/employees');
});

test('hooks run in order with a real shell, in their folder, and stop at the first failure', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-run-'));
  try {
    let out = '';
    let err = '';
    const started: string[] = [];
    const options = {
      cwd: dir, env: { ...process.env, SLIPSTREAM_BRANCH: 'b1' },
      stdout: (c: string) => { out += c; }, stderr: (c: string) => { err += c; }, onStart: (c: string) => started.push(c),
    };
    assert.deepEqual(await runHooks(['echo "on $SLIPSTREAM_BRANCH" > first.txt', 'echo out; echo err >&2'], options), { ok: true, ran: 2 });
    assert.equal(fs.readFileSync(path.join(dir, 'first.txt'), 'utf8'), 'on b1\n');
    assert.equal(out, 'out\n');
    assert.equal(err, 'err\n');
    const failed = await runHooks(['true', 'exit 3', 'touch never.txt'], options);
    assert.deepEqual(failed, { ok: false, command: 'exit 3', exit: 'exit code 3', skipped: 1 });
    assert.equal(fs.existsSync(path.join(dir, 'never.txt')), false, 'a hook after a failed one does not run');
    assert.deepEqual(started, ['echo "on $SLIPSTREAM_BRANCH" > first.txt', 'echo out; echo err >&2', 'true', 'exit 3']);
    if (!failed.ok) {
      assert.equal(hookFailureMessage({ operation: 'restore', container }, failed),
        'the afterRestore hook "exit 3" failed (exit code 3) (1 later hook was not run); the restore of branch feature-x of container dev stands: it is done and was not undone');
    }
    const controller = new AbortController();
    const slow = runHooks(['sleep 30'], { ...options, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    assert.deepEqual(await slow, { ok: false, command: 'sleep 30', exit: 'cancelled', skipped: 0 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
