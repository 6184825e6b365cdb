/**
 * End-to-end 4: the status bar's quick pick switches branches. The status bar
 * names the workspace's container and active branch; picking another branch
 * activates it on the same port, and the database serves that branch's data.
 */
import * as assert from 'assert';
import type { ConnectionInfo, ContainerInfo } from '../../server/protocol';
import { count, employeesEngine } from './support/data';
import { e2eTest } from './support/session';

e2eTest('e2e 4: the status bar quick pick switches branches', 'statusbar', async (run) => {
  const { home, engine } = employeesEngine(run);
  engine.ok('container', 'create', 'dev', '--template', 'employees');
  engine.ok('branch', 'create', 'feature', '--container', 'dev', '--from-branch', 'main', '--activate');
  await engine.sql('dev', `INSERT INTO employees (first_name, last_name) VALUES ('Only', 'OnFeature')`);
  engine.ok('branch', 'activate', 'main', '--container', 'dev');
  const url = engine.ok<ConnectionInfo>('container', 'url', 'dev').url;
  assert.strictEqual(await count(engine, 'dev', `last_name = 'OnFeature'`), 0);

  const { wb } = await run.openWindow({ name: 'dev', workspaceSettings: { 'slipstream.engine': home } });
  await wb.openSlipstream();
  await wb.waitStatus('dev: main');
  await wb.shot('status bar: dev on main');

  // main → feature
  await wb.statusItem().click();
  await wb.pick(/feature$/, { title: 'dev: switch to a branch or bookmark', shot: 'quick pick' });
  await wb.notification('Branch feature is active in dev; the connection URL is unchanged.');
  await wb.waitStatus('dev: feature');
  await wb.shot('status bar: dev on feature');
  assert.strictEqual(engine.ok<ContainerInfo>('container', 'show', 'dev').activeBranch, 'feature');
  assert.strictEqual(engine.ok<ConnectionInfo>('container', 'url', 'dev').url, url, 'the connection URL must not change');
  assert.strictEqual(await count(engine, 'dev', `last_name = 'OnFeature'`), 1);

  // feature → main
  await wb.statusItem().click();
  await wb.pick(/main$/, { title: 'dev: switch to a branch or bookmark' });
  await wb.notification('Branch main is active in dev; the connection URL is unchanged.');
  await wb.waitStatus('dev: main');
  await wb.shot('status bar: back on main');
  assert.strictEqual(await count(engine, 'dev', `last_name = 'OnFeature'`), 0);
});
