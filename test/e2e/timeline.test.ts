/**
 * End-to-end 5: the timeline webview renders its lanes and bookmarks in the
 * light and the dark theme, and clicking a bookmark shows its details and
 * actions; an action (Share) reaches the engine. After a window reload the
 * panel comes back on the same container and bookmark. Pages: once more events
 * than a page (500) come in live, the early ones are a "Load older events" away,
 * reached from the keyboard, and a live update after that adds at the top
 * without dropping them.
 */
import * as assert from 'assert';
import { connectEngine } from '../../server/common/client';
import { BookmarkTagRequest, type BookmarkInfo, type TimelinePage } from '../../server/protocol';
import { employeesEngine } from './support/data';
import { e2eTest } from './support/session';
import type { FrameLocator } from './support/playwright';
import { until, waitFor, type Workbench } from './support/workbench';

e2eTest('e2e 5: the timeline webview in light and dark themes; a bookmark shows its actions', 'timeline', async (run) => {
  const { home, engine } = employeesEngine(run);
  engine.ok('container', 'create', 'qa', '--template', 'employees');
  engine.ok('bookmark', 'create', 'baseline', '--container', 'qa', '--tag', 'clean');
  engine.ok('branch', 'create', 'bug-1234', '--container', 'qa', '--from-branch', 'main', '--activate');
  await engine.sql('qa', `DELETE FROM employees WHERE id % 2 = 0`);
  engine.ok('bookmark', 'create', 'Bug 1234 data', '--container', 'qa', '--tag', 'bug-1234', '--note', 'half the employees are gone');
  engine.ok('restore', 'baseline', '--container', 'qa');

  const { wb } = await run.openWindow({ name: 'qa', workspaceSettings: { 'slipstream.engine': home } });
  await wb.openSlipstream();
  await wb.waitStatus('qa: bug-1234');
  await wb.command('Slipstream: Open Timeline');
  const view = await wb.webview('Timeline: qa');

  await checkTimeline(wb, view, 'light', 'Bug 1234 data');
  await wb.command('Preferences: Color Theme');
  await wb.pick(/^Dark Modern$/, { title: /theme/i });
  await checkTimeline(wb, view, 'dark', 'baseline');

  // An action from the details: Share reaches the engine.
  await view.locator('#details button', { hasText: 'Share' }).click();
  await wb.notification('Bookmark baseline is shared with everyone whose containers come from template employees.');
  assert.strictEqual(engine.ok<BookmarkInfo>('bookmark', 'show', 'baseline').shared, true);
  await waitFor(view.locator('#details dd', { hasText: 'shared' }).first(), 30_000, 'the details to say the bookmark is shared');
  await waitFor(view.locator('li.row', { hasText: 'Shared “baseline”' }).first(), 30_000, 'the timeline row "Shared “baseline”"');
  await wb.shot('dark: baseline shared');

  // A window reload brings the panel back on the same container, with the same bookmark open.
  await wb.reload();
  const revived = await wb.webview('Timeline: qa');
  await waitFor(revived.locator('li.row', { hasText: 'Shared “baseline”' }).first(), 60_000, 'the revived timeline row "Shared “baseline”"');
  await waitFor(revived.locator('#details dd', { hasText: 'shared' }).first(), 30_000, 'the revived details of the selected bookmark');
  await wb.shot('after reload: timeline revived');

  // 520 events more than a page (500) come in live: the panel reads on down to the rows it shows, and drops none.
  const early = engine.ok<TimelinePage>('timeline', '--container', 'qa', '--limit', '1').events[0].seq;
  const client = await connectEngine({ home });
  try {
    for (let i = 0; i < 520; i++) await client.request(BookmarkTagRequest.type, { bookmark: 'baseline', add: ['clean'] });
  } finally {
    await client.close();
  }
  const total = early + 520;
  await waitFor(revived.locator(`#ev-${total}`), 60_000, `the newest event ${total} at the top`);
  const shown = revived.locator('#events li[role="option"]');
  await until(async () => await shown.count() === total, `${total} rows: the live ones and every one shown before`);
  assert.equal(await revived.locator('#load-older').count(), 0);

  // Opened afresh (another reload), the timeline reads only the first page, and says older events are left.
  await wb.reload();
  const paged = await wb.webview('Timeline: qa');
  const rows = paged.locator('#events li[role="option"]');
  await waitFor(paged.locator(`#ev-${total}`), 60_000, `the newest event ${total} at the top`);
  await until(async () => await rows.count() === 500, 'the first page: 500 rows');
  assert.equal(await paged.locator('li.row', { hasText: 'Container qa created' }).count(), 0, 'the earliest events are on an older page');
  await waitFor(paged.locator('header .meta', { hasText: '500 events (the latest; older ones below)' }), 30_000, 'the header saying older events are left');
  const older = paged.locator('#load-older');
  await older.scrollIntoViewIfNeeded();
  await wb.shot('pages: the first page and "Load older events"');

  // From the keyboard: Enter on "Load older events" loads the next page, and the focus moves to its first row.
  await older.focus();
  await older.press('Enter');
  await waitFor(paged.locator(`#ev-${total - 500}:focus`), 60_000, `the focus on the first older event ${total - 500}`);
  assert.equal(await rows.count(), total, 'every event is shown');
  assert.equal(await older.count(), 0, 'nothing older is left to load');
  await waitFor(paged.locator('li.row', { hasText: 'Container qa created' }), 30_000, 'the earliest event, loaded');
  await wb.shot('pages: older events loaded');

  // A live update adds at the top and keeps the older page loaded.
  engine.ok('bookmark', 'tag', 'baseline', '--add', 'late');
  await waitFor(paged.locator(`#ev-${total + 1}`), 60_000, `the new event ${total + 1} at the top`);
  await until(async () => await rows.count() === total + 1, `${total + 1} rows: the new one and every one loaded`);
  assert.equal(await rows.first().getAttribute('id'), `ev-${total + 1}`);
  assert.equal(await paged.locator('li.row', { hasText: 'Container qa created' }).count(), 1, 'the older page stayed');
  await wb.shot('pages: a live update keeps the older page');
}, { timeout: 600_000 }); // two window reloads and 520 live events: past the default 5 minutes

async function checkTimeline(wb: Workbench, view: FrameLocator, theme: 'light' | 'dark', bookmark: string): Promise<void> {
  await waitFor(view.locator(`body.vscode-${theme}`), 30_000, `the timeline webview in the ${theme} theme`);
  // Lanes: one per branch, the active one marked.
  const legend = view.locator('ul.legend li');
  await waitFor(legend.filter({ hasText: 'bug-1234 (active)' }).first(), 30_000, 'the lane of the active branch bug-1234');
  await waitFor(legend.filter({ hasText: /^main$/ }).first(), 30_000, 'the lane of branch main');
  assert.strictEqual(await legend.count(), 2);
  // Bookmarks and the restore, on their lanes.
  await waitFor(view.locator('li.row.has-bookmark', { hasText: 'Bookmarked “baseline”' }).first(), 30_000, 'the bookmark row "baseline"');
  await waitFor(view.locator('li.row.has-bookmark', { hasText: 'Bookmarked “Bug 1234 data”' }).first(), 30_000, 'the bookmark row "Bug 1234 data"');
  await waitFor(view.locator('li.row', { hasText: 'Restored to “baseline”' }).first(), 30_000, 'the restore row');
  assert.ok(await view.locator('li.row svg').count() >= 5, 'every row draws its lanes');
  await wb.shot(`${theme}: lanes and bookmarks`);

  // Clicking a bookmark shows its details and actions.
  await view.locator('li.row.has-bookmark', { hasText: `Bookmarked “${bookmark}”` }).first().click();
  const details = view.locator('#details');
  await waitFor(details.locator('h2', { hasText: `◆ ${bookmark}` }), 30_000, `the details of bookmark ${bookmark}`);
  const buttons = (await details.locator('.actions button').allInnerTexts()).map((s) => s.trim());
  assert.deepStrictEqual(buttons, ['Restore', 'Branch', 'Share', 'Copy link', 'Delete']);
  await wb.shot(`${theme}: bookmark ${bookmark} selected`);
}
