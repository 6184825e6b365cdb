// npm run demo: the product on the embedded PostgreSQL 18, from a fresh clone.
// Starts an engine in .demo/, makes the "employees" template and a "demo"
// container, serves the employees app on 127.0.0.1:1080, and stops all of it on Ctrl-C.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp } from './demo/app.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const home = process.env.SLIPSTREAM_HOME || path.join(root, '.demo', 'home');
const cli = path.join(root, 'dist', 'cli.js');
const appPort = Number(process.env.DEMO_PORT || 1080);

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
  const s = `node ${path.relative(process.cwd(), cli) || cli} --home ${home}`;
  process.stdout.write(`
Slipstream is running.

  Employees app:    http://127.0.0.1:${appPort}
  Database URL:     ${url}
  CLI:              ${s} --help

Try story 1 in another terminal:
  ${s} bookmark create "after edge case data" --container demo
  (remove employees in the app)
  ${s} restore "after edge case data" --container demo
  (reload the app: every row is back)

Press Ctrl-C to stop the app, the engine and its databases.
`);
  const stop = () => {
    server.close();
    process.stdout.write('\nstopping the engine and its databases...\n');
    try { slipstream(['engine', 'stop']); } catch (err) { process.stderr.write(`${err.message}\n`); }
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`demo: ${err.message}\n`);
  try { slipstream(['engine', 'stop'], { quiet: true }); } catch { /* it was not running */ }
  process.exit(1);
});
