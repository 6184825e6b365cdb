/**
 * End-to-end: no lost clicks. A bookmark row in the Containers tree gets 20
 * context-menu commands in a row (Share, Unshare, Share, …), each right after
 * the engine changed something from a terminal: a new branch in the row's
 * container (so VS Code asks again for the container's rows and the row's
 * own level), or a new tag on the bookmark itself (so the row under the menu
 * is redrawn). Neither moves the row on screen: a bookmark made on its branch
 * would push it down under the mouse, which no tree can prevent. Every command
 * must reach the engine with its row: none may be lost, and none may ask which
 * bookmark (what a command does when VS Code hands it no item). No retries.
 */
import * as assert from 'assert';
import * as path from 'path';
import { FIXTURES } from '../support/engine';
import { e2eTest } from './support/session';
import { until, WAIT } from './support/workbench';

const ROUNDS = 20;

e2eTest('e2e: 20 context-menu commands, each right after an engine change from a terminal, all reach the engine', 'clicks', async (run, t) => {
  const home = run.engineHome('local');
  const engine = run.engine(home);
  const { wb } = await run.openWindow({ name: 'qa', workspaceSettings: { 'slipstream.engine': home } });
  await wb.openSlipstream();
  await until(async () => engine.cli('engine', 'status').code === 0, 'the engine the extension starts to answer');
  engine.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  engine.ok('container', 'create', 'qa', '--template', 'employees');
  engine.ok('bookmark', 'create', 'target', '--container', 'qa');
  const row = await wb.bookmarkRow('qa', 'main', 'target', (l) => t.diagnostic(l));
  await wb.shot('the target bookmark in the tree');

  const shared = () => engine.ok<{ shared: boolean }>('bookmark', 'show', 'target', '--container', 'qa').shared;
  for (let i = 1; i <= ROUNDS; i++) {
    const share = i % 2 === 1;
    // The row shows what the last command did before the next change is made.
    await until(async () => (await row.innerText()).includes('shared') === !share, `the row to show the bookmark ${share ? 'private' : 'shared'} (round ${i})`);
    // The change from outside; the CLI returns once the engine has told every client.
    if (share) engine.ok('branch', 'create', `z-${i}`, '--container', 'qa', '--from-template');
    else engine.ok('bookmark', 'tag', 'target', '--container', 'qa', '--add', `t${i}`);
    const started = Date.now();
    await wb.contextMenu(row, share ? 'Share Bookmark' : 'Unshare Bookmark');
    for (const deadline = Date.now() + WAIT; shared() !== share;) {
      if (await wb.quickInput().isVisible()) {
        await wb.shot(`round ${i}: the command asked`);
        throw new Error(`round ${i}: the command asked which bookmark: VS Code handed it no row`);
      }
      if (Date.now() > deadline) throw new Error(`round ${i}: ${share ? 'Share' : 'Unshare'} never reached the engine`);
      await wb.page.waitForTimeout(100);
    }
    t.diagnostic(`round ${i}: ${share ? 'Share' : 'Unshare'} reached the engine ${Date.now() - started} ms after the change`);
  }
  await wb.shot('after 20 commands');
  t.diagnostic(`right-clicks that landed on a neighbouring row and were aimed again (no command chosen): ${wb.misaimed}; menus opened again: ${wb.unopened}`);
  assert.strictEqual(shared(), false, 'shared 10 times, unshared 10 times');
  const { events } = engine.ok<{ events: Array<{ kind: string }> }>('timeline', '--container', 'qa', '--limit', '200');
  assert.strictEqual(events.filter((e) => e.kind === 'bookmark-shared').length, ROUNDS / 2);
  assert.strictEqual(events.filter((e) => e.kind === 'bookmark-unshared').length, ROUNDS / 2);
  await wb.assertNoErrors();
}, { timeout: 600_000 });
