/**
 * End-to-end 6: the first-run walkthrough. A new user opens "Get Started with
 * Slipstream" from the command palette and clicks its first step's button: the
 * engine starts and the step is checked. Every later step is then done from a
 * terminal (the real CLI), and each is checked in VS Code as the engine reports
 * it, never before.
 */
import * as assert from 'assert';
import * as path from 'path';
import { FIXTURES } from '../support/engine';
import type { Locator } from './support/playwright';
import { e2eTest } from './support/session';
import { until, waitFor, type Workbench } from './support/workbench';

const WALKTHROUGH = 'Get Started with Slipstream';
const STEPS = ['startEngine', 'createTemplate', 'createContainer', 'bookmark', 'restore', 'shareLink'] as const;

e2eTest('e2e 6: the walkthrough checks each step when the engine reports it done, from a terminal too', 'walkthrough', async (run) => {
  const home = run.engineHome('local');
  const engine = run.engine(home);
  const { wb } = await run.openWindow({ name: 'new', workspaceSettings: { 'slipstream.engine': home }, userSettings: { 'slipstream.autoStart': false } });

  await wb.command('Welcome: Open Walkthrough...');
  await wb.pick(WALKTHROUGH);
  await waitFor(step(wb, 'startEngine'), 60_000, `the walkthrough "${WALKTHROUGH}" and its first step`);
  await wb.shot('walkthrough opened');
  assert.deepStrictEqual(await doneSteps(wb), [], 'no step is done before the user did anything');

  // Step 1 from its button: the command activates the extension, which starts the engine.
  if (await step(wb, 'startEngine').getAttribute('aria-expanded') !== 'true') await step(wb, 'startEngine').click();
  await wb.page.locator('.getting-started-step[aria-expanded="true"] .monaco-button', { hasText: 'Start Engine' }).first().click();
  await until(async () => engine.cli('engine', 'status').code === 0, 'the engine the button starts to answer');
  await waitDone(wb, 'startEngine');
  await wb.shot('step 1 done: engine started');

  // Every other step from a terminal, as a user would with the CLI.
  const fromTerminal: Array<[typeof STEPS[number], () => Promise<unknown> | unknown]> = [
    ['createTemplate', () => engine.ok('template', 'create', 'employees', '--sql', path.join(FIXTURES, 'employees.sql'))],
    ['createContainer', () => engine.ok('container', 'create', 'dev', '--template', 'employees')],
    ['bookmark', () => engine.ok('bookmark', 'create', 'before tests', '--container', 'dev')],
    ['restore', async () => {
      await engine.sql('dev', 'DELETE FROM employees');
      engine.ok('restore', 'before tests', '--container', 'dev');
    }],
    ['shareLink', () => engine.ok('bookmark', 'link', 'before tests', '--container', 'dev')],
  ];
  for (const [id, act] of fromTerminal) {
    assert.ok(!(await doneSteps(wb)).includes(id), `step ${id} is done before it was done`);
    await act();
    await waitDone(wb, id);
    await wb.shot(`step ${id} done from a terminal`);
  }
  assert.deepStrictEqual(await doneSteps(wb), [...STEPS]);
});

/** A step's row in the walkthrough, by its id in package.json. */
function step(wb: Workbench, id: string): Locator {
  return wb.page.locator(`.getting-started-step[data-step-id$="#${id}"]`).first();
}

/** The ids of the steps VS Code shows as done (checked), in order. */
async function doneSteps(wb: Workbench): Promise<string[]> {
  const ids = await wb.page.locator('.getting-started-step[aria-checked="true"]').evaluateAll(
    (els) => els.map((el) => String((el as { getAttribute(n: string): string | null }).getAttribute('data-step-id'))));
  return STEPS.filter((s) => ids.some((id) => id.endsWith(`#${s}`)));
}

async function waitDone(wb: Workbench, id: string): Promise<void> {
  await until(async () => (await doneSteps(wb)).includes(id), `the walkthrough to check step ${id}`);
}
