import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { TemplateInfo } from '../../server/protocol';
import { TestEngine } from '../support/engine';
import { pg15Missing, startPg15, type LivePostgres } from '../support/pg15';

/** Templates from every kind of source, through the CLI and a real engine. */
let e: TestEngine;
let prod: LivePostgres | undefined;
const missing = pg15Missing();

before(async () => {
  e = await TestEngine.start();
  if (!missing) {
    prod = await startPg15();
    await prod.sql(`CREATE TABLE orders (id serial PRIMARY KEY, item text, qty int);
      INSERT INTO orders (item, qty) SELECT 'item ' || i, i FROM generate_series(1, 1000) i;`);
  }
});
after(async () => { prod?.stop(); await e?.destroy(); });

test('a template from a live PostgreSQL 15 (production), through pg_dump', async (t) => {
  if (missing || !prod) return t.skip(missing);
  const tpl = e.ok<TemplateInfo>('template', 'create', 'prod', '--url', prod.url);
  assert.equal(tpl.latestVersion, 1);
  assert.doesNotMatch(JSON.stringify(tpl.source), /prod-secret/, 'the password is not shown back');
  e.ok('container', 'create', 'from-prod', '--template', 'prod');
  const [row] = await e.sql<{ n: string; s: string }>('from-prod', 'SELECT count(*) AS n, sum(qty) AS s FROM orders');
  assert.deepEqual(row, { n: '1000', s: '500500' });

  // Production moves on; a template refresh picks it up, the container only when its owner refreshes.
  await prod.sql(`INSERT INTO orders (item, qty) VALUES ('new', 1)`);
  e.ok('template', 'refresh', 'prod');
  assert.equal((await e.sql<{ n: string }>('from-prod', 'SELECT count(*) AS n FROM orders'))[0].n, '1000');
  e.ok('refresh', '--container', 'from-prod');
  assert.equal((await e.sql<{ n: string }>('from-prod', 'SELECT count(*) AS n FROM orders'))[0].n, '1001');
});

test('an empty template, and one seeded by a command with DATABASE_URL set', async () => {
  e.ok('template', 'create', 'blank', '--empty');
  e.ok('container', 'create', 'blank', '--template', 'blank');
  assert.deepEqual(await e.sql('blank', `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`), []);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-cmd-'));
  const script = path.join(dir, 'seed.js');
  fs.writeFileSync(script, `const { Client } = require(${JSON.stringify(require.resolve('pg'))});
    const c = new Client({ connectionString: process.env.DATABASE_URL });
    c.connect().then(() => c.query("CREATE TABLE seeded (who text); INSERT INTO seeded VALUES ('" + process.env.PGUSER + "')")).then(() => c.end());`);
  e.ok('template', 'create', 'seeded', '--command', `'${process.execPath}' '${script}'`);
  e.ok('container', 'create', 'seeded', '--template', 'seeded');
  assert.deepEqual(await e.sql('seeded', 'SELECT who FROM seeded'), [{ who: 'postgres' }]);
});

test('a source that fails halfway leaves no template behind', () => {
  const err = e.fails('SourceFailed', 'template', 'create', 'bad-cmd', '--command', 'exit 3');
  assert.match(err.message, /3/);
  assert.ok(!e.ok<TemplateInfo[]>('template', 'list').some((t) => t.name === 'bad-cmd'));
});
