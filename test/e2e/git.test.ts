/**
 * End-to-end 3: data branches follow git branches. In a git repository,
 * `git checkout -b feature/x` typed in the integrated terminal activates a new
 * data branch linked to it; `git checkout main` brings the old one back; the
 * status bar says so each time.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { BranchInfo, ContainerInfo } from '../../server/protocol';
import { count, employeesEngine } from './support/data';
import { e2eTest } from './support/session';
import { until, waitFor, type Workbench } from './support/workbench';

e2eTest('e2e 3: git checkout in the integrated terminal switches the linked data branch', 'git', async (run) => {
  const { home, engine } = employeesEngine(run);
  engine.ok('container', 'create', 'app', '--template', 'employees');
  const repo = path.join(run.tmp, 'repo');
  fs.mkdirSync(repo);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com' } });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'README.md'), '# app\n');
  fs.mkdirSync(path.join(repo, '.vscode'));
  fs.writeFileSync(path.join(repo, '.vscode', 'settings.json'), JSON.stringify({ 'slipstream.engine': home, 'slipstream.git.autoSwitch': 'on', 'slipstream.git.newBranchFrom': 'current' }, null, 2));
  git('add', '.');
  git('commit', '-q', '-m', 'first');

  const { wb } = await run.openWindow({ name: 'dev', folder: repo, userSettings: { 'git.enabled': true } });
  await wb.openSlipstream();
  await wb.waitStatus('app: main');
  await engine.sql('app', `INSERT INTO employees (first_name, last_name) VALUES ('On', 'main')`);
  await wb.shot('app on main');

  // git checkout -b feature/x in the integrated terminal.
  await terminal(wb, 'git checkout -b feature/x');
  await until(async () => git('rev-parse', '--abbrev-ref', 'HEAD').trim() === 'feature/x', 'the terminal\'s git checkout -b feature/x');
  await wb.notification(/Git branch feature\/x: new data branch .+ is active in app\./, 90_000);
  const featureStatus = await wb.waitStatus(/app: (?!main)\S+/);
  const linked = await until(async () => engine.ok<BranchInfo[]>('branch', 'list', '--container', 'app').find((b) => b.gitBranch === 'feature/x' && b.active), 'a data branch linked to feature/x to be active');
  assert.ok(featureStatus.includes(linked.name), `the status bar (${featureStatus}) names ${linked.name}`);
  await wb.shot('checkout -b feature/x: new linked data branch');
  // It started from main's data; changes on it stay on it.
  assert.strictEqual(await count(engine, 'app', `last_name = 'main'`), 1);
  await engine.sql('app', `INSERT INTO employees (first_name, last_name) VALUES ('On', 'feature')`);

  // git checkout main brings main's data back.
  await terminal(wb, 'git checkout main');
  await until(async () => git('rev-parse', '--abbrev-ref', 'HEAD').trim() === 'main', 'the terminal\'s git checkout main');
  await wb.notification(/Git branch main: data branch main is active in app\./, 90_000);
  await wb.waitStatus('app: main');
  assert.strictEqual(engine.ok<ContainerInfo>('container', 'show', 'app').activeBranch, 'main');
  assert.strictEqual(await count(engine, 'app', `last_name = 'feature'`), 0);
  await wb.shot('checkout main: main is back');

  // And feature/x's again.
  await terminal(wb, 'git checkout feature/x');
  await wb.waitStatus(`app: ${linked.name}`);
  assert.strictEqual(await count(engine, 'app', `last_name = 'feature'`), 1);
  await wb.shot('checkout feature/x again');
}, { needs: ['slipstream.git.autoSwitch'] });

/** Types a command into the integrated terminal (opening one the first time) and runs it. */
async function terminal(wb: Workbench, line: string): Promise<void> {
  const input = wb.page.locator('.terminal-wrapper.active .xterm-helper-textarea, .integrated-terminal .xterm-helper-textarea').first();
  if (!await input.isVisible().catch(() => false)) {
    await wb.command('Terminal: Create New Terminal');
    await waitFor(wb.page.locator('.integrated-terminal .xterm-screen').first(), 60_000, 'the integrated terminal');
  }
  await wb.page.locator('.integrated-terminal .xterm-screen').first().click();
  await wb.page.keyboard.type(line);
  await wb.page.keyboard.press('Enter');
}
