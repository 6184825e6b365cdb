import assert from 'node:assert/strict';
import * as path from 'path';
import { after, before, test } from 'node:test';
import { runCommand } from '../../extension/commands';
import type { Session } from '../../extension/commands/session';
import { ChangeWatcher } from '../../extension/engine/changes';
import type { BookmarkRef, BranchRef, ContainerRef } from '../../extension/model/refs';
import type { ChangeMade } from '../../server/common/hooks';
import type { BookmarkInfo } from '../../server/protocol';
import { FIXTURES, TestEngine } from '../support/engine';
import { Window } from './harness';

/**
 * The changes the extension's hooks run after (extension/engine/changes.ts):
 * each switch, restore, reset and refresh a command makes through the session,
 * and nothing else, against a real engine. (vscode/hooks.ts, which runs the
 * hooks in a terminal, is covered in code-server: test/e2e/hooks.test.ts.)
 */
let e: TestEngine;
let w: Window;
let session: Session;
const seen: ChangeMade[] = [];
const dev: ContainerRef = { kind: 'container', container: 'dev', template: 'employees' };

before(async () => {
  e = await TestEngine.start();
  e.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  e.ok('container', 'create', 'dev', '--template', 'employees');
  w = new Window(e.home);
  assert.equal(await w.connection.connect(), true);
  const watcher = new ChangeWatcher(w.connection);
  watcher.onDidChangeData((c) => seen.push(c));
  session = { ...w.session, engine: watcher };
});
after(async () => {
  w?.dispose();
  await e?.destroy();
});

/** Runs a command and returns the changes it made. */
async function changes(fn: () => Promise<{ ok: boolean; error?: string }>): Promise<ChangeMade[]> {
  seen.length = 0;
  const outcome = await fn();
  assert.ok(outcome.ok, outcome.error);
  return [...seen];
}

test('switches, restores, resets and refreshes made through the session are seen; other requests are not', async () => {
  w.ui.answer('The template', 'side', 'Create only');
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.branch.create', { ref: dev })), [], 'a branch made, not activated: no switch');

  const side: BranchRef = { kind: 'branch', container: 'dev', branch: 'side', active: false };
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.branch.activate', { ref: side })), [{ operation: 'activate', container: 'dev' }]);
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.branch.activate', { ref: { ...side, active: true } })), [],
    'already active: nothing happened, so no hooks');

  w.ui.answer('The template', 'other', 'Create and activate');
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.branch.create', { ref: dev })), [{ operation: 'activate', container: 'dev' }]);

  w.ui.answer('base', '');
  const bm = (await runCommand(session, 'slipstream.bookmark.create', { ref: dev })).result as BookmarkInfo;
  const ref: BookmarkRef = { kind: 'bookmark', id: bm.id, name: bm.name, container: 'dev', branch: bm.branch, template: 'employees', shared: false, mine: true };
  w.ui.answer(true);
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.bookmark.restore', { ref })), [{ operation: 'restore', container: 'dev', bookmark: bm.id }]);
  w.ui.answer(false);
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.bookmark.restore', { ref })), [], 'declined: no restore, no hooks');
  w.ui.answer(true);
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.reset', { ref: dev })), [{ operation: 'reset', container: 'dev' }]);
  w.ui.answer(true);
  assert.deepEqual(await changes(() => runCommand(session, 'slipstream.refresh', { ref: dev })), [{ operation: 'refresh', container: 'dev' }]);

  // A refused switch changes nothing, and is not a change.
  seen.length = 0;
  const refused = await runCommand(session, 'slipstream.branch.activate', { ref: { ...side, branch: 'nope' } });
  assert.equal(refused.ok, false);
  assert.deepEqual(seen, []);
});
