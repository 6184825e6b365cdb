/** server/common/redact.ts and sources.ts: the one masking rule and the source descriptions built on it (issue 14). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { hideSecrets, MASK } from '../../server/common/redact';
import { describeSource, shownSource, sourceSummary } from '../../server/common/sources';

const token = 'slp_' + 'S3cr3t-T0ken_'.repeat(4).slice(0, 43);

test('passwords in URLs are masked; the user name stays', () => {
  assert.equal(MASK, '****');
  assert.equal(hideSecrets('postgres://app:s3cr%40t@db.example:5432/prod'), 'postgres://app:****@db.example:5432/prod');
  assert.equal(hideSecrets('DATABASE_URL=postgres://a:b@h/d npm run seed'), 'DATABASE_URL=postgres://a:****@h/d npm run seed');
  assert.equal(hideSecrets('from postgresql://u:p@h1:5432,h2:5433/db and mysql://root:x@db/y'),
    'from postgresql://u:****@h1:5432,h2:5433/db and mysql://root:****@db/y');
  assert.equal(hideSecrets('postgres://u:p?ss#w@h/d'), 'postgres://u:****@h/d', 'a password with ? or # is masked whole');
  assert.equal(hideSecrets('postgres://:pw@h/d'), 'postgres://:****@h/d');
});

test('user info without a password is hidden whole: that is where tokens go', () => {
  assert.equal(hideSecrets('https://ghp_abcdef@github.com/o/r.git'), 'https://****@github.com/o/r.git');
  assert.equal(hideSecrets(`tcp://${token}@team:7370`), 'tcp://****@team:7370');
});

test('secret query and key=value parameters are masked, wherever they are', () => {
  assert.equal(hideSecrets('postgresql://db/prod?user=a&password=hunter2'), 'postgresql://db/prod?user=a&password=****');
  assert.equal(hideSecrets('postgresql://db/prod?password=a#b;c&sslmode=require'), 'postgresql://db/prod?password=****&sslmode=require');
  assert.equal(hideSecrets('tcp://team:7370?token=abc&x=1'), 'tcp://team:7370?token=****&x=1');
  assert.equal(hideSecrets('not a link, PWD=hunter2 or secret=x; key=y auth=z'), 'not a link, PWD=**** or secret=**** key=**** auth=****');
  assert.equal(hideSecrets('sslmode=require user=app'), 'sslmode=require user=app', 'what is not secret stays');
});

test('tokens and percent-encoded URLs (an engine URL inside a link) are masked', () => {
  assert.equal(hideSecrets(`pasted ${token} here`), 'pasted slp_**** here');
  const inLink = `vscode://slipstream.slipstream/bookmark?engine=${encodeURIComponent('tcp://admin:hunter2@team:7370')}&id=bm_0123456789ab`;
  assert.equal(hideSecrets(inLink), 'vscode://slipstream.slipstream/bookmark?engine=tcp%3A%2F%2Fadmin%3A****%40team%3A7370&id=bm_0123456789ab');
  const lone = `engine=${encodeURIComponent('tcp://ghp_abc@team:7370')}`;
  assert.equal(hideSecrets(lone), 'engine=tcp%3A%2F%2F****%40team%3A7370');
  assert.equal(hideSecrets(`engine=${encodeURIComponent('tcp://team:7370?token=abc')}`), 'engine=tcp%3A%2F%2Fteam%3A7370%3Ftoken%3D****');
});

test('literal secrets are masked as written and percent-encoded', () => {
  const password = 'p@ss w/rd';
  assert.equal(hideSecrets(`FATAL: password "${password}" for ${encodeURIComponent(password)}`, [password]), 'FATAL: password "****" for ****');
  assert.equal(hideSecrets('nothing here', ['']), 'nothing here', 'an empty secret masks nothing');
});

test('plain text is left alone', () => {
  for (const text of ['', 'hello', 'postgres://db.example:5432/prod', 'a@b.example wrote: see http://host/path?q=1', 'tcp://team:7370']) {
    assert.equal(hideSecrets(text), text);
  }
});

test('source descriptions: one sentence form and one short form, both masked', () => {
  assert.equal(describeSource({ kind: 'empty' }), 'an empty database');
  assert.equal(describeSource({ kind: 'sql', files: ['/a.sql'] }), 'SQL file /a.sql');
  assert.equal(describeSource({ kind: 'sql', files: ['/a.sql', '/b.sql'] }), 'SQL files /a.sql, /b.sql');
  assert.equal(describeSource({ kind: 'dump', file: '/d/prod.dump' }), 'pg_dump file /d/prod.dump');
  assert.equal(describeSource({ kind: 'url', url: 'postgres://app:pw@db/prod' }), 'PostgreSQL database postgres://app:****@db/prod');
  assert.equal(describeSource({ kind: 'command', command: 'DATABASE_URL=postgres://a:b@h/d npm run seed', cwd: '/app' }),
    'command `DATABASE_URL=postgres://a:****@h/d npm run seed` in /app');
  assert.equal(sourceSummary({ kind: 'empty' }), 'empty');
  assert.equal(sourceSummary({ kind: 'sql', files: ['/x/a.sql', '/y/b.sql'] }), 'sql a.sql b.sql');
  assert.equal(sourceSummary({ kind: 'dump', file: '/d/prod.dump' }), 'dump prod.dump');
  assert.equal(sourceSummary({ kind: 'url', url: 'postgres://app:pw@db/prod?password=x' }), 'url postgres://app:****@db/prod?password=****');
  assert.equal(sourceSummary({ kind: 'command', command: 'npm run seed -- token=abc', cwd: '/app' }), 'command npm run seed -- token=****');
  assert.deepEqual(shownSource({ kind: 'url', url: 'postgres://app:pw@db/prod' }), { kind: 'url', url: 'postgres://app:****@db/prod' });
  assert.deepEqual(shownSource({ kind: 'command', command: 'psql postgres://a:b@h/d', cwd: '/app' }),
    { kind: 'command', command: 'psql postgres://a:****@h/d', cwd: '/app' });
  assert.deepEqual(shownSource({ kind: 'sql', files: ['/a.sql'] }), { kind: 'sql', files: ['/a.sql'] });
});
