import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'node:test';
import { TestEngine } from '../support/engine';

/**
 * Extension tests inside real VS Code, through @vscode/test-electron. It would
 * download VS Code, which cannot happen offline, so it runs only when
 * VSCODE_EXECUTABLE_PATH names a VS Code binary; otherwise it says why it is
 * skipped. (The real-VS-Code check that runs everywhere here is code-server
 * driven by Playwright, in the end-to-end suite.)
 */
const executable = process.env.VSCODE_EXECUTABLE_PATH;
const skip = !executable
  ? 'VSCODE_EXECUTABLE_PATH is not set: @vscode/test-electron cannot download VS Code offline; set it to a VS Code binary to run these'
  : !fs.existsSync(executable) ? `VSCODE_EXECUTABLE_PATH=${executable} does not exist` : false;

test('extension in real VS Code (@vscode/test-electron)', { skip, timeout: 600_000 }, async () => {
  const { runTests } = await import('@vscode/test-electron');
  const root = path.resolve(__dirname, '../../..');
  const engine = await TestEngine.start();
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-vscode-ws-'));
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-vscode-user-'));
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'slipstream.engine': engine.home }));
  try {
    await runTests({
      vscodeExecutablePath: executable!,
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(__dirname, 'suite', 'index.js'),
      launchArgs: [workspace, '--disable-extensions', '--skip-welcome', '--skip-release-notes', `--user-data-dir=${userData}`],
      extensionTestsEnv: { SLIPSTREAM_TEST_ENGINE_HOME: engine.home },
    });
  } finally {
    await engine.destroy();
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(userData, { recursive: true, force: true });
  }
});
