/**
 * End-to-end 2: story 2 with two users on one team engine. QA's window (one
 * browser context) bookmarks bug data and shares its link; dev's window (a
 * second browser context, another code-server, another user's token) opens the
 * link with "Open Bookmark Link…", branches and activates, and sees QA's rows.
 * What dev changes, QA never sees.
 */
import * as assert from 'assert';
import * as path from 'path';
import { FIXTURES } from '../support/engine';
import { Remote, startTeamEngine } from '../support/team';
import { e2eTest } from './support/session';
import { until } from './support/workbench';
import type { VsWindow } from './support/session';

const BUG_ROWS = `INSERT INTO employees (first_name, last_name, email, salary) VALUES ('Bug', '1234', 'bug@example.com', -1), ('', 'no first name', NULL, 0)`;

e2eTest('e2e 2: story 2 on a team engine: QA shares a bookmark link, dev opens it in a second browser context', 'team-link', async (run, t) => {
  const team = await startTeamEngine({ driver: 'blocks' });
  run.adoptEngineHome(team.e.home);
  const admin = new Remote(team.e, team.url, team.adminToken);
  admin.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'));
  const qaToken = admin.ok<{ token: string }>('user', 'add', 'qa').token;
  const devToken = admin.ok<{ token: string }>('user', 'add', 'dev').token;
  const qa = new Remote(team.e, team.url, qaToken);
  const dev = new Remote(team.e, team.url, devToken);
  qa.ok('container', 'create', 'qa', '--template', 'employees');
  dev.ok('container', 'create', 'dev', '--template', 'employees');
  await qa.sql('qa', BUG_ROWS);
  const qaBefore = await qa.checksum('qa');
  const devOwn = await dev.checksum('dev');
  assert.notStrictEqual(qaBefore, devOwn);

  // QA's window: connect with QA's token, bookmark, share the link.
  const qaWin = await run.openWindow({ name: 'qa', workspaceSettings: { 'slipstream.engine': team.url } });
  await connect(qaWin, qaToken, 'qa');
  const { wb } = qaWin;
  await wb.contextMenu(await wb.waitTreeItem('Containers', 'qa'), 'Bookmark…');
  await wb.input('Bug 1234 data', { prompt: 'Bookmark name' });
  await wb.input('bug-1234', { prompt: 'Tags' });
  await wb.notification(/Bookmark Bug 1234 data taken on branch main/);
  const note = (l: string) => t.diagnostic(l);
  await wb.contextMenu(await wb.bookmarkRow('qa', 'main', 'Bug 1234 data', note), 'Share Bookmark Link');
  await wb.notification(/Copied the link to bookmark Bug 1234 data/, 20_000);
  const link = await until(async () => {
    const text = await qaWin.page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
    return /\/bookmark\?/.test(text) ? text : undefined;
  }, 'the bookmark link on QA\'s clipboard', 20_000);
  assert.match(link, /engine=tcp/);
  assert.doesNotMatch(link, new RegExp(qaToken), 'a link never carries a token');
  await wb.waitTreeItem('Shared Bookmarks', 'Bug 1234 data');
  await wb.shot('qa: bookmark shared, link copied');

  // Dev's window, in a second browser context: connect with dev's token, open the link.
  const devWin = await run.openWindow({ name: 'dev', workspaceSettings: { 'slipstream.engine': team.url } });
  await connect(devWin, devToken, 'dev');
  const d = devWin.wb;
  await d.command('Slipstream: Open Bookmark Link…');
  await d.input(link, { prompt: 'Paste a Slipstream bookmark link', shot: 'dev: paste link' });
  await d.confirm('Open bookmark "Bug 1234 data" by qa?', 'Branch and Activate');
  await d.notification(/now holds the data of bookmark Bug 1234 data, and is active/);
  await d.waitStatus(/^.*dev: (?!main).+$/);
  await d.shot('dev: on the bug branch');

  // Dev sees QA's rows on dev's own port; dev's changes stay dev's.
  assert.deepStrictEqual(await dev.checksum('dev'), qaBefore);
  await dev.sql('dev', `DELETE FROM employees WHERE last_name = '1234'`);
  assert.deepStrictEqual(await qa.checksum('qa'), qaBefore, 'QA\'s data must not change');
  assert.strictEqual((await qa.sql<{ n: string }>('qa', `SELECT count(*) AS n FROM employees WHERE last_name = '1234'`))[0].n, '1');

  // Dev's own data again, from the status bar.
  await d.statusItem().click();
  await d.pick(/main$/, { title: 'dev: switch to a branch or bookmark' });
  await d.waitStatus('dev: main');
  assert.deepStrictEqual(await dev.checksum('dev'), devOwn);
  await d.shot('dev: back on main');
  await wb.shot('qa: unchanged');
}, { needs: ['slipstream.bookmark.openLink', 'slipstream.bookmark.shareLink', 'slipstream.engine.setToken'] });

/** The window starts disconnected (no token yet); the user sets the token, as the status bar asks. */
async function connect(win: VsWindow, token: string, user: string): Promise<void> {
  const { wb } = win;
  await wb.openSlipstream();
  await wb.waitStatus(/engine down|Slipstream/);
  await wb.command('Slipstream: Set Engine Token…');
  await wb.input(token, { prompt: 'Your token on the team engine' });
  await wb.notification(`as ${user}.`);
  await wb.waitTreeItem('Containers', user);
  await wb.shot(`${user}: connected to the team engine`);
}
