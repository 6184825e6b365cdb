/**
 * End-to-end 1: story 1 from the sidebar, in real VS Code (code-server) in
 * headless Chromium. QA provisions a container from the Containers view,
 * adds edge-case rows, bookmarks from the container's context menu, deletes
 * every employee, and restores from the bookmark's context menu in the tree.
 * Every row is back (checked in the database), and the tree and the timeline
 * show the bookmark and the restore.
 */
import * as assert from 'assert';
import * as path from 'path';
import { FIXTURES } from '../support/engine';
import { e2eTest } from './support/session';
import { until, waitFor } from './support/workbench';

const EDGE_ROWS = `INSERT INTO employees (first_name, last_name, email) VALUES ('-1', 'deleted', ''), ('''', '''''', NULL), ('Zoë', 'O''Brien', 'zoe@example.com')`;

e2eTest('e2e 1: story 1 from the sidebar: provision, bookmark, destroy, restore from the tree', 'story1', async (run, t) => {
  const home = run.engineHome('local');
  const engine = run.engine(home);
  const { wb } = await run.openWindow({ name: 'qa', workspaceSettings: { 'slipstream.engine': home } });
  await wb.openSlipstream();

  // The extension starts the engine by itself; an admin then makes the template (the tree updates live).
  await until(async () => engine.cli('engine', 'status').code === 0, 'the engine the extension starts to answer');
  engine.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  await wb.waitTreeItem('Templates', 'employees');
  const provisionButton = wb.view('Containers').locator('.monaco-button', { hasText: 'Provision Container' }).first();
  await waitFor(provisionButton, 60_000, 'the "Provision Container" button of the Containers welcome view');
  await wb.shot('welcome: template, no container');

  // Provision from the sidebar.
  await provisionButton.click();
  await wb.pick('employees', { title: 'Provision a container from which template?' });
  await wb.input('qa', { prompt: 'Container name', shot: 'container name' });
  await wb.notification(/Container qa is ready on port \d+/);
  await wb.waitTreeItem('Containers', 'qa');
  await wb.waitStatus('qa: main');
  await wb.shot('container qa provisioned');

  // QA's edge-case rows, through SQL on the container's own URL.
  const initial = Number((await engine.sql<{ n: string }>('qa', 'SELECT count(*) AS n FROM employees'))[0].n);
  await engine.sql('qa', EDGE_ROWS);
  const before = await engine.checksum('qa');
  assert.strictEqual(Number(before['public.employees'].split(':')[0]), initial + 3);

  // Bookmark from the container's context menu.
  await wb.contextMenu(await wb.waitTreeItem('Containers', 'qa'), 'Bookmark…');
  await wb.input('after edge case data', { prompt: 'Bookmark name', shot: 'bookmark name' });
  await wb.input('edge', { prompt: 'Tags' });
  await wb.notification(/Bookmark after edge case data taken on branch main/);
  await wb.shot('bookmark taken');
  const bookmarkRow = await wb.bookmarkRow('qa', 'main', 'after edge case data', (l) => t.diagnostic(l));
  await wb.shot('bookmark in the tree');

  // The destructive test.
  await engine.sql('qa', 'DELETE FROM employees');
  assert.strictEqual((await engine.sql<{ n: string }>('qa', 'SELECT count(*) AS n FROM employees'))[0].n, '0');

  // Restore from the bookmark's context menu in the tree.
  // Right after the bookmark (the tree is still taking it in): the command gets its row, no retry.
  const answerRestore = () => wb.confirm('Restore qa to bookmark after edge case data?', 'Restore', 20_000);
  await wb.contextMenu(bookmarkRow, 'Restore…');
  await answerRestore();
  await wb.notification('Branch main of qa is restored to bookmark after edge case data.');
  await wb.shot('restored');

  // Every row is back, byte for byte, on the same URL.
  assert.deepStrictEqual(await engine.checksum('qa'), before);
  const edge = await engine.sql<{ first_name: string; last_name: string }>('qa',
    `SELECT first_name, last_name FROM employees WHERE first_name IN ('-1', '''', 'Zoë') ORDER BY first_name`);
  assert.deepStrictEqual(edge.map((r) => [r.first_name, r.last_name]), [["'", "''"], ['-1', 'deleted'], ['Zoë', "O'Brien"]]);

  // The destructive test can run again.
  await engine.sql('qa', 'DELETE FROM employees');
  await wb.contextMenu(await wb.waitTreeItem('Containers', 'after edge case data'), 'Restore…');
  await answerRestore();
  await until(async () => JSON.stringify(await engine.checksum('qa')) === JSON.stringify(before), 'the second restore to bring every row back');

  // The timeline shows the bookmark and the restores.
  await wb.clearNotifications();
  await wb.contextMenu(await wb.waitTreeItem('Containers', 'qa'), 'Open Timeline');
  const timeline = await wb.webview('Timeline: qa');
  const bookmarked = timeline.locator('li.row.has-bookmark', { hasText: 'Bookmarked “after edge case data”' }).first();
  await waitFor(bookmarked, 60_000, 'the timeline row "Bookmarked “after edge case data”"');
  await waitFor(timeline.locator('li.row', { hasText: 'Restored to “after edge case data”' }).first(), 60_000, 'the timeline row "Restored to “after edge case data”"');
  assert.strictEqual(await timeline.locator('li.row', { hasText: 'Restored to “after edge case data”' }).count(), 2);
  await wb.shot('timeline: bookmark and restores');
});
