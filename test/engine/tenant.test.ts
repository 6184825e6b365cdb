import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { ConnectionInfo, ContainerInfo } from '../../server/protocol';
import { FIXTURES } from '../support/engine';
import { Remote, sqlAt, startTeamEngine, type TeamEngine } from '../support/team';

/**
 * A hostile tenant (issue 10, findings 2 and 3 and the runtime directory): qa is
 * superuser in qa's own database and plants authority in a shared bookmark.
 * Whoever branches from it gets qa's data, never qa's roles, server settings or
 * code that runs by itself. The converse holds too: what dev sets up in dev's
 * own container survives dev's own bookmarks, switches and restores.
 */
let t: TeamEngine;
let qa: Remote;
let dev: Remote;
const tag = crypto.randomBytes(4).toString('hex');
/** Every planted command appends its working directory (its cluster's data directory) here. */
const proof = `/tmp/slip-tenant-proof-${tag}`;
const EVIL_PASSWORD = 'evil-pass-1';

before(async () => {
  t = await startTeamEngine();
  const admin = new Remote(t.e, t.url, t.adminToken);
  qa = new Remote(t.e, t.url, admin.ok<{ token: string }>('user', 'add', 'qa').token);
  dev = new Remote(t.e, t.url, admin.ok<{ token: string }>('user', 'add', 'dev').token);
  // World-writable, as an attacker would leave it, so a planted command can append from any cluster.
  fs.writeFileSync(proof, '');
  fs.chmodSync(proof, 0o666);
  admin.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  qa.ok('container', 'create', 'qa-box', '--template', 'employees');
  dev.ok('container', 'create', 'dev-box', '--template', 'employees');
  await dev.sql('dev-box', `INSERT INTO employees (first_name, last_name) VALUES ('dev', 'own row')`);
});
after(async () => {
  await t?.e.destroy();
  fs.rmSync(proof, { force: true });
});

/** Run a shell command as the cluster's OS user; it reads its input so the pipe never breaks. */
const ran = (cmd: string) => `COPY (SELECT 1) TO PROGRAM ${literal(`cat >/dev/null; ${cmd}`)}`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
const urlOf = (who: Remote, box: string) => who.ok<ConnectionInfo>('container', 'url', box);
const asRole = (port: number, role: string, password: string) => `postgres://${role}:${password}@127.0.0.1:${port}/postgres`;
const dataDir = async (who: Remote, box: string) => (await who.sql<{ d: string }>(box, `SELECT current_setting('data_directory') AS d`))[0].d;
const proofLines = () => (fs.existsSync(proof) ? fs.readFileSync(proof, 'utf8').split('\n').filter(Boolean) : []);

test('qa plants a login role, server settings, role settings and a login event trigger, and shares the bookmark', async () => {
  await qa.sql('qa-box', `CREATE ROLE evil SUPERUSER LOGIN PASSWORD ${literal(EVIL_PASSWORD)}`);
  // A role whose code would run programs through what it is a member of.
  await qa.sql('qa-box', 'CREATE ROLE helper NOLOGIN; GRANT pg_execute_server_program, postgres TO helper');
  await qa.sql('qa-box', `ALTER SYSTEM SET archive_mode = on`);
  await qa.sql('qa-box', `ALTER SYSTEM SET archive_command = ${literal(`pwd >> ${proof}; true`)}`);
  await qa.sql('qa-box', `ALTER SYSTEM SET archive_timeout = 1`);
  await qa.sql('qa-box', `ALTER ROLE postgres SET session_preload_libraries = 'plpgsql'`);
  await qa.sql('qa-box', `ALTER ROLE postgres SET dynamic_library_path = '/tmp:$libdir'`);
  await qa.sql('qa-box', `CREATE FUNCTION public.on_login() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN EXECUTE ${literal(ran(`pwd >> ${proof}`))}; END $$`);
  await qa.sql('qa-box', 'CREATE EVENT TRIGGER on_login ON login EXECUTE FUNCTION public.on_login()');
  await qa.sql('qa-box', 'SELECT 1');
  qa.ok('bookmark', 'create', 'planted', '--container', 'qa-box');
  qa.ok('bookmark', 'share', 'planted');
  assert.ok(proofLines().length > 0, "the planted trigger runs in qa's own database, or this test proves nothing");
});

test("dev branches from qa's bookmark: qa cannot log in to dev's database as the planted role", async () => {
  dev.ok('branch', 'create', 'planted', '--container', 'dev-box', '--from-bookmark', 'planted', '--activate');
  const { port } = urlOf(dev, 'dev-box');
  await assert.rejects(sqlAt(asRole(port, 'evil', EVIL_PASSWORD), 'SELECT 1'), /not permitted to log in|password authentication failed/);
  const roles = await dev.sql<{ rolname: string; rolcanlogin: boolean; haspw: boolean }>('dev-box',
    `SELECT rolname, rolcanlogin, rolpassword IS NOT NULL AS haspw FROM pg_authid WHERE rolname = 'evil'`);
  assert.deepEqual(roles, [{ rolname: 'evil', rolcanlogin: false, haspw: false }], 'the role is data; its login is gone');
  const powers = await dev.sql('dev-box', `SELECT r.rolname, r.rolsuper, g.rolname AS member_of FROM pg_authid r
    LEFT JOIN pg_auth_members m ON m.member = r.oid LEFT JOIN pg_authid g ON g.oid = m.roleid
    WHERE r.rolname IN ('evil', 'helper') ORDER BY 1, 3`);
  assert.deepEqual(powers, [{ rolname: 'evil', rolsuper: false, member_of: null }, { rolname: 'helper', rolsuper: false, member_of: null }]);
  // qa's own container password, which qa's pg_authid carried, does not open dev's database either.
  const qaPassword = urlOf(qa, 'qa-box').password;
  await assert.rejects(sqlAt(asRole(port, 'postgres', encodeURIComponent(qaPassword)), 'SELECT 1'), /password authentication failed/);
});

test("nothing qa planted runs in dev's database: no archive command, no preload library, no login trigger", async () => {
  const devDir = await dataDir(dev, 'dev-box');
  await dev.sql('dev-box', `CREATE TABLE wal_churn AS SELECT g FROM generate_series(1, 1000) g`);
  await dev.sql('dev-box', 'SELECT pg_switch_wal()');
  // archive_timeout = 1 would archive within seconds: give it five.
  for (let i = 0; i < 10 && !proofLines().includes(devDir); i++) await new Promise((r) => setTimeout(r, 500));
  console.log(`planted commands ran ${proofLines().length} times, ${proofLines().filter((l) => l === devDir).length} of them in dev's cluster (${devDir}): ${[...new Set(proofLines())].join(", ")}`);
  assert.deepEqual(proofLines().filter((l) => l === devDir), [], "qa's command ran in dev's cluster");
  const show = async (name: string) => (await dev.sql<Record<string, string>>('dev-box', `SHOW ${name}`))[0][name];
  // Archiving is the engine's: into the branch's own span folder (walArchive.ts), with no command.
  assert.equal(await show('archive_mode'), 'on');
  assert.equal(await show('archive_library'), 'basic_archive');
  assert.match(await show('basic_archive.archive_directory'), /\/wal\/span_[0-9a-f]+$/);
  assert.match(await show('archive_command'), /^(|\(disabled\))$/);
  assert.equal(await show('session_preload_libraries'), '');
  assert.equal(await show('dynamic_library_path'), '$libdir');
  const trig = await dev.sql<{ evtenabled: string }>('dev-box', `SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'on_login'`);
  assert.deepEqual(trig, [{ evtenabled: 'D' }], 'the login event trigger is disabled');
  const settings = await dev.sql<{ n: string }>('dev-box', 'SELECT count(*) AS n FROM pg_db_role_setting');
  assert.equal(settings[0].n, '0', 'the planted role settings are gone');
  const auto = await dev.sql<{ n: string }>('dev-box', `SELECT count(*) AS n FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'`);
  assert.equal(auto[0].n, '0', 'postgresql.auto.conf is empty');
  const rows = await dev.sql<{ n: string }>('dev-box', `SELECT count(*) AS n FROM employees`);
  assert.ok(Number(rows[0].n) > 0, "qa's data arrived");
});

test("dev's own role and ALTER SYSTEM setting survive dev's own bookmark, switch and restore", async () => {
  dev.ok('branch', 'activate', 'main', '--container', 'dev-box');
  const own = await dev.sql<{ n: string }>('dev-box', `SELECT count(*) AS n FROM employees WHERE first_name = 'dev'`);
  assert.equal(own[0].n, '1', "dev's own data is intact");
  await dev.sql('dev-box', `CREATE ROLE devapp LOGIN PASSWORD 'devapp-pass'`);
  await dev.sql('dev-box', `ALTER SYSTEM SET work_mem = '7MB'`);
  await dev.sql('dev-box', `ALTER ROLE devapp SET statement_timeout = '7min'`);
  dev.ok('bookmark', 'create', 'tuned', '--container', 'dev-box');
  dev.ok('branch', 'activate', 'planted', '--container', 'dev-box');
  dev.ok('branch', 'activate', 'main', '--container', 'dev-box');
  await dev.sql('dev-box', 'DROP ROLE devapp');
  dev.ok('restore', 'tuned', '--container', 'dev-box');
  const { port } = urlOf(dev, 'dev-box');
  const r = await sqlAt(asRole(port, 'devapp', 'devapp-pass'), 'SHOW statement_timeout');
  assert.deepEqual(r, [{ statement_timeout: '7min' }]);
  assert.deepEqual(await dev.sql('dev-box', 'SHOW work_mem'), [{ work_mem: '7MB' }]);
});

test('kill -9 after foreign data started and before it is sanitised: it stays sealed, and the next start sanitises it', async () => {
  const { port } = urlOf(dev, 'dev-box');
  const qaPassword = urlOf(qa, 'qa-box').password;
  const pid = dev.ok<{ pid: number }>('engine', 'status').pid;
  process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  const listen = ['--driver', 'blocks', '--listen', `127.0.0.1:${t.port}`];
  const started = t.e.cliWith({ SLIPSTREAM_FAULT: 'start:before-sanitise' }, 'engine', 'start', ...listen);
  assert.equal(started.code, 0, started.stderr);
  const r = dev.cli('branch', 'create', 'planted-again', '--container', 'dev-box', '--from-bookmark', 'planted', '--activate');
  assert.notEqual(r.code, 0, 'the engine died at start:before-sanitise');
  await new Promise((res) => setTimeout(res, 300));
  // The engine is down and qa's data runs unsanitised, with qa's pg_authid: nobody gets in over TCP.
  await assert.rejects(sqlAt(asRole(port, 'evil', EVIL_PASSWORD), 'SELECT 1'), /no pg_hba.conf entry/);
  await assert.rejects(sqlAt(asRole(port, 'postgres', encodeURIComponent(qaPassword)), 'SELECT 1'), /no pg_hba.conf entry/);
  t.e.ok('engine', 'start', ...listen);
  await assert.rejects(sqlAt(asRole(port, 'evil', EVIL_PASSWORD), 'SELECT 1'), /not permitted to log in|password authentication failed/);
  assert.deepEqual(await dev.sql('dev-box', `SELECT rolcanlogin FROM pg_authid WHERE rolname = 'evil'`), [{ rolcanlogin: false }]);
});

// The engine connects as root to the socket in the container's runtime directory, which the
// container's user can change: a symlink there to another container's socket must get nothing.
test("a socket swapped for a symlink to another container's socket: the engine sets no password there", async (tt) => {
  if (process.getuid?.() !== 0) return tt.skip('needs root: only a root engine runs a container as an OS user of its own');
  // Adopting running databases, the engine visits containers in id order: the attacker is the
  // later one, so nothing sets the victim's password back afterwards.
  const boxes = [{ who: qa, box: 'qa-box' }, { who: dev, box: 'dev-box' }]
    .map((b) => ({ ...b, id: b.who.ok<ContainerInfo>('container', 'show', b.box).id })).sort((a, b) => (a.id < b.id ? -1 : 1));
  const [victim, attacker] = boxes;
  const socketOf = async (b: typeof victim) => {
    const [{ d }] = await b.who.sql<{ d: string }>(b.box, `SELECT current_setting('unix_socket_directories') AS d`);
    return path.join(d, `.s.PGSQL.${urlOf(b.who, b.box).port}`);
  };
  const target = await socketOf(victim);
  await attacker.who.sql(attacker.box, ran(`ln -sfn ${target} ${await socketOf(attacker)}`));
  const pid = attacker.who.ok<{ pid: number }>('engine', 'status').pid;
  process.kill(pid, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  t.e.ok('engine', 'start', '--driver', 'blocks', '--listen', `127.0.0.1:${t.port}`);
  const victimUrl = urlOf(victim.who, victim.box);
  const attackerPassword = urlOf(attacker.who, attacker.box).password;
  await assert.rejects(sqlAt(asRole(victimUrl.port, 'postgres', encodeURIComponent(attackerPassword)), 'SELECT 1'),
    /password authentication failed/, "the engine set the attacker's password on the victim's database");
  assert.deepEqual(await sqlAt(victimUrl.url, 'SELECT 1 AS ok'), [{ ok: 1 }]);
  const log = fs.readFileSync(path.join(t.e.home, 'engine.log'), 'utf8');
  console.log(log.split('\n').filter((l) => l.includes('is not the database of')).slice(-1)[0] ?? 'no refusal logged');
});

// Before this fix the runtime directory (pg_hba.conf, postgres.log, the socket) belonged to
// the container's OS user, and root wrote and read those files by path.
test('a symlink planted in the runtime directory is not followed by root', async (tt) => {
  if (process.getuid?.() !== 0) return tt.skip('needs root: only a root engine runs a container as an OS user of its own');
  qa.ok('container', 'create', 'qa-links', '--template', 'employees');
  const victim = `/tmp/slip-tenant-victim-${tag}`;
  const secret = `/tmp/slip-tenant-secret-${tag}`;
  fs.writeFileSync(victim, 'victim\n', { mode: 0o600 });
  fs.writeFileSync(secret, `TOPSECRET-${tag}\n`, { mode: 0o600 });
  try {
    const hba = (await qa.sql<{ f: string }>('qa-links', `SELECT current_setting('hba_file') AS f`))[0].f;
    const log = path.join(path.dirname(hba), 'postgres.log');
    await qa.sql('qa-links', ran(`ln -sfn ${victim} ${hba} 2>/dev/null; ln -sfn ${secret} ${log} 2>/dev/null; true`));
    const planted = [hba, log].filter((f) => fs.lstatSync(f).isSymbolicLink()).length;
    qa.ok('branch', 'create', 'other', '--container', 'qa-links', '--from-template');
    const r = qa.cli('branch', 'activate', 'other', '--container', 'qa-links');
    console.log(`symlinks the container's user could plant: ${planted} of 2; switch exit ${r.code}`);
    assert.ok(!(r.stdout + r.stderr).includes(`TOPSECRET-${tag}`), `root echoed a root-only file: ${r.stderr}`);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'victim\n', 'root wrote through a planted pg_hba.conf symlink');
    assert.equal(fs.statSync(victim).uid, 0, 'root gave a file away through a planted symlink');
    assert.equal(fs.lstatSync(hba).isSymbolicLink(), false);
    assert.equal(fs.statSync(path.dirname(hba)).uid, 0, 'the runtime directory belongs to root');
  } finally {
    fs.rmSync(victim, { force: true });
    fs.rmSync(secret, { force: true });
  }
});

// A restore to a moment writes recovery.signal into a copy of the tenant's data, where any name
// may already be a link the tenant left before the bookmark.
test('a recovery.signal symlink in the data is replaced, not written through, by a restore to a moment', async (tt) => {
  if (process.getuid?.() !== 0) return tt.skip('needs root: only a root engine runs a container as an OS user of its own');
  qa.ok('container', 'create', 'qa-signal', '--template', 'employees');
  const victim = `/tmp/slip-tenant-signal-${tag}`;
  fs.writeFileSync(victim, 'victim\n', { mode: 0o600 });
  try {
    const signal = path.join(await dataDir(qa, 'qa-signal'), 'recovery.signal');
    // The link dangles for the tenant's user (it cannot read the root-only file), yet names it.
    await qa.sql('qa-signal', ran(`ln -sfn ${victim} ${signal}`));
    assert.ok(fs.lstatSync(signal).isSymbolicLink(), 'the container\'s user could not plant the link');
    qa.ok('bookmark', 'create', 'with-link', '--container', 'qa-signal');
    await qa.sql('qa-signal', `INSERT INTO employees (first_name, last_name) VALUES ('by', 'moment')`);
    await new Promise((r) => setTimeout(r, 50));
    const moment = new Date().toISOString();
    await qa.sql('qa-signal', `DELETE FROM employees WHERE first_name = 'by'`);
    qa.ok('restore', '--at', moment, '--container', 'qa-signal');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'victim\n', 'root wrote through a planted recovery.signal');
    assert.equal(fs.statSync(victim).uid, 0, 'root gave a file away through a planted recovery.signal');
    const back = await qa.sql<{ n: string }>('qa-signal', `SELECT count(*) AS n FROM employees WHERE first_name = 'by'`);
    assert.equal(Number(back[0].n), 1, 'the restore to the moment did not bring the row back');
  } finally {
    fs.rmSync(victim, { force: true });
  }
});
