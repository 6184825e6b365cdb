import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { BookmarkInfo, BranchInfo, ConnectionInfo, RemoteBookmarkInfo, RemoteInfo, TemplateInfo, TransferInfo } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { CLI, FIXTURES, tableChecksumsAt, TestEngine } from '../support/engine';
import { ordinaryUserSite, ordinaryUserSkip } from '../support/osUser';
import { mountLoopFs, type LoopFs } from '../support/loopfs';
import { BUCKET, S3_ENV, S3Server } from '../support/s3server';
import { decodeFiles } from '../../server/engine/remotes/format';
import { parseControlFile } from '../../server/engine/postgres/walNeeded';
import { segmentStart } from '../../server/engine/volumes/onlineBackup';

/**
 * Issue 15: bookmarks travel between engines through a real S3-compatible server (s3rver, in a
 * process of its own on 127.0.0.1). Engine A (blocks driver) is the team host where QA bookmarks;
 * engine B (btrfs where the machine can mount it, else blocks) is the reviewer's laptop.
 */
let s3: S3Server;
let a: TestEngine;
let b: TestEngine;
let btrfs: LoopFs | undefined;
/** Why engine B runs blocks, where btrfs cannot be mounted. */
let btrfsSkip: string | undefined;
const homes: string[] = [];
/** Every table's checksum in bookmark "bug 1234". */
let bugData: Record<string, string>;

async function startEngine(env: Record<string, string>, driver: string, pool?: string): Promise<TestEngine> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-home-'));
  homes.push(home);
  const e = new TestEngine(home, pool);
  const r = e.cliWith(env, 'engine', 'start', '--driver', driver, ...(pool ? ['--pool', pool] : []));
  assert.equal(r.code, 0, r.stderr);
  return e;
}

const addRemote = (e: TestEngine, name = 'team', prefix = 'qa') =>
  e.ok<RemoteInfo>('remote', 'add', name, `s3://${BUCKET}/${prefix}`, '--endpoint', s3.endpoint);

before(async () => {
  s3 = await S3Server.start();
  // Small packs, so a push can be interrupted between two of them.
  a = await startEngine({ ...S3_ENV, SLIPSTREAM_REMOTE_PACK_MIB: '1' }, 'blocks');
  const mount = await mountLoopFs('btrfs', 2048);
  if ('skip' in mount) console.log(`engine B runs the blocks driver: ${btrfsSkip = mount.skip}`);
  else btrfs = mount;
  b = await startEngine(S3_ENV, btrfs ? 'btrfs' : 'blocks', btrfs && `${btrfs.dir}/pool`);
  a.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  a.ok('container', 'create', 'qa', '--template', 'employees');
  // About 40 MB that compresses poorly, so packs and ratios mean something.
  await a.sql('qa', `CREATE TABLE events (id int PRIMARY KEY, payload text);
    INSERT INTO events SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 300000) g`);
  // As data loaded long ago is: hint bits set and tuples frozen, so a first read does not rewrite every page.
  await a.sql('qa', 'VACUUM (FREEZE, ANALYZE) events');
  await a.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('Bug', '1234')`);
  a.ok('bookmark', 'create', 'bug 1234', '--container', 'qa', '--tag', 'qa', '--note', 'orders vanish');
  bugData = await a.checksum('qa');
  addRemote(a);
  addRemote(b);
});

after(async () => {
  for (const e of [a, b]) await e?.stop();
  await s3?.stop();
  await btrfs?.cleanup();
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  if (s3) fs.rmSync(s3.dir, { recursive: true, force: true });
});

/** Who the engine's local clients are (its OS user). */
const me = (e: TestEngine) => e.ok<{ name: string }>('whoami').name;

const packBytes = (server: S3Server) => server.objects('qa/packs/').filter((k) => k.endsWith('.pack'))
  .reduce((n, k) => n + fs.statSync(server.objectFile(k)).size, 0);

test('an interrupted push shows nothing on the remote, and the next push sends only the rest', async () => {
  const child = spawn(process.execPath, [CLI, '--home', a.home, '--json', 'bookmark', 'push', 'bug 1234', '--remote', 'team'],
    { env: { ...process.env, SLIPSTREAM_HOME: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  for (const end = Date.now() + 120_000; s3.objects('qa/packs/').filter((k) => k.endsWith('.idx')).length < 3;) {
    assert.ok(Date.now() < end, 'no pack reached the remote within 120 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGINT');
  assert.equal(await exited, 130, 'the push was interrupted');
  assert.deepEqual(s3.objects('qa/bookmarks/'), [], 'no bookmark record after an interrupted push');
  assert.deepEqual(a.ok<RemoteBookmarkInfo[]>('bookmark', 'list', '--remote', 'team'), []);
  const packsBefore = s3.objects('qa/packs/').filter((k) => k.endsWith('.idx')).length;

  const t = a.ok<TransferInfo>('bookmark', 'push', 'bug 1234', '--remote', 'team');
  assert.ok(t.chunksMoved > 0 && t.chunksMoved < t.chunks, `the resumed push sent ${t.chunksMoved} of ${t.chunks} chunks`);
  assert.ok(packsBefore >= 3);
  const listed = a.ok<RemoteBookmarkInfo[]>('bookmark', 'list', '--remote', 'team');
  assert.deepEqual(listed.map((x) => [x.name, x.template, x.owner, x.container, x.tags, x.note]),
    [['bug 1234', 'employees', me(a), 'qa', ['qa'], 'orders vanish']]);

  // An index the engine keeps in its cache is written without fsync: one a crash left torn, at
  // its full size, is fetched again by the next engine, not taken as it is (nor refused).
  a.ok('engine', 'stop');
  const [cache] = fs.readdirSync(path.join(a.home, 'remote-cache')).filter((n) => n.startsWith('team-'));
  const [torn] = fs.readdirSync(path.join(a.home, 'remote-cache', cache)).filter((n) => n.endsWith('.idx'));
  const tornFile = path.join(a.home, 'remote-cache', cache, torn);
  const intact = fs.readFileSync(tornFile);
  fs.writeFileSync(tornFile, Buffer.alloc(intact.length));
  const restarted = a.cliWith({ ...S3_ENV, SLIPSTREAM_REMOTE_PACK_MIB: '1' }, 'engine', 'start', '--driver', 'blocks');
  assert.equal(restarted.code, 0, restarted.stderr);
  const again = a.ok<TransferInfo>('bookmark', 'push', 'bug 1234', '--remote', 'team');
  assert.equal(again.chunksMoved, 0, 'a second push of the same bookmark sends no chunk');
  assert.equal(again.templateMoved, false);
  assert.deepEqual(fs.readFileSync(tornFile), intact, 'the torn index was fetched again');
});

test('a reviewer pulls the bookmark into an engine that never saw the template: byte for byte, amcheck clean', async () => {
  const t = b.ok<TransferInfo>('bookmark', 'pull', 'bug 1234', '--remote', 'team');
  assert.equal(t.templateMoved, true);
  assert.deepEqual(t.bookmark.pulled && [t.bookmark.pulled.remote, t.bookmark.pulled.owner], ['team', me(a)]);
  assert.equal(t.bookmark.container, 'qa');
  const tpl = b.ok<TemplateInfo[]>('template', 'list');
  assert.deepEqual(tpl.map((x) => [x.name, x.pulledFrom]), [['employees', 'team']]);
  b.ok('container', 'create', 'review', '--template', 'employees');
  const br = b.ok<BranchInfo>('branch', 'create', 'bug', '--container', 'review', '--from-bookmark', t.bookmark.id, '--activate');
  assert.equal(br.active, true);
  assert.deepEqual(await b.checksum('review'), bugData);
  assert.deepEqual((await amcheck(b.ok<ConnectionInfo>('container', 'url', 'review').url)).problems, []);
  const refused = b.fails('InvalidArgument', 'template', 'refresh', 'employees');
  assert.match(refused.message, /pulled from remote "team"/);

  const twice = b.ok<TransferInfo>('bookmark', 'pull', t.bookmark.id, '--remote', 'team');
  assert.equal(twice.chunksMoved, 0, 'pulling a bookmark that is here already moves nothing');
});

test('after a 1% change a push and a pull move a few percent of the bytes', async () => {
  const first = packBytes(s3);
  await a.sql('qa', 'UPDATE events SET payload = upper(payload) WHERE id <= 3000');
  a.ok('bookmark', 'create', 'bug 1234 later', '--container', 'qa');
  const pushed = a.ok<TransferInfo>('bookmark', 'push', 'bug 1234 later', '--remote', 'team');
  const pushRatio = pushed.bytesMoved / first;
  console.log(`push after a 1% change: ${pushed.bytesMoved} of ${first} bytes (${(pushRatio * 100).toFixed(1)}%), ${pushed.chunksMoved} of ${pushed.chunks} chunks`);
  assert.ok(pushRatio < 0.1, `the second push sent ${(pushRatio * 100).toFixed(1)}% of the first`);

  const pulled = b.ok<TransferInfo>('bookmark', 'pull', 'bug 1234 later', '--remote', 'team');
  assert.equal(pulled.templateMoved, false);
  console.log(`pull after a 1% change: ${pulled.bytesMoved} bytes, ${pulled.chunksMoved} of ${pulled.chunks} chunks`);
  assert.ok(pulled.bytesMoved / first < 0.1, `the second pull received ${pulled.bytesMoved} bytes of ${first}`);
  b.ok('branch', 'create', 'later', '--container', 'review', '--from-bookmark', pulled.bookmark.id, '--activate');
  assert.deepEqual(await b.checksum('review'), await a.checksum('qa'));
  assert.deepEqual((await amcheck(b.ok<ConnectionInfo>('container', 'url', 'review').url)).problems, []);
});

/**
 * A push from a folder driver (btrfs here, XFS reflink when it can be mounted) after a small
 * change reads only the chunks that differ on disk from the bookmark pushed before it, and what
 * it sends is byte for byte the data: engine A pulls it and compares every table. The earlier
 * bookmark's chunk ids come from the file list the engine kept when it pushed it, or, with
 * `listsFrom: 'remote'` (that list removed), from the remote's copy.
 */
async function pushesAfterSmallChange(e: TestEngine, prefix: string, listsFrom: 'kept' | 'remote'): Promise<void> {
  addRemote(e, 'mine', prefix);
  addRemote(a, prefix, prefix);
  // Segments PostgreSQL keeps past a checkpoint (wal_keep_size), which no copy reads again: each
  // bookmark's folder holds some, and its file list leaves them out.
  await e.sql('review', "ALTER SYSTEM SET wal_keep_size = '64MB'"); // not in a transaction: a statement of its own
  await e.sql('review', 'SELECT pg_reload_conf()');
  await finishWalSegments(e);
  e.ok('bookmark', 'create', `${prefix} before`, '--container', 'review');
  const first = e.ok<TransferInfo>('bookmark', 'push', `${prefix} before`, '--remote', 'mine');
  const [cache] = fs.readdirSync(path.join(e.home, 'remote-cache')).filter((n) => n.startsWith('mine-'));
  const kept = path.join(e.home, 'remote-cache', cache, 'pushed');
  assert.equal(fs.readdirSync(kept).length, 2, 'the file lists pushed (template version and bookmark) are kept');
  if (listsFrom === 'remote') fs.rmSync(kept, { recursive: true });
  await e.sql('review', 'UPDATE events SET payload = lower(payload) WHERE id BETWEEN 100000 AND 103000');
  await finishWalSegments(e);
  // A checkpoint past three quarters of a segment makes the next one ahead of time: the
  // bookmark's holds a segment with no WAL yet, which the list leaves out too.
  await e.sql('review', `DO $$ BEGIN
    WHILE (pg_walfile_name_offset(pg_current_wal_insert_lsn())).file_offset < 0.8 * pg_size_bytes(current_setting('wal_segment_size')) LOOP
      INSERT INTO wal_mark SELECT now() FROM generate_series(1, 10000);
    END LOOP;
  END $$`);
  e.ok('bookmark', 'create', `${prefix} after`, '--container', 'review');
  const listsBefore = fs.existsSync(kept) ? fs.readdirSync(kept) : [];
  const second = e.ok<TransferInfo>('bookmark', 'push', `${prefix} after`, '--remote', 'mine');
  const [listName] = fs.readdirSync(kept).filter((n) => !listsBefore.includes(n));
  const { snapshot, listed, leftOut, ahead } = walLeftOut(e, path.join(kept, listName));
  console.log(`${prefix} (base's list ${listsFrom}): the first push read ${first.bytesRead} bytes and sent ${first.bytesMoved}; after a 1% change, ${second.bytesRead} read, ${second.bytesMoved} sent; ${leftOut.length - ahead} spent WAL segments left out, and ${ahead} not yet written`);
  // An XFS bookmark is an online backup's copy, which holds only the WAL from the backup's
  // start (onlineBackup.ts): nothing there to leave out.
  if (prefix === 'btrfs') {
    assert.ok(leftOut.length - ahead > 0, 'the WAL segments kept past the checkpoint are left out');
    assert.ok(ahead > 0, 'the segment made ahead of time is left out');
  }
  assert.ok(second.bytesRead < first.bytesRead / 4, `the push after a small change read ${second.bytesRead} bytes, the first ${first.bytesRead}`);
  assert.ok(second.chunksMoved > 0 && second.bytesMoved < first.bytesMoved / 5);

  a.ok('bookmark', 'pull', second.bookmark.id, '--remote', prefix);
  a.ok('container', 'create', prefix, '--template', 'employees');
  a.ok('branch', 'create', 'after', '--container', prefix, '--from-bookmark', second.bookmark.id, '--activate');
  assert.deepEqual(await a.checksum(prefix), await e.checksum('review'));
  assert.deepEqual((await amcheck(a.ok<ConnectionInfo>('container', 'url', prefix).url)).problems, []);
  a.ok('remote', 'remove', prefix);

  // Pulled back into the engine that pushed it, it starts from "before", whose folder holds the
  // WAL its list left out: the pulled snapshot holds what the list says, no more.
  const data = await e.checksum('review');
  e.ok('bookmark', 'delete', `${prefix} after`, '--container', 'review');
  const snapshots = fs.readdirSync(path.join(e.pool!, 'snapshots'));
  e.ok('bookmark', 'pull', second.bookmark.id, '--remote', 'mine');
  const pulledNow = fs.readdirSync(path.join(e.pool!, 'snapshots')).filter((n) => !snapshots.includes(n) && !n.startsWith('.'));
  assert.equal(pulledNow.length, 1, `one snapshot pulled: ${pulledNow.join(', ')}`);
  const [pulled] = pulledNow;
  assert.deepEqual(walOf(path.join(e.pool!, 'snapshots', pulled)), walOf(snapshot).filter((p) => listed.has(p)));
  e.ok('branch', 'create', 'back', '--container', 'review', '--from-bookmark', second.bookmark.id, '--activate');
  assert.deepEqual(await e.checksum('review'), data);
  assert.deepEqual((await amcheck(e.ok<ConnectionInfo>('container', 'url', 'review').url)).problems, []);
  await e.sql('review', 'ALTER SYSTEM RESET wal_keep_size');
  await e.sql('review', 'SELECT pg_reload_conf()');
}

/** WAL segments written to their end: switched away from, each after a write. */
async function finishWalSegments(e: TestEngine): Promise<void> {
  for (let i = 0; i < 2; i++) await e.sql('review', 'CREATE TABLE IF NOT EXISTS wal_mark (at timestamptz); INSERT INTO wal_mark VALUES (now()); SELECT pg_switch_wal()');
}

/** The WAL segment files of a snapshot's folder. */
const walOf = (dir: string) => fs.readdirSync(path.join(dir, 'pg_wal')).filter((n) => /^[0-9A-F]{24}$/.test(n)).map((n) => `pg_wal/${n}`).sort();

/**
 * The WAL segments of a pushed snapshot its file list (kept by the engine at `listFile`) leaves
 * out. Each either ends by the redo point of the snapshot's pg_control, or starts past its last
 * checkpoint with a first page that names another place (a segment made ahead of time): no
 * copy reads it.
 */
function walLeftOut(e: TestEngine, listFile: string): { snapshot: string; listed: Set<string>; leftOut: string[]; ahead: number } {
  const name = path.basename(listFile);
  const snapshot = path.join(e.pool!, 'snapshots', name.slice(0, name.indexOf('.')));
  const hash = name.slice(name.indexOf('.') + 1, -'.gz'.length);
  const listed = new Set(decodeFiles(hash, fs.readFileSync(listFile)).entries.map((f) => f.path));
  const control = parseControlFile(fs.readFileSync(path.join(snapshot, 'global/pg_control')))!;
  const leftOut = walOf(snapshot).filter((p) => !listed.has(p));
  let ahead = 0;
  for (const p of leftOut) {
    const size = fs.statSync(path.join(snapshot, p)).size;
    const start = segmentStart(p, size)!;
    if (start + BigInt(size) <= control.redo) continue;
    const pageAddress = fs.readFileSync(path.join(snapshot, p)).readBigUInt64LE(8);
    assert.ok(start > control.checkPoint && pageAddress !== start, `${p} was left out, but a copy reads it`);
    ahead++;
  }
  return { snapshot, listed, leftOut, ahead };
}

test('btrfs: a push after a small change reads only what differs on disk from the last pushed bookmark', async (t) => {
  if (!btrfs) return t.skip(`engine B runs the blocks driver: ${btrfsSkip}`);
  await pushesAfterSmallChange(b, 'btrfs', 'kept');
});

test('XFS reflink: a push after a small change reads only what differs on disk from the last pushed bookmark', async (t) => {
  const xfs = await mountLoopFs('xfs', 2048);
  if ('skip' in xfs) return t.skip(xfs.skip);
  const c = await startEngine(S3_ENV, 'reflink', `${xfs.dir}/pool`);
  try {
    addRemote(c);
    c.ok('bookmark', 'pull', 'bug 1234 later', '--remote', 'team');
    c.ok('container', 'create', 'review', '--template', 'employees');
    c.ok('branch', 'create', 'later', '--container', 'review', '--from-bookmark', 'bug 1234 later', '--activate');
    await pushesAfterSmallChange(c, 'xfs', 'remote');
  } finally {
    await c.stop();
    await xfs.cleanup();
  }
});

test('a reviewer on another engine opens a link that names the remote: pulled, then branched, byte for byte', async () => {
  const { link } = a.ok<{ link: string }>('bookmark', 'link', 'bug 1234', '--remote', 'team');
  assert.match(link, /&remote=s3%3A%2F%2Fslipstream-test%2Fqa%2F&endpoint=http%3A%2F%2F127\.0\.0\.1%3A\d+$/);
  const d = await startEngine(S3_ENV, 'blocks');
  try {
    const unknown = d.cli('open', link, '--container', 'review');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /which this engine does not know\. Add it .*slipstream remote add NAME s3:\/\/slipstream-test\/qa\/ --endpoint http/);
    assert.deepEqual(d.ok<BookmarkInfo[]>('bookmark', 'list'), []);
    addRemote(d, 'shared');
    const br = d.ok<BranchInfo>('open', link, '--container', 'review');
    assert.equal(br.active, true);
    assert.deepEqual(await d.checksum('review'), bugData);
    assert.deepEqual((await amcheck(d.ok<ConnectionInfo>('container', 'url', 'review').url)).problems, []);
    const [bm] = d.ok<BookmarkInfo[]>('bookmark', 'list');
    assert.deepEqual([bm.name, bm.pulled?.remote, bm.template], ['bug 1234', 'shared', 'employees']);
  } finally {
    await d.stop();
  }
});

test('an encrypted remote holds nothing readable; another engine pulls with the key, and not without it', async () => {
  a.ok('remote', 'add', 'sealed', `s3://${BUCKET}/sealed`, '--endpoint', s3.endpoint, '--encrypt');
  const pushed = a.ok<TransferInfo>('bookmark', 'push', 'bug 1234', '--remote', 'sealed');
  assert.ok(pushed.chunksMoved > 0);
  const objects = s3.objects('sealed/');
  assert.ok(objects.some((k) => k.startsWith('sealed/packs/')) && objects.some((k) => k.startsWith('sealed/bookmarks/')));
  for (const k of objects.filter((x) => !x.endsWith('slipstream-remote.json'))) {
    const bytes = fs.readFileSync(s3.objectFile(k));
    // Pack indexes stay JSON: the names in them are keyed hashes, which tell the store nothing.
    const secrets = ['orders vanish', 'bug 1234', 'employees', ...(k.endsWith('.idx') ? [] : ['"format"'])];
    for (const plain of secrets) assert.ok(!bytes.includes(plain), `${k} holds "${plain}"`);
  }
  const { key } = a.ok<{ key: string }>('remote', 'key', 'sealed');
  assert.match(key, /^[A-Za-z0-9+/]{43}=$/);

  const e = await startEngine(S3_ENV, 'blocks');
  try {
    const args = ['remote', 'add', 'sealed', `s3://${BUCKET}/sealed`, '--endpoint', s3.endpoint];
    assert.match(e.fails('RemoteFailed', ...args).message, /the remote is encrypted, and this engine has no key for it/);
    const wrong = path.join(e.home, 'wrong.key');
    fs.writeFileSync(wrong, Buffer.alloc(32, 7).toString('base64'));
    assert.match(e.fails('RemoteFailed', ...args, '--key-file', wrong).message, /not the one its bookmarks were sealed with/);
    assert.match(e.fails('RemoteFailed', 'remote', 'add', 'plain', `s3://${BUCKET}/qa`, '--endpoint', s3.endpoint, '--encrypt').message,
      /holds unencrypted bookmarks/);
    assert.deepEqual(e.ok<RemoteInfo[]>('remote', 'list'), []);
    const right = path.join(e.home, 'right.key');
    fs.writeFileSync(right, `${key}\n`);
    assert.equal(e.ok<RemoteInfo>(...args, '--key-file', right).encrypted, true);
    assert.deepEqual(e.ok<RemoteBookmarkInfo[]>('bookmark', 'list', '--remote', 'sealed').map((x) => x.note), ['orders vanish']);
    e.ok('bookmark', 'pull', 'bug 1234', '--remote', 'sealed');
    e.ok('container', 'create', 'review', '--template', 'employees');
    e.ok('branch', 'create', 'bug', '--container', 'review', '--from-bookmark', 'bug 1234', '--activate');
    assert.deepEqual(await e.checksum('review'), bugData);
  } finally {
    await e.stop();
    a.ok('remote', 'remove', 'sealed');
  }
});

/** What a pull that did not finish must leave: no bookmark, no template, no volume, no snapshot. */
function nothingPulled(e: TestEngine): void {
  assert.deepEqual(e.ok<BookmarkInfo[]>('bookmark', 'list'), []);
  assert.deepEqual(e.ok<TemplateInfo[]>('template', 'list'), []);
  for (const dir of ['volumes', 'snapshots', 'chunks/packs']) assert.deepEqual(fs.readdirSync(path.join(e.home, 'pool', dir)), [], `pool/${dir} is empty`);
}

test('kill -9 of a pull, and Ctrl-C of another: each leaves nothing behind, and the next pull completes', async () => {
  const e = await startEngine({ ...S3_ENV, SLIPSTREAM_FAULT: 'bookmark-pull:after-capture' }, 'blocks');
  try {
    addRemote(e);
    const died = e.cli('bookmark', 'pull', 'bug 1234', '--remote', 'team');
    assert.equal((died.json as { error?: { code: string } }).error?.code, 'ConnectionLost', died.stdout);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(e.cliWith({ ...S3_ENV, SLIPSTREAM_STALL: 'bookmark-pull:after-capture', SLIPSTREAM_STALL_MS: '4000' }, 'engine', 'start').code, 0);
    nothingPulled(e); // recovery dropped what the pull had written

    const child = spawn(process.execPath, [CLI, '--home', e.home, '--json', 'bookmark', 'pull', 'bug 1234', '--remote', 'team'],
      { env: { ...process.env, SLIPSTREAM_HOME: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const logFile = path.join(e.home, 'engine.log');
    for (const end = Date.now() + 60_000; !fs.readFileSync(logFile, 'utf8').includes('fault point bookmark-pull:after-capture: stalling');) {
      assert.ok(Date.now() < end, 'the pull never reached its last step');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    await e.idle();
    await new Promise((r) => setTimeout(r, 4500)); // the stalled pull wakes, sees the cancel, and rolls back
    nothingPulled(e);

    const t = e.ok<TransferInfo>('bookmark', 'pull', 'bug 1234', '--remote', 'team');
    assert.equal(t.templateMoved, true);
    e.ok('container', 'create', 'review', '--template', 'employees');
    e.ok('branch', 'create', 'bug', '--container', 'review', '--from-bookmark', 'bug 1234', '--activate');
    assert.deepEqual(await e.checksum('review'), bugData);
    // On blocks, the next pull fetches only the chunks its pool lacks.
    const later = e.ok<TransferInfo>('bookmark', 'pull', 'bug 1234 later', '--remote', 'team');
    assert.ok(later.chunksMoved < later.chunks / 10, `${later.chunksMoved} of ${later.chunks} chunks came over the network`);
    // And no volume is written: the snapshot is made from the list, with only the chunks the pool lacked stored.
    const made = [...fs.readFileSync(path.join(e.home, 'engine.log'), 'utf8').matchAll(/made from a list of \d+ entries, with the (\d+) chunks the store lacked/g)];
    assert.equal(Number(made[made.length - 1]?.[1]), later.chunksMoved);
    e.ok('branch', 'create', 'later', '--container', 'review', '--from-bookmark', 'bug 1234 later', '--activate');
    assert.deepEqual(await e.checksum('review'), await a.checksum('qa'));
    assert.deepEqual((await amcheck(e.ok<ConnectionInfo>('container', 'url', 'review').url)).problems, []);
  } finally {
    await e.stop();
  }
});

test('a laptop engine run by an ordinary user opens a remote link: data intact, files its own', { skip: ordinaryUserSkip() }, async () => {
  const { dir, me, uid } = ordinaryUserSite();
  try {
    assert.equal(me.cliWith(S3_ENV, 'engine', 'start', '--driver', 'blocks').code, 0);
    me.ok('remote', 'add', 'team', `s3://${BUCKET}/qa`, '--endpoint', s3.endpoint);
    const { link } = a.ok<{ link: string }>('bookmark', 'link', 'bug 1234', '--remote', 'team');
    me.ok('open', link, '--container', 'review');
    const { url } = me.ok<ConnectionInfo>('container', 'url', 'review');
    assert.deepEqual(await tableChecksumsAt(url), bugData);
    assert.deepEqual((await amcheck(url)).problems, []);
    const foreign = spawnSync('find', [me.home, '-not', '-uid', String(uid)], { encoding: 'utf8' }).stdout.trim();
    assert.equal(foreign, '', 'every file of the home is the user\'s');
  } finally {
    me.cli('engine', 'stop');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad credentials, a missing bucket and bad remotes give clear errors and change nothing', async () => {
  const c = await startEngine({ ...S3_ENV, AWS_ACCESS_KEY_ID: 'nobody' }, 'blocks');
  try {
    const creds = c.fails('RemoteFailed', 'remote', 'add', 'team', `s3://${BUCKET}/qa`, '--endpoint', s3.endpoint);
    assert.match(creds.message, /refused the engine's credentials .*AWS_ACCESS_KEY_ID/);
    const bucket = a.fails('RemoteFailed', 'remote', 'add', 'gone', 's3://no-such-bucket/x', '--endpoint', s3.endpoint);
    assert.match(bucket.message, /the bucket "no-such-bucket" does not exist/);
    assert.deepEqual(c.ok<RemoteInfo[]>('remote', 'list'), []);
    assert.deepEqual(a.ok<RemoteInfo[]>('remote', 'list').map((r) => r.name), ['team']);
    for (const [args, pattern] of [
      [['remote', 'add', 'x', 'http://bucket'], /expected s3:\/\/BUCKET/],
      [['remote', 'add', 'x', 's3://B'], /is not a bucket name/],
      [['remote', 'add', 'x', `s3://${BUCKET}/a/../b`], /"\.\." segment/],
      [['remote', 'add', 'x', `s3://${BUCKET}`, '--endpoint', 'http://key:secret@127.0.0.1:1'], /must not carry credentials/],
      [['remote', 'add', 'team', `s3://${BUCKET}/qa`, '--endpoint', s3.endpoint], /exists already/],
      [['bookmark', 'pull', 'bm_000000000000', '--remote', 'team'], /holds no bookmark bm_000000000000/],
      [['bookmark', 'pull', 'bug 1234', '--remote', 'nowhere'], /remote "nowhere" not found/],
    ] as const) {
      const r = a.cli(...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, pattern);
    }
    assert.deepEqual(a.ok<RemoteInfo[]>('remote', 'list').map((r) => r.name), ['team']);
  } finally {
    await c.stop();
  }
});

test('a corrupted object on the remote is caught by its hash on pull, and nothing is kept', async () => {
  const c = await startEngine(S3_ENV, 'blocks');
  try {
    addRemote(c);
    const packs = s3.objects('qa/packs/').filter((k) => k.endsWith('.pack'));
    const victim = packs.map((k) => s3.objectFile(k)).sort((x, y) => fs.statSync(y).size - fs.statSync(x).size)[0];
    const original = fs.readFileSync(victim);
    const damaged = Buffer.from(original);
    for (let i = 100; i < damaged.length; i += 4096) damaged[i] ^= 0x5a;
    fs.writeFileSync(victim, damaged);
    try {
      const err = c.fails('RemoteFailed', 'bookmark', 'pull', 'bug 1234', '--remote', 'team');
      assert.match(err.message, /is damaged \(chunk [0-9a-f]{12} does not match its hash\)/);
      assert.deepEqual(c.ok<BookmarkInfo[]>('bookmark', 'list'), []);
      assert.deepEqual(c.ok<TemplateInfo[]>('template', 'list'), []);
      for (const dir of ['volumes', 'snapshots', 'chunks/packs']) assert.deepEqual(fs.readdirSync(path.join(c.home, 'pool', dir)), [], `the pull left nothing in pool/${dir}`);
    } finally {
      fs.writeFileSync(victim, original);
    }
    const t = c.ok<TransferInfo>('bookmark', 'pull', 'bug 1234', '--remote', 'team');
    assert.equal(t.bookmark.name, 'bug 1234');
  } finally {
    await c.stop();
  }
});

test('a full remote refuses the push with NoSpace, and nothing shows there or changes here', async () => {
  // s3rver itself dies when its disk fills (an unhandled ENOSPC), so its process refuses writes
  // past a quota instead, with the answer Ceph RGW gives (403 QuotaExceeded).
  const full = await S3Server.start({ quotaBytes: 8 * 2 ** 20 });
  try {
    a.ok('remote', 'add', 'small', `s3://${BUCKET}/qa`, '--endpoint', full.endpoint);
    const before = a.ok<BookmarkInfo[]>('bookmark', 'list');
    const err = a.fails('NoSpace', 'bookmark', 'push', 'bug 1234', '--remote', 'small');
    assert.match(err.message, /is full/);
    assert.deepEqual(full.objects('qa/bookmarks/'), []);
    assert.deepEqual(a.ok<BookmarkInfo[]>('bookmark', 'list'), before);
  } finally {
    a.cli('remote', 'remove', 'small');
    await full.stop();
    fs.rmSync(full.dir, { recursive: true, force: true });
  }
});
