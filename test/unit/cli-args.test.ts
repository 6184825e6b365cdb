/** Pure command-line parsing: no engine, no files, no network. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import {
  commandHelp,
  parseCommandLine,
  topHelp,
  visibleCommandIds,
  type CommandArgs,
  type CommandId,
  type ParseOutcome,
} from '../../server/cli/args';
import { formatImageSize, parsePoolImageSize } from '../../server/common/poolImage';

const cwd = path.resolve('/tmp/project');
const parse = (line: string, env: Record<string, string> = {}): ParseOutcome =>
  parseCommandLine(line.split(' ').filter(Boolean), { cwd, env });

function run<K extends CommandId>(line: string, id: K): CommandArgs[K] {
  const out = parse(line);
  if (out.kind !== 'run') assert.fail(`expected '${line}' to parse, got ${JSON.stringify(out)}`);
  assert.equal(out.command.id, id);
  return out.command.args as CommandArgs[K];
}

function usageError(line: string, pattern: RegExp): void {
  const out = parse(line);
  if (out.kind !== 'error') assert.fail(`expected '${line}' to be a usage error, got ${JSON.stringify(out)}`);
  assert.match(out.message, pattern);
  assert.match(out.hint, /--help/);
  assert.doesNotMatch(out.message, /\n/);
}

test('exit-2 cases are usage errors with a one-line message and a --help hint', () => {
  usageError('frobnicate', /unknown command 'frobnicate'/);
  usageError('template frobnicate', /unknown template command 'frobnicate'/);
  usageError('template list --bogus', /unknown option '--bogus'/);
  usageError('--bogus template list', /unknown option '--bogus'/);
  usageError('container show', /missing NAME/);
  usageError('container show a b', /unexpected argument 'b'/);
  usageError('container create dev', /missing --template T/);
  usageError('container create dev --template t --port 80x', /--port must be an integer/);
  usageError('container create dev --template t --port 70000', /--port must be an integer/);
  usageError('container create dev --template t --port', /argument missing/);
  usageError('branch list', /missing --container C/);
  usageError('template create t', /needs a source/);
  usageError('template create t --empty --dump x.dump', /one source, not 2/);
  usageError('engine start --driver zfs', /--driver must be one of/);
  usageError('bookmark tag b1', /--add T or --remove T/);
  usageError('--engine http://x template list', /tcp:\/\/HOST:PORT/);
  usageError('--home', /option '--home' needs a value/);
});

test('a negative number after an option is its value, out of range, not an "ambiguous" argument (issue 10)', () => {
  usageError('bookmark list --limit -1', /: --limit must be an integer from 1 to 10000, not '-1'$/);
  usageError('bookmark list --limit -0', /--limit must be an integer from 1 to 10000, not '-0'/);
  usageError('timeline --container c --limit -5', /--limit must be an integer from 1 to 100000, not '-5'/);
  usageError('timeline --container c --before -5', /--before must be an integer from 1 to 9007199254740991, not '-5'/);
  usageError('timeline --container c --before 12a', /--before must be an integer from 1 to 9007199254740991, not '12a'/);
  usageError('container create dev --template t --port -80', /--port must be an integer from 1024 to 65535, not '-80'/);
  usageError('bookmark list --limit -1.5', /--limit must be an integer from 1 to 10000, not '-1.5'/);
  // Other dashes still mean options: a flag where a value belongs is still caught.
  usageError('bookmark list --limit --shared', /ambiguous|needs a value|argument missing/);
  assert.equal(run('bookmark list --limit 5', 'bookmark list').limit, 5);
});

test('a usage error hint names the command whose help to read', () => {
  const out = parse('branch create');
  assert.equal(out.kind, 'error');
  if (out.kind === 'error') assert.equal(out.hint, "Run 'slipstream branch create --help' for usage.");
});

test('--from-* starting points conflict; none means the active branch, which the engine resolves (issue 14)', () => {
  usageError('branch create b --container c --from-bookmark bm --from-branch main', /--from-bookmark and --from-branch cannot be used together: give one starting point/);
  usageError('branch create b --container c --from-branch main --from-template', /--from-branch and --from-template cannot be used together/);
  assert.deepEqual(run('branch create b --container c', 'branch create'), { container: 'c', name: 'b' }, 'no from: the active branch');
  assert.deepEqual(run('branch create b --container c --from-template', 'branch create').from, { kind: 'template' });
  assert.match(commandHelp('branch create'), /Without --from-branch, --from-bookmark or --from-template the branch starts from the active branch's current data/);
  assert.deepEqual(run('branch create b --container c --from-bookmark bm', 'branch create').from, { kind: 'bookmark', bookmark: 'bm' });
  const args = run('branch create b --container c --from-branch main --activate', 'branch create');
  assert.deepEqual(args, { container: 'c', name: 'b', from: { kind: 'branch', branch: 'main' }, activate: true });
});

test('--sql takes several files, repeated or listed, as absolute paths', () => {
  const listed = run('template create shop --sql a.sql b.sql', 'template create');
  assert.deepEqual(listed.source, { kind: 'sql', files: [path.join(cwd, 'a.sql'), path.join(cwd, 'b.sql')] });
  const repeated = run('template create shop --sql a.sql --sql /abs/b.sql c.sql', 'template create');
  assert.deepEqual(repeated.source, { kind: 'sql', files: [path.join(cwd, 'a.sql'), '/abs/b.sql', path.join(cwd, 'c.sql')] });
  assert.equal(repeated.name, 'shop');
  usageError('template create --sql a.sql shop', /missing NAME \(put NAME before --sql\)/);
});

test('template sources: --command carries the cwd, --dump is absolute', () => {
  const cmd = parseCommandLine(['template', 'create', 't', '--command', 'npm run seed'], { cwd, env: {} });
  assert.equal(cmd.kind, 'run');
  if (cmd.kind === 'run' && cmd.command.id === 'template create') {
    assert.deepEqual(cmd.command.args.source, { kind: 'command', command: 'npm run seed', cwd });
  }
  assert.deepEqual(run('template create t --dump db.dump', 'template create').source, { kind: 'dump', file: path.join(cwd, 'db.dump') });
  assert.deepEqual(run('template create t --empty', 'template create').source, { kind: 'empty' });
});

test('--tag repeats; --note, --share and --git-* overrides are kept', () => {
  const args = run('bookmark create bm --container dev --tag a --tag b --share --git-branch feat --git-commit abc123', 'bookmark create');
  assert.deepEqual(args.params, { container: 'dev', name: 'bm', tags: ['a', 'b'], share: true });
  assert.deepEqual(args.git, { branch: 'feat', commit: 'abc123' });
  const note = parseCommandLine(['bookmark', 'create', 'bm', '--container', 'dev', '--note', 'after edge case data'], { cwd, env: {} });
  assert.ok(note.kind === 'run' && note.command.id === 'bookmark create' && note.command.args.params.note === 'after edge case data');
});

test('bookmark tag: --add and --remove take repeated or listed tags', () => {
  const args = run('bookmark tag bm --add x y --remove z --add w', 'bookmark tag');
  assert.deepEqual(args, { bookmark: 'bm', add: ['x', 'y', 'w'], remove: ['z'] });
});

test('global flags go before or after the command; env supplies the engine', () => {
  const before = parse('--home /h --json container list');
  const after = parse('container list --json --home=/h');
  for (const out of [before, after]) {
    assert.equal(out.kind, 'run');
    if (out.kind === 'run') assert.deepEqual(out.globals, { home: '/h', json: true, target: { kind: 'local' } });
  }
  const tcp = parse('container list', { SLIPSTREAM_ENGINE: 'tcp://host:7000', SLIPSTREAM_TOKEN: 't0k' });
  assert.ok(tcp.kind === 'run');
  if (tcp.kind === 'run') assert.deepEqual(tcp.globals.target, { kind: 'tcp', url: 'tcp://host:7000', token: 't0k' });
});

test('--home beats SLIPSTREAM_ENGINE (a flag beats the environment); --home with --engine is refused (issue 10)', () => {
  const env = { SLIPSTREAM_ENGINE: 'tcp://host:7000', SLIPSTREAM_TOKEN: 't0k' };
  const local = parse('--home /h container list', env);
  assert.ok(local.kind === 'run', JSON.stringify(local));
  if (local.kind === 'run') {
    assert.deepEqual(local.globals, { home: '/h', json: false, target: { kind: 'local' }, warnings: [
      'warning: --home /h wins over SLIPSTREAM_ENGINE=tcp://host:7000: using the local engine of /h. To use the team engine, drop --home; to silence this, unset SLIPSTREAM_ENGINE.',
    ] }, 'it says which one wins (issue 14)');
  }
  const secret = parse('--home /h container list', { SLIPSTREAM_ENGINE: 'tcp://me:hunter2@host:7000' });
  assert.ok(secret.kind === 'run' && !secret.globals.warnings?.[0].includes('hunter2'), 'the warning shows no password');
  const quiet = parse('--home /h container list', {});
  assert.ok(quiet.kind === 'run' && quiet.globals.warnings === undefined, 'no warning without SLIPSTREAM_ENGINE');
  usageError('--home /h --engine tcp://host:7000 container list', /--home .* and --engine .*: give one of them, not both/);
  const flag = parse('--engine tcp://other:7001 container list', env);
  assert.ok(flag.kind === 'run' && flag.globals.target.kind === 'tcp' && flag.globals.target.url === 'tcp://other:7001');
});

test('--engine, SLIPSTREAM_ENGINE and --listen use the shared address rules: canonical URL, clear errors (issue 14)', () => {
  const upper = parse('--engine TCP://Team.Example:7370/ container list', { SLIPSTREAM_TOKEN: 't' });
  assert.ok(upper.kind === 'run' && upper.globals.target.kind === 'tcp' && upper.globals.target.url === 'tcp://team.example:7370', JSON.stringify(upper));
  usageError('--engine tcp://host:0 container list', /: --engine: "tcp:\/\/host:0" is not an engine URL: port 0 is out of range \(1 to 65535\)\. Use tcp:\/\/HOST:PORT/);
  usageError('--engine tcp://host:99999 container list', /port 99999 is out of range/);
  usageError('--engine tcp://host:7370/path container list', /it has a path, query or fragment/);
  usageError('--engine tcp://::1:7370 container list', /an IPv6 address goes in brackets/);
  const fromEnv = parse('container list', { SLIPSTREAM_ENGINE: 'tcp://u:hunter2@host:7000' });
  assert.ok(fromEnv.kind === 'error', JSON.stringify(fromEnv));
  if (fromEnv.kind === 'error') {
    assert.match(fromEnv.message, /: SLIPSTREAM_ENGINE: .*carries a user name or password/);
    assert.doesNotMatch(fromEnv.message, /hunter2/);
  }
  const listen = run('engine start --listen [::1]:7370', 'engine start');
  assert.equal(listen.listen, '[::1]:7370');
  usageError('engine start --listen 0.0.0.0:0', /: --listen: "0\.0\.0\.0:0" is not HOST:PORT: port 0 is out of range \(1 to 65535\)\. Use HOST:PORT/);
  usageError('engine start --listen 0.0.0.0:70000', /port 70000 is out of range/);
  usageError('engine start --listen :7370', /the host is empty/);
  usageError('engine start --listen 7370', /it has no port/);
  usageError('engine start --listen host:http', /the port "http" is not a number/);
  usageError('container create dev --template t --port 80', /--port must be an integer from 1024 to 65535, not '80'/);
});

test('operations and optional lookups', () => {
  assert.deepEqual(run('restore bm --container dev', 'restore'), { container: 'dev', bookmark: 'bm' });
  assert.deepEqual(run('reset --container dev', 'reset'), { container: 'dev' });
  assert.deepEqual(run('refresh --container dev', 'refresh'), { container: 'dev' });
  // --hooks carries where to look for slipstream.json (the current folder), never a param the engine sees.
  assert.deepEqual(run('restore bm --container dev --hooks', 'restore'), { container: 'dev', bookmark: 'bm', hooks: { from: cwd } });
  assert.deepEqual(run('reset --container dev --hooks', 'reset'), { container: 'dev', hooks: { from: cwd } });
  assert.deepEqual(run('refresh --container dev --hooks', 'refresh'), { container: 'dev', hooks: { from: cwd } });
  assert.deepEqual(run('branch activate b --container dev --hooks', 'branch activate'), { container: 'dev', name: 'b', hooks: { from: cwd } });
  assert.deepEqual(run('branch create b --container dev --activate --hooks', 'branch create').hooks, { from: cwd });
  usageError('branch create b --container dev --hooks', /--hooks runs the afterSwitch hooks, so it needs --activate/);
  assert.match(commandHelp('reset'), /a restore to the point the branch last had, so --hooks runs the afterRestore hooks/);
  assert.deepEqual(run('timeline --container dev --limit 5', 'timeline'), { container: 'dev', limit: 5 });
  assert.deepEqual(run('timeline --container dev --limit 5 --before 120', 'timeline'), { container: 'dev', limit: 5, before: 120 });
  assert.deepEqual(run('bookmark list --shared', 'bookmark list'), { shared: true });
  assert.deepEqual(run('bookmark show bm --container dev', 'bookmark show'), { bookmark: 'bm', container: 'dev' });
  assert.deepEqual(run('container create dev --template t --port 5544', 'container create'), { name: 'dev', template: 't', port: 5544 });
  assert.deepEqual(run('engine start --pool p', 'engine start'), { driver: 'auto', pool: path.join(cwd, 'p') });
});

test('help: top-level, help COMMAND, GROUP --help, COMMAND --help', () => {
  for (const line of ['--help', '-h', 'help']) {
    const out = parse(line);
    assert.equal(out.kind, 'help');
    if (out.kind === 'help') {
      assert.equal(out.exitCode, 0);
      assert.match(out.text, /Getting started/);
    }
  }
  for (const line of ['help branch create', 'branch create --help', 'branch create b --bogus --help']) {
    const out = parse(line);
    assert.ok(out.kind === 'help' && out.text.startsWith('Usage: slipstream branch create NAME --container C'), line);
  }
  const group = parse('bookmark --help');
  assert.ok(group.kind === 'help' && /bookmark create/.test(group.text) && /bookmark tag/.test(group.text));
  const bare = parse('');
  assert.ok(bare.kind === 'help' && bare.exitCode === 2);
  usageError('help nosuch', /no help for 'nosuch'/);
});

test('the top-level help mentions every command and the vocabulary', () => {
  const text = topHelp();
  for (const id of visibleCommandIds) assert.ok(text.includes(`  ${id} `), `help lacks '${id}'`);
  for (const word of ['template', 'container', 'branch', 'bookmark', 'restore', 'reset', 'refresh', 'timeline']) {
    assert.match(text, new RegExp(`\\b${word}\\b`, 'i'));
  }
  assert.ok(!text.includes('engine run'), 'engine run is an internal command');
  for (const id of visibleCommandIds) assert.match(commandHelp(id), /^Usage: slipstream /);
});

test('--pool-image: sizes in binary units from 512M to 64T, anything else a usage error', () => {
  assert.deepEqual(run('engine start --pool-image 20G', 'engine start'), { driver: 'auto', poolImage: '20G' });
  assert.deepEqual(run('engine run --pool-image 512m', 'engine run'), { driver: 'auto', poolImage: '512m' });
  for (const bad of ['20', '20GB', '1.5G', '0G', 'abc']) usageError(`engine start --pool-image ${bad}`, /--pool-image must be a size like 512M, 20G or 1T/);
  usageError('engine start --pool-image 511M', /at least 512M/);
  usageError('engine start --pool-image 65T', /at most 64T/);
  assert.deepEqual(parsePoolImageSize('1T'), { bytes: 1024 ** 4 });
  assert.equal(formatImageSize(1024 ** 3), '1 GiB');
  assert.equal(formatImageSize(768 * 1024 ** 2), '768 MiB');
});
