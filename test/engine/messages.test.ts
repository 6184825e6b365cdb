import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'child_process';
import * as net from 'net';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { BookmarkInfo, BranchInfo, ContainerInfo } from '../../server/protocol';
import { CLI, FIXTURES, TestEngine } from '../support/engine';

/**
 * Tracker issue 14, "Messages a user can act on": each error says what went wrong and
 * what to do, through the real CLI and a real engine, and bad input changes nothing.
 */
let e: TestEngine;

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
  e.ok('bookmark', 'create', 'base', '--container', 'qa');
});
after(async () => e?.destroy());

/** What a user could see: containers, branches, bookmarks and the data of qa. */
async function state(): Promise<string> {
  return JSON.stringify({
    c: e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.port, c.activeBranch, c.branches, c.state]),
    b: e.ok<ContainerInfo[]>('container', 'list').map((c) => e.ok<BranchInfo[]>('branch', 'list', '--container', c.name).map((b) => [c.name, b.name, b.active])),
    m: e.ok<BookmarkInfo[]>('bookmark', 'list').map((b) => [b.id, b.name]),
    d: await e.checksum('qa'),
  });
}

async function unchanged(fn: () => void | Promise<void>): Promise<void> {
  const before = await state();
  await fn();
  assert.equal(await state(), before, 'nothing changed');
}

/** The real CLI without blocking this process (a fake server here must keep answering). */
function cliAsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, SLIPSTREAM_HOME: e.home, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - start }));
  });
}

/** A TCP server on 127.0.0.1 that does `onConnection` with every client; closed by the returned function. */
async function fakeServer(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

test('1. --limit that is not a whole number in range names the option and what it accepts, and changes nothing', async () => {
  await unchanged(() => {
    for (const [cmd, max] of [[['bookmark', 'list'], 10_000], [['timeline', '--container', 'qa'], 100_000]] as const) {
      for (const bad of ['-1', '0', '1.5', 'many', '-2.5', '']) {
        const r = e.cli(...cmd, '--limit', bad);
        const what = `${cmd[0]} --limit '${bad}'`;
        assert.equal(r.code, 2, `${what}: a usage error, exit 2`);
        assert.equal((r.json as { error: { code: string } }).error.code, 'Usage', what);
        const name = cmd[0] === 'bookmark' ? 'bookmark list' : 'timeline';
        assert.match(r.stderr, new RegExp(`^slipstream: ${name}: --limit must be an integer from 1 to ${max}, not '${bad.replace('.', '\\.')}'$`, 'm'), what);
        assert.match(r.stderr, new RegExp(`Run 'slipstream ${name} --help' for usage\\.`), `${what}: says where to read more`);
      }
    }
    assert.equal(e.ok<BookmarkInfo[]>('bookmark', 'list', '--limit', '1').length, 1, 'a good --limit still works');
  });
});

test('2. --home with SLIPSTREAM_ENGINE set: --home wins, and a warning on stderr says so; --home with --engine is refused', async () => {
  await unchanged(() => {
    const env = { ...process.env, SLIPSTREAM_HOME: '', SLIPSTREAM_ENGINE: 'tcp://127.0.0.1:9', SLIPSTREAM_TOKEN: 'not-used' };
    const r = spawnSync(process.execPath, [CLI, '--home', e.home, '--json', 'container', 'list'], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as ContainerInfo[]).map((c) => c.name), ['qa'], 'the local engine of --home answered');
    assert.equal(r.stderr, `warning: --home ${e.home} wins over SLIPSTREAM_ENGINE=tcp://127.0.0.1:9: using the local engine of ${e.home}. `
      + 'To use the team engine, drop --home; to silence this, unset SLIPSTREAM_ENGINE.\n');
    const quiet = spawnSync(process.execPath, [CLI, '--home', e.home, 'container', 'list'], { encoding: 'utf8', env: { ...env, SLIPSTREAM_ENGINE: '' }, timeout: 60_000 });
    assert.equal(quiet.status, 0);
    assert.equal(quiet.stderr, '', 'no warning without SLIPSTREAM_ENGINE');
    const both = spawnSync(process.execPath, [CLI, '--home', e.home, '--engine', 'tcp://127.0.0.1:9', 'container', 'list'], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--home names a local engine \(.*\) and --engine a team engine \(tcp:\/\/127\.0\.0\.1:9\): give one of them, not both/);
    const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.match(help.stdout, /--home DIR .*its local engine, even when \$SLIPSTREAM_ENGINE is set \(a warning on stderr says so\)/);
  });
});

test('4. branch create without --from-* starts from the active branch\'s current data; --from-template from the template', async () => {
  const template = await e.checksum('qa');
  await e.sql('qa', 'CREATE TABLE work_in_progress (id int); INSERT INTO work_in_progress VALUES (1), (2)');
  const current = await e.checksum('qa');
  assert.notDeepEqual(current, template);
  const help = e.cli('branch', 'create', '--help');
  assert.match(help.stdout, /--from-template\s+start from the template's latest version/);
  assert.match(help.stdout, /Without --from-branch, --from-bookmark or --from-template the branch starts from the active branch's current data/);

  const human = spawnSync(process.execPath, [CLI, '--home', e.home, 'branch', 'create', 'copy', '--container', 'qa', '--activate'],
    { encoding: 'utf8', env: { ...process.env, SLIPSTREAM_HOME: '' }, timeout: 300_000 });
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /^created branch copy in container qa from branch main; it is now the active branch$/m, 'the output says where it started');
  const copy = e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').find((b) => b.name === 'copy')!;
  assert.deepEqual(copy.origin, { kind: 'branch', branch: 'main' });
  assert.deepEqual(await e.checksum('qa'), current, 'the new branch has the work in progress');

  // From the active branch, which is now "copy": what it has, not main's.
  await e.sql('qa', 'INSERT INTO work_in_progress VALUES (3)');
  const onCopy = await e.checksum('qa');
  const next = e.ok<BranchInfo>('branch', 'create', 'next', '--container', 'qa', '--activate');
  assert.deepEqual(next.origin, { kind: 'branch', branch: 'copy' });
  assert.deepEqual(await e.checksum('qa'), onCopy);

  const fresh = e.ok<BranchInfo>('branch', 'create', 'fresh', '--container', 'qa', '--from-template', '--activate');
  assert.equal(fresh.origin.kind, 'template');
  assert.deepEqual(await e.checksum('qa'), template, '--from-template: the template\'s data');

  e.ok('branch', 'activate', 'main', '--container', 'qa');
  for (const b of ['copy', 'next', 'fresh']) e.ok('branch', 'delete', b, '--container', 'qa');
  assert.deepEqual(await e.checksum('qa'), current, 'main kept its own data throughout');

  await unchanged(() => {
    const r = e.cli('branch', 'create', 'x', '--container', 'qa', '--from-branch', 'main', '--from-template');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /branch create: --from-branch and --from-template cannot be used together: give one starting point/);
  });
});

test('5. a tcp:// client on a server that answers with TLS fails fast, saying to use tls://', async () => {
  // A TLS alert (record type 0x15, version 3.3), and the socket left open: the client must not wait for more.
  const server = await fakeServer((s) => s.write(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46])));
  try {
    const r = await cliAsync(['--engine', `tcp://127.0.0.1:${server.port}`, '--token', 't', 'whoami']);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.ms < 8_000, `it failed fast (${r.ms} ms)`);
    assert.equal(r.stderr, `slipstream: the engine at tcp://127.0.0.1:${server.port} seems to speak TLS: use tls://127.0.0.1:${server.port} `
      + '(and --tls-ca FILE if its certificate is self-signed).\n');
  } finally {
    await server.close();
  }
});

test('5. a client whose server never answers gives up after 10 s and says what to check', async () => {
  const server = await fakeServer(() => undefined);
  try {
    const [plain, secure] = await Promise.all([
      cliAsync(['--engine', `tcp://127.0.0.1:${server.port}`, '--token', 't', 'whoami']),
      cliAsync(['--engine', `tls://127.0.0.1:${server.port}`, '--token', 't', 'whoami']),
    ]);
    const where = `127.0.0.1:${server.port}`;
    assert.equal(plain.code, 1);
    assert.ok(plain.ms >= 9_000 && plain.ms < 30_000, `tcp:// gave up after ${plain.ms} ms`);
    assert.equal(plain.stderr, `slipstream: the engine at tcp://${where} did not answer within 10 s. If it speaks TLS, use tls://${where} `
      + `(and --tls-ca FILE if its certificate is self-signed); otherwise check that a Slipstream engine listens on ${where} (engine status on its host).\n`);
    assert.equal(secure.code, 1);
    assert.ok(secure.ms >= 9_000 && secure.ms < 30_000, `tls:// gave up after ${secure.ms} ms`);
    assert.match(secure.stderr, new RegExp(`^slipstream: the engine at tls://${where.replace(/\./g, '\\.')} did not complete a TLS handshake \\(.*\\)\\. `
      + `If it is a plain team engine \\(started without --tls-cert\\), use tcp://${where.replace(/\./g, '\\.')}\\.\n$`));
  } finally {
    await server.close();
  }
});

test('3. a bookmark whose database cannot start leads with what failed and what to do; PostgreSQL\'s words come last, labelled and trimmed', async () => {
  e.ok('container', 'create', 'broken', '--template', 'employees');
  // Valid for ALTER SYSTEM, fatal at the next start: PostgreSQL's own reason, not one the engine makes up.
  await e.sql('broken', 'ALTER SYSTEM SET superuser_reserved_connections = 200');
  e.ok('engine', 'stop');
  e.ok('engine', 'start');
  assert.equal(e.ok<ContainerInfo>('container', 'show', 'broken').state, 'failed');
  // PostgreSQL 18 says it as `postgres: "superuser_reserved_connections" (200) plus … (100)`; older ones as a FATAL line.
  const said = /PostgreSQL said: (?:FATAL|postgres): "?superuser_reserved_connections"? \(200\) plus "?reserved_connections"? \(0\) must be less than "?max_connections"? \(100\)$/;
  await unchanged(() => {
    const err = e.fails('DatabaseFailed', 'bookmark', 'create', 'b1', '--container', 'broken');
    assert.match(err.message, /^bookmark "b1" was not taken, and nothing changed: the engine could not start PostgreSQL on port \d+ for container "broken"\. /);
    assert.match(err.message, /What to do: fix the cause PostgreSQL gives \(last in this message\), run `slipstream container start broken`, then take the bookmark again/);
    assert.match(err.message, said);
    assert.doesNotMatch(err.message, /UTC \[\d+\]|stopped waiting|Examine the log output|LOG: /, 'no raw log lines');
    assert.ok(err.message.length < 700, `trimmed (${err.message.length} characters)`);

    // The same for a branch, which now starts from the active branch's data by default.
    const br = e.fails('DatabaseFailed', 'branch', 'create', 'side', '--container', 'broken');
    assert.match(br.message, /^branch "side" was not created, and nothing changed: the engine could not start PostgreSQL on port \d+ for container "broken"\. /);
    assert.match(br.message, said);

    // Human output: the message, then nothing else.
    const human = spawnSync(process.execPath, [CLI, '--home', e.home, 'bookmark', 'create', 'b2', '--container', 'broken'],
      { encoding: 'utf8', env: { ...process.env, SLIPSTREAM_HOME: '' }, timeout: 300_000 });
    assert.equal(human.status, 1);
    assert.match(human.stderr.trimEnd(), said);
    assert.match(human.stderr, /^slipstream: bookmark "b2" was not taken/m);
  });
  const shown = e.ok<ContainerInfo>('container', 'show', 'broken');
  assert.equal(shown.state, 'failed');
  assert.match(shown.failure?.reason ?? '', /superuser_reserved_connections"? \(200\)/, 'the failure reason is what PostgreSQL said');
});
