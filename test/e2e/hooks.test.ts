/**
 * End-to-end: slipstream.json's afterSwitch hooks run after a switch made in
 * VS Code (the status bar's quick pick), in the workspace's folder, in the
 * "Slipstream hooks" terminal; a failing one shows a warning naming it, and
 * the switch stands (issue 14, "Hooks for the application").
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { ContainerInfo } from '../../server/protocol';
import { employeesEngine } from './support/data';
import { e2eTest } from './support/session';
import { until } from './support/workbench';

e2eTest('e2e: a switch in VS Code runs the afterSwitch hooks; a failing one is reported and the switch stands', 'hooks', async (run) => {
  const { home, engine } = employeesEngine(run);
  engine.ok('container', 'create', 'dev', '--template', 'employees');
  engine.ok('branch', 'create', 'feature', '--container', 'dev', '--from-branch', 'main');
  const port = engine.ok<ContainerInfo>('container', 'show', 'dev').port;
  const hooks = {
    afterSwitch: [
      'echo "$SLIPSTREAM_OPERATION $SLIPSTREAM_CONTAINER $SLIPSTREAM_BRANCH $SLIPSTREAM_PORT" >> hook-ran.txt',
      'echo restarted the app',
      'test "$SLIPSTREAM_BRANCH" != main',
    ],
  };
  const { wb, folder } = await run.openWindow({
    name: 'dev',
    workspaceSettings: { 'slipstream.engine': home },
    files: { 'slipstream.json': JSON.stringify({ template: 'employees', container: 'dev', hooks }, null, 2) },
  });
  const ran = path.join(folder, 'hook-ran.txt');
  const lines = () => (fs.existsSync(ran) ? fs.readFileSync(ran, 'utf8').split('\n').filter(Boolean) : []);
  await wb.openSlipstream();
  await wb.waitStatus('dev: main');
  assert.deepEqual(lines(), [], 'no hook before a change');

  // main → feature: every hook succeeds.
  await wb.statusItem().click();
  await wb.pick(/feature$/, { title: 'dev: switch to a branch or bookmark' });
  await wb.notification('Branch feature is active in dev; the connection URL is unchanged.');
  await until(async () => lines().length === 1, 'the afterSwitch hook to write hook-ran.txt');
  assert.deepEqual(lines(), [`activate dev feature ${port}`]);
  await wb.shot('hooks ran after the switch to feature');

  // feature → main: the third hook fails; a warning names it, and main stays active.
  await wb.statusItem().click();
  await wb.pick(/main$/, { title: 'dev: switch to a branch or bookmark' });
  await wb.notification(/The afterSwitch hook "test "\$SLIPSTREAM_BRANCH" != main" failed \(exit code 1\); the switch of container dev to branch main stands/, 60_000);
  assert.deepEqual(lines(), [`activate dev feature ${port}`, `activate dev main ${port}`]);
  await wb.waitStatus('dev: main');
  assert.strictEqual(engine.ok<ContainerInfo>('container', 'show', 'dev').activeBranch, 'main', 'the switch stands');
  await wb.shot('a failed hook: warning, switch kept');
});
