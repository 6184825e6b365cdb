/**
 * End-to-end 9: a user who forgot to bookmark gets their data back from the timeline webview.
 * Rows are added, the moment noted, then every employee deleted, with no bookmark taken. In
 * the timeline's time selector the user types that moment: the panel shows the range that can
 * be restored and the events around it, and "Restore to this moment" brings every row back,
 * checked in the database. Clicking an event picks its moment.
 */
import * as assert from 'assert';
import { localInput } from '../../webview/localTime';
import { employeesEngine } from './support/data';
import { e2eTest } from './support/session';
import { until, waitFor } from './support/workbench';

e2eTest('e2e 9: restore to a moment picked in the timeline webview, with no bookmark', 'moment', async (run) => {
  const { home, engine } = employeesEngine(run);
  engine.ok('container', 'create', 'qa', '--template', 'employees');
  await engine.sql('qa', `INSERT INTO employees (first_name, last_name) VALUES ('kept', 'by time')`);
  // The moment is read to the second in the webview: let the next second start before noting it.
  await new Promise((r) => setTimeout(r, 1100));
  const moment = new Date().toISOString();
  const before = await engine.checksum('qa');
  await new Promise((r) => setTimeout(r, 1100));
  await engine.sql('qa', 'DELETE FROM employees'); // the destructive test, and nobody bookmarked

  const { wb } = await run.openWindow({ name: 'qa', workspaceSettings: { 'slipstream.engine': home } });
  await wb.openSlipstream();
  await wb.waitStatus('qa: main');
  await wb.command('Slipstream: Open Timeline');
  const view = await wb.webview('Timeline: qa');
  await waitFor(view.locator('#moment-at'), 60_000, 'the time selector');
  await waitFor(view.locator('#moment-ranges', { hasText: 'Can be restored to' }), 30_000, 'the range main can be restored to');
  await wb.shot('timeline: the time selector');

  // Clicking an event picks its moment.
  await view.locator('li.row', { hasText: 'Container qa created' }).first().click();
  const created = engine.ok<{ events: Array<{ kind: string; at: string }> }>('timeline', '--container', 'qa').events.find((e) => e.kind === 'container-created')!;
  await until(async () => (await view.locator('#moment-at').evaluate((i: { value: string }) => i.value)) === localInput(created.at),
    'the moment of the clicked event in the time selector');

  // Typing the moment (the keyboard way), then restoring to it.
  await view.locator('#moment-at').fill(localInput(moment));
  await view.locator('#moment-at').press('Tab');
  await waitFor(view.locator('.around li', { hasText: 'Before' }), 30_000, 'the events around the moment');
  assert.strictEqual(await view.locator('#moment-restore').getAttribute('disabled'), null, 'the moment can be restored');
  await wb.shot('timeline: a moment typed');
  await view.locator('#moment-restore').click();
  await wb.confirm(/Restore qa to /, 'Restore', 30_000);
  await wb.notification(/Branch main of qa is restored to /, 120_000);
  await wb.shot('restored to the moment');

  // Every row is back, as of that second: the restore replays to the moment the selector read.
  assert.deepStrictEqual(await engine.checksum('qa'), before);
  const kept = await engine.sql<{ n: string }>('qa', `SELECT count(*) AS n FROM employees WHERE first_name = 'kept'`);
  assert.strictEqual(kept[0].n, '1');
  await waitFor(view.locator('li.row', { hasText: /Restored to \d/ }).first(), 60_000, 'the timeline row of the point-in-time restore, with its moment');
});
