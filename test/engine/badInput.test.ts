import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import { connectEngine, type ClientError } from '../../server/common/client';
import {
  BookmarkCreateRequest, BranchCreateRequest, ContainerCreateRequest, TemplateCreateRequest, UserAddRequest, UserListRequest,
  type BookmarkInfo, type BranchInfo, type ContainerInfo, type TemplateInfo, type UserInfo,
} from '../../server/protocol';
import { CLI, FIXTURES, TestEngine } from '../support/engine';

/** Bad input gets a clear error with a stable code, and changes nothing. */
let e: TestEngine;
let snapshot: () => Promise<string>;

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'qa', '--template', 'employees');
  e.ok('bookmark', 'create', 'base', '--container', 'qa');
  // Everything a user could see: templates, containers, branches, bookmarks, and the data.
  snapshot = async () => JSON.stringify({
    t: e.ok<TemplateInfo[]>('template', 'list').map((t) => [t.name, t.latestVersion]),
    c: e.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.port, c.activeBranch, c.branches]),
    b: e.ok<BranchInfo[]>('branch', 'list', '--container', 'qa').map((b) => [b.name, b.active]),
    m: e.ok<BookmarkInfo[]>('bookmark', 'list').map((b) => [b.id, b.name, b.shared, b.tags]),
    d: await e.checksum('qa'),
  });
});
after(async () => e?.destroy());

async function unchanged(fn: () => void | Promise<void>): Promise<void> {
  const before = await snapshot();
  await fn();
  assert.equal(await snapshot(), before, 'nothing changed');
}

test('bad names are refused by the engine, whatever the client', async () => {
  const bad = ['', 'x'.repeat(65), 'a/b', 'a..b', 'tab\there', 'bell\u0007', ' padded', '-flag'];
  const client = await connectEngine({ home: e.home });
  try {
    await unchanged(async () => {
      for (const name of bad) {
        const attempts: Array<Promise<unknown>> = [
          client.request(BranchCreateRequest.type, { container: 'qa', name, from: { kind: 'template' } }),
          client.request(BookmarkCreateRequest.type, { container: 'qa', name }),
          client.request(ContainerCreateRequest.type, { name, template: 'employees' }),
          client.request(TemplateCreateRequest.type, { name, source: { kind: 'empty' } }),
        ];
        for (const attempt of attempts) {
          await assert.rejects(attempt, (err: ClientError) => err.code === 'InvalidName' && /invalid \w+ name/.test(err.message));
        }
      }
    });
  } finally {
    await client.close();
  }
});

test('confusable names are refused for every kind of name, saying why (issue 10)', async () => {
  // Through the client, not argv: a lone surrogate survives JSON but not a command line.
  const confusable: Array<[string, RegExp]> = [
    ['invoice\u202Egpj.exe', /bidirectional/], ['a\u2066b', /bidirectional/], ['a\u200Eb', /bidirectional/], ['a\u061Cb', /bidirectional/],
    ['zero\u200Bwidth', /zero-width/], ['a\u200Db', /zero-width/], ['a\u2060b', /zero-width/], ['\uFEFFbom', /zero-width/],
    ['line\u2028sep', /separator/], ['para\u2029sep', /separator/],
    ['lone\uD800', /surrogate/], ['\uDC00lone', /surrogate/], ['mangled\uFFFD', /U\+FFFD/],
  ];
  const client = await connectEngine({ home: e.home });
  try {
    await unchanged(async () => {
      for (const [name, why] of confusable) {
        const attempts: Array<[string, Promise<unknown>]> = [
          ['branch', client.request(BranchCreateRequest.type, { container: 'qa', name, from: { kind: 'template' } })],
          ['bookmark', client.request(BookmarkCreateRequest.type, { container: 'qa', name })],
          ['tag', client.request(BookmarkCreateRequest.type, { container: 'qa', name: 'tagged', tags: [name] })],
          ['container', client.request(ContainerCreateRequest.type, { name, template: 'employees' })],
          ['template', client.request(TemplateCreateRequest.type, { name, source: { kind: 'empty' } })],
          ['user', client.request(UserAddRequest.type, { name })],
        ];
        for (const [kind, attempt] of attempts) {
          await assert.rejects(attempt, (err: ClientError) => err.code === 'InvalidName' && why.test(err.message)
            && err.message.startsWith(`invalid ${kind} name`), `${kind} ${JSON.stringify(name)}`);
        }
      }
    });
    assert.ok(!(await client.request(UserListRequest.type, {})).some((u) => u.name !== 'admin'), 'no user was added');
  } finally {
    await client.close();
  }
});

test('a name that only refers to something is looked up, not refused: what an older engine stored stays reachable, to delete', () => {
  // Only new names get the hidden-character rules; a reference to one is NotFound (or found, if an older engine made it).
  const ghost = 'old\u202Ebox';
  e.fails('NotFound', 'container', 'delete', ghost);
  e.fails('NotFound', 'branch', 'delete', ghost, '--container', 'qa');
  e.fails('NotFound', 'template', 'delete', ghost);
  e.fails('NotFound', 'user', 'remove', ghost);
  e.fails('InvalidName', 'branch', 'create', ghost, '--container', 'qa');
});

test('a user name that reads like another (case, fullwidth) is NameTaken, naming the existing user', () => {
  e.ok('user', 'add', 'qa');
  try {
    for (const twin of ['Qa', 'QA', '\uFF31\uFF21', '\uFF51\uFF41']) {
      const err = e.fails('NameTaken', 'user', 'add', twin);
      assert.match(err.message, /reads the same as "qa"/, twin);
    }
    e.fails('NameTaken', 'user', 'add', 'qa');
    const owner = os.userInfo().username;
    const err = e.fails('NameTaken', 'user', 'add', owner.toUpperCase() === owner ? owner.toLowerCase() : owner.toUpperCase());
    assert.match(err.message, /local owner/);
    assert.deepEqual(e.ok<UserInfo[]>('user', 'list').map((u) => u.name).sort(), ['admin', 'qa']);
  } finally {
    e.ok('user', 'remove', 'qa');
  }
});

test('bad names on the command line get a clear error', async () => {
  await unchanged(() => {
    for (const name of ['x'.repeat(65), 'a/b', 'a..b', 'tab\there']) {
      const err = e.fails('InvalidName', 'branch', 'create', name, '--container', 'qa');
      assert.match(err.message, /invalid branch name/);
    }
    const empty = e.cli('branch', 'create', '', '--container', 'qa');
    assert.ok(empty.code === 1 || empty.code === 2, `exit ${empty.code}`);
    assert.match(empty.stderr, /name/i);
  });
});

test('names already taken are refused', async () => {
  await unchanged(() => {
    e.fails('NameTaken', 'container', 'create', 'qa', '--template', 'employees');
    e.fails('NameTaken', 'branch', 'create', 'main', '--container', 'qa');
    e.fails('NameTaken', 'template', 'create', 'employees', '--empty');
  });
});

test('unknown ids and names say not found', async () => {
  await unchanged(() => {
    e.fails('NotFound', 'bookmark', 'show', 'bm_000000000000');
    e.fails('NotFound', 'restore', 'nope', '--container', 'qa');
    e.fails('NotFound', 'branch', 'activate', 'nope', '--container', 'qa');
    e.fails('NotFound', 'container', 'show', 'nope');
    e.fails('NotFound', 'container', 'create', 'x', '--template', 'nope');
  });
});

test('a port already in use is refused', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await unchanged(() => {
      const err = e.fails('PortInUse', 'container', 'create', 'p', '--template', 'employees', '--port', String(port));
      assert.match(err.message, new RegExp(`port ${port}`));
      const qaPort = e.ok<ContainerInfo>('container', 'show', 'qa').port;
      e.fails('PortInUse', 'container', 'create', 'p', '--template', 'employees', '--port', String(qaPort));
    });
  } finally {
    server.close();
  }
});

test("a database whose port another program took says so, and runs again once it is free", async () => {
  const { port } = e.ok<ContainerInfo>('container', 'show', 'qa');
  const before = await snapshot();
  e.ok('engine', 'stop'); // the database is down: the moment another program could take its port
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  try {
    e.ok('engine', 'start'); // its database cannot start; the engine says so in its log and serves on
    const err = e.fails('PortInUse', 'restore', 'base', '--container', 'qa');
    assert.match(err.message, new RegExp(`port ${port} is taken by another program`));
    assert.match(err.message, /ss -ltnp/, 'it says how to find the program');
  } finally {
    await new Promise((r) => squatter.close(r));
  }
  e.ok('restore', 'base', '--container', 'qa');
  assert.equal(e.ok<ContainerInfo>('container', 'show', 'qa').state, 'running');
  assert.equal(await snapshot(), before, 'the data and metadata are as they were');
});

test('a SQL source that fails on line 40 says so and leaves no template', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slip-sql-')), 'broken.sql');
  const lines = ['CREATE TABLE t (id int);', ...Array.from({ length: 38 }, (_, i) => `INSERT INTO t VALUES (${i});`), 'SELCT oops;'];
  fs.writeFileSync(file, lines.join('\n') + '\n');
  await unchanged(() => {
    const err = e.fails('SourceFailed', 'template', 'create', 'broken', '--sql', file);
    assert.match(err.message, /line 40/);
  });
});

test('deleting the active branch, or a bookmark a branch depends on, is refused', async () => {
  await unchanged(() => {
    e.fails('InUse', 'branch', 'delete', 'main', '--container', 'qa');
  });
  e.ok('branch', 'create', 'from-base', '--container', 'qa', '--from-bookmark', 'base');
  await unchanged(() => {
    const err = e.fails('InUse', 'bookmark', 'delete', 'base');
    assert.match(err.message, /from-base/);
  });
  e.ok('branch', 'delete', 'from-base', '--container', 'qa');
});

test('a second operation on a busy container is refused while the first runs', async () => {
  // Two activations at once from two processes: one wins, the other is told the container is busy.
  e.ok('branch', 'create', 'other', '--container', 'qa', '--from-template');
  const run = (branch: string) => new Promise<{ code: number; out: string }>((resolve) => {
    const p = spawn(process.execPath, [CLI, '--home', e.home, '--json', 'branch', 'activate', branch, '--container', 'qa']);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
  const results = await Promise.all([run('other'), run('main'), run('other')]);
  const busy = results.filter((r) => r.code === 1 && /"Busy"/.test(r.out));
  const okCount = results.filter((r) => r.code === 0).length;
  assert.ok(okCount >= 1, 'at least one activation ran');
  assert.equal(busy.length + okCount, 3, `every other answer is Busy: ${JSON.stringify(results)}`);
  e.ok('branch', 'activate', 'main', '--container', 'qa');
  e.ok('branch', 'delete', 'other', '--container', 'qa');
});

test('a second engine on the same home refuses to start and says why', () => {
  const r = spawnSync(process.execPath, [CLI, '--home', e.home, 'engine', 'run'], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /already running/);
  assert.equal(e.ok<{ pid: number }>('engine', 'status').pid > 0, true, 'the first engine still answers');
});
