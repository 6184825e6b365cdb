import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { connectEngine, type ClientError, type EngineClient } from '../../server/common/client';
import {
  BookmarkListRequest, EngineShutdownRequest, TemplateDeleteRequest, UserListRequest, WhoAmIRequest,
  type BookmarkInfo, type BranchInfo, type ChangedParams, type ContainerInfo, type TimelinePage, type UserInfo,
} from '../../server/protocol';
import { FIXTURES } from '../support/engine';
import { RawSocket, Remote, request, sqlAt, startTeamEngine, type TeamEngine } from '../support/team';

/**
 * Team mode over loopback TCP: an admin creates users qa and dev; story 2 runs
 * across their containers; and every action on what is not yours is refused
 * by the engine itself (NotFound, so names don't leak; Forbidden where the
 * thing is visible; Unauthorized without a valid token).
 */
let t: TeamEngine;
let admin: Remote;
let qa: Remote;
let dev: Remote;
let refused = 0;

const BUG_ROWS = `INSERT INTO employees (first_name, last_name, email) VALUES ('Bug', '1234', NULL), ('-1', 'deleted', '''''')`;

before(async () => {
  t = await startTeamEngine();
  admin = new Remote(t.e, t.url, t.adminToken);
});
after(async () => t?.e.destroy());

test('first start writes HOME/admin-token (0600) for user admin; the socket is 0600', () => {
  const file = path.join(t.e.home, 'admin-token');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.match(t.adminToken, /^slp_[A-Za-z0-9_-]{43}$/);
  assert.equal(fs.statSync(path.join(t.e.home, 'engine.sock')).mode & 0o777, 0o600);
  assert.equal(fs.statSync(t.e.home).mode & 0o777, process.getuid?.() === 0 ? 0o711 : 0o700);
  const me = admin.ok<UserInfo>('whoami');
  assert.deepEqual([me.name, me.admin], ['admin', true]);
});

test('the admin adds qa and dev over TCP; tokens are shown once and stored hashed', () => {
  // --token on the command line works as well as SLIPSTREAM_TOKEN
  const r = t.e.cliWith({}, '--engine', t.url, '--token', t.adminToken, 'user', 'add', 'qa');
  assert.equal(r.code, 0, r.stderr);
  const qaUser = r.json as { name: string; admin: boolean; token: string };
  assert.equal(qaUser.name, 'qa');
  assert.equal(qaUser.admin, false);
  const devUser = admin.ok<{ name: string; token: string }>('user', 'add', 'dev');
  assert.notEqual(qaUser.token, devUser.token);
  qa = new Remote(t.e, t.url, qaUser.token);
  dev = new Remote(t.e, t.url, devUser.token);
  assert.deepEqual(admin.ok<UserInfo[]>('user', 'list').map((u) => u.name).sort(), ['admin', 'dev', 'qa']);
  assert.ok(!JSON.stringify(admin.ok('user', 'list')).includes('slp_'), 'user list shows no token');
  admin.fails('NameTaken', 'user', 'add', 'qa');
  // The token itself is nowhere on disk: only its hash is kept in the metadata.
  const meta = fs.readdirSync(path.join(t.e.home, 'meta')).map((f) => fs.readFileSync(path.join(t.e.home, 'meta', f)));
  for (const token of [qaUser.token, devUser.token]) {
    assert.ok(!meta.some((b) => b.includes(token)), 'the plain token is not in the metadata');
  }
  assert.equal(qa.ok<UserInfo>('whoami').name, 'qa');
  assert.equal(dev.ok<UserInfo>('whoami').admin, false);
});

test('story 2 across two users: QA shares bug data, dev branches from it privately', async () => {
  admin.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  qa.ok<ContainerInfo>('container', 'create', 'qa-box', '--template', 'employees');
  const devBox = dev.ok<ContainerInfo>('container', 'create', 'dev-box', '--template', 'employees');
  assert.equal(devBox.owner, 'dev');
  await dev.sql('dev-box', `INSERT INTO employees (first_name, last_name) VALUES ('dev', 'own row')`);
  const devOwn = await dev.checksum('dev-box');

  await qa.sql('qa-box', BUG_ROWS);
  const bugData = await qa.checksum('qa-box');
  const bm = qa.ok<BookmarkInfo>('bookmark', 'create', 'Bug 1234 data', '--container', 'qa-box');
  assert.equal(bm.owner, 'qa');
  assert.equal(bm.shared, false);
  qa.ok('bookmark', 'create', 'qa private', '--container', 'qa-box');
  assert.ok(!dev.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'Bug 1234 data'), 'private until shared');
  qa.ok('bookmark', 'share', 'Bug 1234 data');

  const seen = dev.ok<BookmarkInfo[]>('bookmark', 'list');
  assert.deepEqual(seen.map((b) => b.name), ['Bug 1234 data'], 'dev sees the shared one, not the private one');
  const br = dev.ok<BranchInfo>('branch', 'create', 'bug-1234', '--container', 'dev-box', '--from-bookmark', 'Bug 1234 data', '--activate');
  assert.equal(br.active, true);
  assert.equal(await dev.checksum('dev-box'), bugData, "dev has QA's bug data, byte for byte");

  // Private both ways.
  await dev.sql('dev-box', 'DELETE FROM employees');
  assert.equal(await qa.checksum('qa-box'), bugData, 'what dev changes, QA never sees');
  await qa.sql('qa-box', `UPDATE employees SET last_name = 'qa changed'`);
  assert.equal((await dev.sql<{ n: string }>('dev-box', 'SELECT count(*) AS n FROM employees'))[0].n, '0', 'and the other way round');
  // Each container's database has its own password: dev's cannot open QA's.
  const qaUrl = qa.ok<{ url: string; port: number }>('container', 'url', 'qa-box');
  const devUrl = dev.ok<{ url: string; password: string }>('container', 'url', 'dev-box');
  const crossed = qaUrl.url.replace(/:[^:@/]+@/, `:${encodeURIComponent(devUrl.password)}@`);
  await assert.rejects(sqlAt(crossed, 'SELECT 1'), /password authentication failed/);

  dev.ok('branch', 'activate', 'main', '--container', 'dev-box');
  assert.equal(await dev.checksum('dev-box'), devOwn, 'back on default: their own data again');

  // The timeline records who did what.
  const { events } = qa.ok<TimelinePage>('timeline', '--container', 'qa-box');
  assert.ok(events.length >= 3 && events.every((ev) => ev.user === 'qa'), JSON.stringify(events.map((ev) => [ev.kind, ev.user])));
  const devEvents = dev.ok<TimelinePage>('timeline', '--container', 'dev-box').events;
  assert.ok(devEvents.some((ev) => ev.kind === 'branch-created' && ev.user === 'dev' && ev.bookmark?.name === 'Bug 1234 data'));
});

describe('every forbidden action is refused', () => {
  const refuse = (who: Remote, code: string, ...args: string[]) => { who.fails(code, ...args); refused++; };
  let snapshotOfQa: () => Promise<string>;
  before(() => {
    snapshotOfQa = async () => JSON.stringify({
      c: qa.ok<ContainerInfo[]>('container', 'list').map((c) => [c.name, c.activeBranch, c.branches, c.state]),
      b: qa.ok<BookmarkInfo[]>('bookmark', 'list').map((b) => [b.id, b.name, b.shared, b.tags]),
      br: qa.ok<BranchInfo[]>('branch', 'list', '--container', 'qa-box').map((b) => [b.name, b.active]),
      d: await qa.checksum('qa-box'),
    });
  });

  test("dev cannot see, read, restore, activate, bookmark or delete qa's things", async () => {
    const before = await snapshotOfQa();
    const qaPrivate = qa.ok<BookmarkInfo[]>('bookmark', 'list').find((b) => b.name === 'qa private')!;

    assert.deepEqual(dev.ok<ContainerInfo[]>('container', 'list').map((c) => c.name), ['dev-box'], "dev lists only dev's containers");
    assert.equal(dev.ok<{ containers: number }>('engine', 'status').containers, 1);
    refuse(dev, 'NotFound', 'container', 'url', 'qa-box');
    refuse(dev, 'NotFound', 'container', 'show', 'qa-box');
    refuse(dev, 'NotFound', 'branch', 'list', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'timeline', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'restore', 'qa private', '--container', 'dev-box');
    refuse(dev, 'NotFound', 'restore', qaPrivate.id, '--container', 'dev-box');
    refuse(dev, 'NotFound', 'bookmark', 'show', qaPrivate.id);
    refuse(dev, 'NotFound', 'branch', 'create', 'x', '--container', 'dev-box', '--from-bookmark', qaPrivate.id);
    refuse(dev, 'NotFound', 'branch', 'activate', 'main', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'bookmark', 'create', 'sneaky', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'bookmark', 'list', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'reset', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'refresh', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'branch', 'delete', 'main', '--container', 'qa-box');
    refuse(dev, 'NotFound', 'container', 'delete', 'qa-box');
    refuse(dev, 'NotFound', 'bookmark', 'share', qaPrivate.id);
    // The shared bookmark is visible, so changing it is Forbidden rather than NotFound.
    refuse(dev, 'Forbidden', 'bookmark', 'delete', 'Bug 1234 data');
    refuse(dev, 'Forbidden', 'bookmark', 'unshare', 'Bug 1234 data');
    refuse(dev, 'Forbidden', 'bookmark', 'tag', 'Bug 1234 data', '--add', 'mine');
    // Admin-only: templates, users, the engine.
    refuse(dev, 'Forbidden', 'template', 'create', 'devs', '--empty');
    refuse(dev, 'Forbidden', 'template', 'refresh', 'employees');
    refuse(dev, 'Forbidden', 'user', 'add', 'eve');
    refuse(dev, 'Forbidden', 'user', 'list');
    refuse(dev, 'Forbidden', 'user', 'remove', 'qa');
    assert.ok(dev.ok<Array<{ name: string }>>('template', 'list').some((x) => x.name === 'employees'), 'everyone may read templates');

    const client = await connectEngine({ home: t.e.home, engine: t.url, token: dev.token });
    try {
      for (const attempt of [
        client.request(EngineShutdownRequest.type, {}),
        client.request(TemplateDeleteRequest.type, { name: 'employees' }),
        client.request(UserListRequest.type, {}),
      ]) {
        await assert.rejects(attempt, (err: ClientError) => err.code === 'Forbidden');
        refused++;
      }
    } finally {
      await client.close();
    }
    assert.equal(await snapshotOfQa(), before, "nothing of qa's changed");
    assert.equal(admin.ok<{ pid: number }>('engine', 'status').pid > 0, true, 'the engine still runs');
  });

  test('a bookmark someone branched from stays readable to them after it is unshared; only then deletable', () => {
    qa.ok('bookmark', 'unshare', 'Bug 1234 data');
    assert.ok(dev.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'Bug 1234 data'), 'dev still sees it: dev branched from it');
    qa.fails('InUse', 'bookmark', 'delete', 'Bug 1234 data');
    dev.ok('branch', 'delete', 'bug-1234', '--container', 'dev-box');
    assert.ok(!dev.ok<BookmarkInfo[]>('bookmark', 'list').some((b) => b.name === 'Bug 1234 data'), 'gone from dev once the branch is gone');
    refuse(dev, 'NotFound', 'bookmark', 'show', 'Bug 1234 data');
    qa.ok('bookmark', 'share', 'Bug 1234 data');
  });

  test('no token, a wrong token, a removed user: Unauthorized', async () => {
    refuse(new Remote(t.e, t.url, undefined), 'Unauthorized', 'container', 'list');
    refuse(new Remote(t.e, t.url, 'slp_' + 'A'.repeat(43)), 'Unauthorized', 'container', 'list');
    refuse(new Remote(t.e, t.url, 'not even a token'), 'Unauthorized', 'whoami');

    // Without the CLI's own check: the engine refuses every request before engine/authenticate.
    const raw = await RawSocket.tcp(t.port);
    try {
      await raw.write(request(1, 'container/list', {}));
      await raw.write(request(2, 'container/url', { name: 'qa-box' }));
      await raw.write(request(3, 'engine/authenticate', { token: 'slp_wrong' }));
      await raw.write(request(4, 'container/list', {}));
      for (const id of [1, 2, 3, 4]) {
        const a = await raw.answer(id);
        assert.equal(a?.error?.data?.code, 'Unauthorized', `request ${id}: ${JSON.stringify(a)}`);
        refused++;
      }
    } finally {
      raw.destroy();
    }

    const temp = new Remote(t.e, t.url, admin.ok<{ token: string }>('user', 'add', 'temp').token);
    temp.ok('container', 'create', 'temp-box', '--template', 'employees');
    const live = await connectEngine({ home: t.e.home, engine: t.url, token: temp.token! });
    try {
      admin.ok('user', 'remove', 'temp');
      refuse(temp, 'Unauthorized', 'container', 'list');
      // A connection that authenticated before the removal is cut off too.
      await assert.rejects(live.request(UserListRequest.type, {}), (err: ClientError) => err.code === 'Unauthorized');
      refused++;
    } finally {
      await live.close();
    }
    assert.ok(!admin.ok<UserInfo[]>('user', 'list').some((u) => u.name === 'temp'));
    admin.fails('InvalidArgument', 'user', 'remove', 'admin');
  });

  test('a session is tied to its token, not its name: re-adding a removed user (even as admin) revives no open connection', async () => {
    const first = admin.ok<{ token: string }>('user', 'add', 'eve').token;
    const old = await connectEngine({ home: t.e.home, engine: t.url, token: first });
    const heard: ChangedParams[] = [];
    old.onChanged((p) => heard.push(p));
    try {
      assert.equal((await old.request(WhoAmIRequest.type, {})).name, 'eve');
      admin.ok('user', 'remove', 'eve');
      const again = admin.ok<{ token: string }>('user', 'add', 'eve', '--admin').token;
      // Before it asks anything: it does not hear of the new eve's containers.
      const newEve = new Remote(t.e, t.url, again);
      newEve.ok('container', 'create', 'new-eve-box', '--template', 'employees');
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(heard, [], `the old connection still hears the new eve's changes: ${JSON.stringify(heard)}`);
      newEve.ok('container', 'delete', 'new-eve-box');
      // Nor may it ask: it authenticated with the removed token, so whatever now bears the name, it is nobody.
      for (const [label, ask] of [
        ['whoami', () => old.request(WhoAmIRequest.type, {})],
        ['user list (admin only)', () => old.request(UserListRequest.type, {})],
        ['template delete (admin only)', () => old.request(TemplateDeleteRequest.type, { name: 'no-such-template' })],
      ] as const) {
        await assert.rejects(ask(), (err: ClientError) => err.code === 'Unauthorized', `${label} on the old connection`);
        refused++;
      }
      // The new token works, on a new connection, and as the new (admin) eve.
      assert.deepEqual([newEve.ok<UserInfo>('whoami').admin], [true]);
    } finally {
      await old.close();
      admin.ok('user', 'remove', 'eve');
    }
  });

  test('no engine/authenticate within the timeout: the TCP connection is closed', async () => {
    const raw = await RawSocket.tcp(t.port);
    const start = Date.now();
    const closed = await raw.closesWithin(20_000);
    raw.destroy();
    console.log(`silent TCP client closed after ${Date.now() - start} ms`);
    assert.ok(closed, 'closed within 20 s');
  });
});

test('bookmark list a page at a time: the pages add up to the whole list, and a cursor reveals nothing', async () => {
  for (const [name, who] of [['qa', qa], ['dev', dev], ['admin', admin]] as const) {
    const all = who.ok<BookmarkInfo[]>('bookmark', 'list').map((b) => b.id);
    const paged: string[] = [];
    for (let after: string | undefined; ;) {
      const page = who.ok<BookmarkInfo[]>('bookmark', 'list', '--limit', '1', ...(after ? ['--after', after] : []));
      assert.ok(page.length <= 1);
      if (page.length === 0) break;
      paged.push(page[0].id);
      after = page[0].id;
    }
    assert.ok(all.length > 0, `${name} sees bookmarks`);
    assert.deepEqual(paged, all, `${name}: the pages in order are the whole list`);
  }
  const qaPrivate = qa.ok<BookmarkInfo[]>('bookmark', 'list').find((b) => b.name === 'qa private')!;
  // dev cannot see qa's private bookmark: as a cursor it is as unknown as a made-up id.
  const hidden = dev.fails('InvalidArgument', 'bookmark', 'list', '--after', qaPrivate.id);
  const unknown = dev.fails('InvalidArgument', 'bookmark', 'list', '--after', 'bm_000000000000');
  assert.equal(hidden.message.replace(qaPrivate.id, 'ID'), unknown.message.replace('bm_000000000000', 'ID'));
  const usage = dev.cli('bookmark', 'list', '--limit', 'many');
  assert.equal(usage.code, 2, 'a bad --limit is a usage error');
  assert.match(usage.stderr, /--limit must be an integer from 1 to 10000/);
  // The engine checks too, whatever the client sends.
  const client: EngineClient = await connectEngine({ home: t.e.home, engine: t.url, token: dev.token! });
  try {
    for (const bad of [{ limit: 0 }, { limit: 10_001 }, { limit: 1.5 }, { limit: '5' }, { after: 7 }]) {
      await assert.rejects(client.request(BookmarkListRequest.type, bad as never),
        (err: ClientError) => err.code === 'InvalidArgument', JSON.stringify(bad));
    }
  } finally {
    await client.close();
  }
});

test("dev's connection hears nothing about qa's containers (change notifications are per owner)", async () => {
  const heard: ChangedParams[] = [];
  const client: EngineClient = await connectEngine({ home: t.e.home, engine: t.url, token: dev.token! });
  try {
    client.onChanged((p) => heard.push(p));
    qa.ok('bookmark', 'create', 'qa secret plan', '--container', 'qa-box', '--note', 'only for qa');
    await new Promise((r) => setTimeout(r, 500));
    const leaked = heard.filter((p) => JSON.stringify(p).includes('qa-box') || JSON.stringify(p).includes('qa secret plan'));
    assert.deepEqual(leaked, [], `dev was told about qa's container: ${JSON.stringify(leaked)}`);
  } finally {
    await client.close();
  }
});

test("a team user named like the engine's OS user gets none of the local owner's containers", async () => {
  // The Unix-socket client is the engine's owner, recorded under its OS user name.
  t.e.ok('container', 'create', 'local-box', '--template', 'employees');
  const osUser = os.userInfo().username;
  const r = admin.cli('user', 'add', osUser);
  if (r.code !== 0) {
    // Refusing the name is a fine answer too.
    assert.match(JSON.stringify(r.json), /NameTaken|InvalidName|InvalidArgument/);
    return;
  }
  const twin = new Remote(t.e, t.url, (r.json as { token: string }).token);
  try {
    const names = twin.ok<ContainerInfo[]>('container', 'list').map((c) => c.name);
    assert.ok(!names.includes('local-box'), `team user "${osUser}" sees the local owner's containers: ${names.join(', ')}`);
    twin.fails('NotFound', 'container', 'url', 'local-box');
  } finally {
    admin.cli('user', 'remove', osUser);
  }
});

// Each container's user is its cluster's superuser, so it may read any file its OS user
// may. Under root every container's cluster runs as an OS user id of its own, so the
// other clusters' data directories, named in /proc, must stay unreadable.
test("dev's database cannot read the files of qa's container (one OS user per container)", async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: only a root engine can run each container as its own OS user');
  const own = (await dev.sql<{ d: string }>('dev-box', `SELECT current_setting('data_directory') AS d`))[0].d;
  const found = await dev.sql<{ d: string }>('dev-box', `
    SELECT DISTINCT substring(encode(pg_read_binary_file('/proc/' || p || '/cmdline', true), 'escape') FROM '-D\\\\000([^\\\\]+)') AS d
    FROM pg_ls_dir('/proc') AS p WHERE p ~ '^[0-9]+$'`).catch((err: Error) => { console.log(`  /proc scan refused: ${err.message}`); return []; });
  const others = found.map((r) => r.d).filter((d) => d && d !== own);
  const readable: string[] = [];
  for (const d of others) {
    const r = await dev.sql<{ n: string }>('dev-box', `SELECT length(pg_read_binary_file('${d}/global/pg_control')) AS n`).catch(() => []);
    if (r.length) readable.push(d);
  }
  console.log(`from dev's database: ${others.length} other data directories named in /proc, ${readable.length} readable`);
  assert.ok(others.length > 0, "the /proc scan must find qa's data directory, or the test proves nothing");
  assert.deepEqual(readable, [], "dev's database superuser reads other containers' data directories");
});

test('the CLI refuses to manage a team engine with engine start/stop', () => {
  const r = admin.cli('engine', 'stop');
  assert.notEqual(r.code, 0);
  assert.ok(admin.ok<{ pid: number }>('engine', 'status').pid > 0);
  console.log(`team: forbidden or unauthorised actions refused: ${refused}`);
});

test("a link made on the engine's host (naming it by id) opens over TCP: it is this engine, not another machine's", () => {
  const bm = qa.ok<BookmarkInfo>('bookmark', 'show', 'Bug 1234 data');
  const { link } = t.e.ok<{ link: string }>('bookmark', 'link', bm.id); // over the Unix socket: eng_…
  assert.match(link, /engine=eng_[0-9a-f]{12}&/);
  const opened = dev.ok<BranchInfo>('open', link, '--container', 'dev-box', '--branch', 'from host link');
  assert.equal(opened.active, true);
  dev.ok('branch', 'activate', 'main', '--container', 'dev-box');
  dev.ok('branch', 'delete', 'from host link', '--container', 'dev-box');
});

describe('TLS', () => {
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (openssl.status !== 0) {
    test('TLS team mode', (tt) => { tt.skip('openssl is not installed: cannot make a self-signed certificate'); });
    return;
  }
  let tlsEngine: TeamEngine;
  let dir: string;
  let cert: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-tls-'));
    cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '2', '-keyout', key, '-out', cert], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    tlsEngine = await startTeamEngine({ tls: { cert, key } });
  });
  after(async () => {
    await tlsEngine?.e.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a client that trusts the CA (--tls-ca) works; one that does not is refused', () => {
    const viaFlag = tlsEngine.e.cliWith({}, '--engine', tlsEngine.url, '--token', tlsEngine.adminToken, '--tls-ca', cert, 'whoami');
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal((viaFlag.json as UserInfo).name, 'admin');
    const viaEnv = new Remote(tlsEngine.e, tlsEngine.url, tlsEngine.adminToken, { SLIPSTREAM_TLS_CA: cert });
    const u = viaEnv.ok<{ token: string }>('user', 'add', 'tls-user');
    assert.equal(new Remote(tlsEngine.e, tlsEngine.url, u.token, { SLIPSTREAM_TLS_CA: cert }).ok<UserInfo>('whoami').name, 'tls-user');
    // No CA: the self-signed certificate is not trusted, so nothing (not even the token) is sent.
    const untrusted = new Remote(tlsEngine.e, tlsEngine.url, tlsEngine.adminToken).cli('whoami');
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stdout + untrusted.stderr, /ConnectionFailed|certificate/i);
  });

  test('a plain TCP client cannot talk to the TLS port, and the TLS port stays healthy', async () => {
    const plain = new Remote(tlsEngine.e, tlsEngine.url.replace('tls://', 'tcp://'), tlsEngine.adminToken);
    const start = Date.now();
    const r = plain.cli('whoami');
    console.log(`plain TCP on the TLS port: exit ${r.code} after ${Date.now() - start} ms: ${(r.stdout + r.stderr).replace(/\s+/g, " ").trim().slice(0, 160)}`);
    assert.notEqual(r.code, 0);
    // Not just "connection lost": the client says what is wrong and what to type instead.
    const url = tlsEngine.url.replace('tls://', '');
    assert.match(r.stderr, new RegExp(`the engine at tcp://${url} seems to speak TLS: use tls://${url} \\(and --tls-ca FILE if its certificate is self-signed\\)`));
    const raw = await RawSocket.tcp(tlsEngine.port);
    await raw.write(request(1, 'engine/authenticate', { token: tlsEngine.adminToken }));
    assert.equal(await raw.answer(1, 5000), undefined, 'no JSON-RPC answer over plain TCP');
    assert.ok(await raw.closesWithin(15_000), 'the TLS server drops the plain connection');
    raw.destroy();
    const ok = new Remote(tlsEngine.e, tlsEngine.url, tlsEngine.adminToken, { SLIPSTREAM_TLS_CA: cert }).ok<UserInfo>('whoami');
    assert.equal(ok.name, 'admin');
  });

  test('a TLS client that never authenticates is closed after the timeout', async () => {
    const raw = await RawSocket.tls(tlsEngine.port, cert);
    const start = Date.now();
    assert.ok(await raw.closesWithin(20_000));
    console.log(`silent TLS client closed after ${Date.now() - start} ms`);
    raw.destroy();
  });
});
