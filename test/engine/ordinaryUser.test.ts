/**
 * Most people run the engine as themselves, not as root. CI runs as root, so this
 * suite makes an ordinary OS user (useradd) and runs the real CLI and engine as it
 * (runuser): story 1 on the blocks driver, with every table compared by checksum and
 * amcheck after the restore, and the engine's files checked to be that user's.
 * Without root there is nobody to switch to: then the whole suite already runs as an
 * ordinary user, and this file says so and skips.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, test } from 'node:test';
import type { BookmarkInfo, ConnectionInfo, ContainerInfo, EngineStatus } from '../../server/protocol';
import { amcheck } from '../support/amcheck';
import { AsUser, ORDINARY_USER, ordinaryUserSite, ordinaryUserSkip } from '../support/osUser';
import { checksumAt, sqlAt } from '../support/team';

const USER = ORDINARY_USER;
const SKIP = ordinaryUserSkip();

let dir = '';
let me: AsUser;
let uid = 0;

before(() => {
  if (SKIP) return;
  ({ dir, me, uid } = ordinaryUserSite());
});
after(() => {
  if (SKIP || !me) return;
  me.cli('engine', 'stop');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('story 1 with the engine run by an ordinary user: blocks driver, data intact after the restore', { skip: SKIP }, async () => {
  me.ok('engine', 'start', '--driver', 'auto');
  const status = me.ok<EngineStatus>('engine', 'status');
  assert.equal(status.driver, 'blocks', 'no root: no btrfs, and /tmp has no reflink here');
  me.ok('template', 'create', 'employees', '--sql', path.join(dir, 'employees.sql'));
  me.ok<ContainerInfo>('container', 'create', 'qa', '--template', 'employees');
  const { url } = me.ok<ConnectionInfo>('container', 'url', 'qa');
  await sqlAt(url, `INSERT INTO employees (first_name, last_name) VALUES ('-1', 'deleted'), ('''', '')`);
  const before = await checksumAt(url);
  me.ok<BookmarkInfo>('bookmark', 'create', 'after edge case data', '--container', 'qa');
  await sqlAt(url, 'DELETE FROM employees');
  assert.notEqual(await checksumAt(url), before);
  me.ok('restore', 'after edge case data', '--container', 'qa');
  assert.equal(await checksumAt(url), before, 'every row is back');
  const check = await amcheck(url);
  assert.deepEqual(check.problems, []);
  assert.ok(check.heaps > 0 && check.indexes > 0);
  // Everything the engine made is the user's own, and its database runs as it.
  for (const p of [me.home, path.join(me.home, 'engine.sock'), status.pool]) assert.equal(fs.statSync(p).uid, uid, `${p} is ${USER}'s`);
  const data = (await sqlAt(url, `SELECT current_setting('data_directory') AS d`))[0].d as string;
  assert.equal(fs.statSync(data).uid, uid, 'the database runs as the same user');
});
