// npm run demo: the product on the embedded PostgreSQL 18, from a fresh clone.
// Starts an engine in .demo/, makes the "employees" template and a "demo"
// container, serves the employees app on 127.0.0.1:1080, and stops all of it on Ctrl-C.
// npm run demo -- --vscode: also serves real VS Code (code-server) with the
// extension installed on 127.0.0.1:8080, its workspace pointed at this engine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp } from './demo/app.mjs';
import { startVsCode } from './demo/vscode.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const home = process.env.SLIPSTREAM_HOME || path.join(root, '.demo', 'home');
const cli = path.join(root, 'dist', 'cli.js');
const appPort = Number(process.env.DEMO_PORT || 1080);
const withVsCode = process.argv.includes('--vscode');
const vscodePort = Number(process.env.DEMO_VSCODE_PORT || 8080);
let vscode; // { url, stop } once code-server serves

function slipstream(args, { json = false, quiet = false } = {}) {
  const r = spawnSync(process.execPath, [cli, '--home', home, ...(json ? ['--json'] : []), ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', quiet ? 'pipe' : 'inherit'] });
  if (r.status !== 0) throw new Error(`slipstream ${args.join(' ')} failed: ${(r.stderr || r.stdout || '').trim()}`);
  return json ? JSON.parse(r.stdout) : r.stdout;
}

function step(text) {
  process.stdout.write(`\n== ${text}\n`);
}

async function main() {
  step(`starting the engine (home ${home})`);
  process.stdout.write(slipstream(['engine', 'start']));
  if (!slipstream(['template', 'list'], { json: true }).some((t) => t.name === 'employees')) {
    step('building the "employees" template from test/fixtures/employees.sql');
    process.stdout.write(slipstream(['template', 'create', 'employees', '--sql', path.join(root, 'test', 'fixtures', 'employees.sql')]));
  }
  if (!slipstream(['container', 'list'], { json: true }).some((c) => c.name === 'demo')) {
    step('creating the container "demo"');
    process.stdout.write(slipstream(['container', 'create', 'demo', '--template', 'employees']));
  }
  const { url } = slipstream(['container', 'url', 'demo'], { json: true });
  const server = await startApp(url, appPort);
  if (withVsCode) {
    step(`serving VS Code (code-server) with the Slipstream extension on 127.0.0.1:${vscodePort}`);
    vscode = await startVsCode({ home, container: 'demo', demoDir: path.dirname(home), port: vscodePort, log: (line) => process.stdout.write(`${line}\n`) });
  }
  const s = `node ${path.relative(process.cwd(), cli) || cli} --home ${home}`;
  const vsix = path.relative(process.cwd(), path.join(root, 'slipstream.vsix')) || 'slipstream.vsix';
  process.stdout.write(`
Slipstream is running.

  Employees app:    http://127.0.0.1:${appPort}
  Database URL:     ${url}
  CLI:              ${s} --help
${vscode ? `  VS Code:          ${vscode.url}
                    (trust the folder, then open the Slipstream view in the activity bar)
` : `
VS Code: npm run package, then code --install-extension ${vsix}, and set
  "slipstream.engine": "${home}" in your settings. Or try it in the browser:
  npm run demo -- --vscode    (code-server with the extension, on http://127.0.0.1:${vscodePort})
`}
Try story 1 in another terminal:
  ${s} bookmark create "after edge case data" --container demo
  (remove employees in the app)
  ${s} restore "after edge case data" --container demo
  (reload the app: every row is back)

Press Ctrl-C to stop the app${vscode ? ', VS Code' : ''}, the engine and its databases.
`);
  const stop = async () => {
    server.close();
    if (vscode) await vscode.stop();
    process.stdout.write('\nstopping the engine and its databases...\n');
    try { slipstream(['engine', 'stop']); } catch (err) { process.stderr.write(`${err.message}\n`); }
    stopLeftovers();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

// Belt and braces: any PostgreSQL still running on the demo's volumes after
// `engine stop` gets a fast shutdown (SIGINT), so Ctrl-C leaves nothing behind.
function stopLeftovers() {
  const pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${home}/`); } catch { return false; }
  });
  if (pids.length) process.stderr.write(`the engine left ${pids.length} process(es) on ${home} running; stopping them\n`);
  for (const p of pids) try { process.kill(Number(p), 'SIGINT'); } catch { /* gone */ }
}

main().catch(async (err) => {
  process.stderr.write(`demo: ${err.message}\n`);
  if (vscode) await vscode.stop();
  try { slipstream(['engine', 'stop'], { quiet: true }); } catch { /* it was not running */ }
  process.exit(1);
});
