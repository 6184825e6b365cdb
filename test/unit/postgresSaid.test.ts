/** What a failed pg_ctl leaves for the user: the explaining lines, labelled, last (issue 14). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PostgresFailed, postgresSaid } from '../../server/engine/postgres/cluster';

const PG_CTL = [
  'waiting for server to start.... stopped waiting',
  'pg_ctl: could not start server',
  'Examine the log output.',
  '2026-12-02 12:00:00.101 UTC [4242] LOG:  starting PostgreSQL 18.1 on x86_64-pc-linux-gnu, compiled by gcc, 64-bit',
  '2026-12-02 12:00:00.102 UTC [4242] LOG:  listening on IPv4 address "127.0.0.1", port 25432',
  '2026-12-02 12:00:00.103 UTC [4242] FATAL:  could not open file "/var/lib/slipstream/abc/pool/volumes/vol_1/global/pg_control": Permission denied',
  '2026-12-02 12:00:00.104 UTC [4242] HINT:  Check the file\'s owner.',
  '2026-12-02 12:00:00.105 UTC [4242] LOG:  database system is shut down',
].join('\n');

test('postgresSaid keeps the FATAL and HINT lines, without time, pid or host paths', () => {
  assert.equal(postgresSaid(PG_CTL), 'FATAL: could not open file "pg_control": Permission denied\nHINT: Check the file\'s owner.');
});

test('postgresSaid falls back to the last lines that are not pg_ctl chatter, and is never empty', () => {
  assert.equal(postgresSaid('initdb: error: directory "/x/y" exists but is not empty\ninitdb: hint: remove it'),
    'initdb: error: directory "y" exists but is not empty\ninitdb: hint: remove it');
  assert.equal(postgresSaid('waiting for server to start.... stopped waiting\npg_ctl: could not start server\n'), 'nothing (see the engine log)');
  const many = Array.from({ length: 10 }, (_, i) => `ERROR: number ${i} ${'x'.repeat(400)}`).join('\n');
  const said = postgresSaid(many).split('\n');
  assert.equal(said.length, 4, 'at most 4 lines');
  assert.ok(said.every((l) => l.length <= 300), 'each cut to 300 characters');
  assert.match(said[3], /^ERROR: number 9 /, 'the last ones');
});

test('a PostgresFailed message says what failed first and labels what PostgreSQL said, last', () => {
  const err = new PostgresFailed('start PostgreSQL on port 25432', postgresSaid(PG_CTL), PG_CTL);
  assert.equal(err.code, 'DatabaseFailed');
  assert.ok(err.message.startsWith('could not start PostgreSQL on port 25432. PostgreSQL said:'), err.message);
  assert.ok(err.message.endsWith("HINT: Check the file's owner."), err.message);
  assert.doesNotMatch(err.message, /UTC \[4242\]|stopped waiting|Examine the log/);
  assert.equal(err.output, PG_CTL, 'the whole output is kept for the engine log');
});
