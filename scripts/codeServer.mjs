// Real VS Code in a browser, offline: code-server 4.100.3 (VS Code 1.100.3) from
// .cache/code-server, as installed by scripts/e2e-setup.sh. Shared by the demo
// (`npm run demo -- --vscode`) and the end-to-end tests (test/e2e/support/).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = path.join(root, '.cache', 'code-server');
export const entry = path.join(cacheDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CODE_SERVER_VERSION = '4.100.3';
export const CHROMIUM = '/usr/bin/chromium';

/** Why code-server cannot run here, or undefined when it can. */
export function codeServerMissing() {
  if (!fs.existsSync(path.join(cacheDir, `.installed-${CODE_SERVER_VERSION}`)) || !fs.existsSync(entry)) {
    return `code-server ${CODE_SERVER_VERSION} is not installed in ${path.relative(root, cacheDir)} (run: bash scripts/e2e-setup.sh)`;
  }
  return undefined;
}

export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function baseArgs({ userDataDir, extensionsDir, configFile }) {
  return [
    entry,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    // A config file of its own, so code-server never writes ~/.config/code-server/config.yaml.
    '--config', configFile,
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
  ];
}

function ensureConfig(userDataDir) {
  fs.mkdirSync(userDataDir, { recursive: true });
  const configFile = path.join(userDataDir, 'code-server.yaml');
  if (!fs.existsSync(configFile)) fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  return configFile;
}

/** `code-server --install-extension VSIX`, synchronously; throws with its output when it fails. */
export function installExtension({ vsix, userDataDir, extensionsDir, env = {} }) {
  const configFile = ensureConfig(userDataDir);
  fs.mkdirSync(extensionsDir, { recursive: true });
  // --force: a demo re-run replaces the installed copy with the freshly packaged one.
  const r = spawnSync(process.execPath, [...baseArgs({ userDataDir, extensionsDir, configFile }), '--install-extension', vsix, '--force'],
    { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 || !/was successfully installed/.test(out)) {
    throw new Error(`code-server --install-extension ${vsix} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${out.trim()}`);
  }
  return out;
}

/** Writes user settings (settings.json in the user-data dir's User folder). */
export function writeUserSettings(userDataDir, settings) {
  const dir = path.join(userDataDir, 'User');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

/**
 * Starts code-server on 127.0.0.1:port serving `folder`, and resolves once it
 * answers HTTP. `stop()` ends it and every process it started (its own process
 * group: the extension host, terminals' shells, file watchers).
 */
export async function startCodeServer({ port, userDataDir, extensionsDir, folder, env = {}, logFile, host = '127.0.0.1', timeoutMs = 60_000 }) {
  const configFile = ensureConfig(userDataDir);
  const args = [...baseArgs({ userDataDir, extensionsDir, configFile }), '--bind-addr', `${host}:${port}`];
  if (folder) args.push(folder);
  const log = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn(process.execPath, args, {
    detached: true, // own process group, so stop() reaches its children
    stdio: ['ignore', log, log],
    env: { ...process.env, ...env },
  });
  if (typeof log === 'number') fs.closeSync(log);
  let exited = false;
  const exitedP = new Promise((resolve) => child.once('exit', (code, signal) => { exited = true; resolve({ code, signal }); }));

  const stop = async () => {
    if (exited) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    const done = await Promise.race([exitedP.then(() => true), delay(5000).then(() => false)]);
    if (!done) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    // Children that outlived their parent in the group (a terminal's shell, say).
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* group is empty */ }
  };

  const url = `http://${host}:${port}/`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      const tail = logFile && fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw new Error(`code-server exited before it answered on ${url}\n${tail}`);
    }
    if (await answers(url)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url} within ${timeoutMs / 1000} s`);
    }
    await delay(200);
  }
  return { url, pid: child.pid, child, stop, exited: exitedP };
}

async function answers(url) {
  try {
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
    return res.status > 0;
  } catch {
    return false;
  }
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when `vsix` exists and is newer than the build it packages (dist/, package.json). */
export function vsixIsCurrent(vsix) {
  if (!fs.existsSync(vsix)) return false;
  const built = fs.statSync(vsix).mtimeMs;
  const inputs = ['dist/extension.js', 'dist/cli.js', 'dist/webview.js', 'package.json'].map((f) => path.join(root, f));
  return inputs.every((f) => !fs.existsSync(f) || fs.statSync(f).mtimeMs <= built);
}

/** `vsce package` (what `npm run package` runs after the build) into `vsix`; throws with its output on failure. */
export function packageVsix(vsix) {
  const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
  const r = spawnSync(process.execPath, [vsce, 'package', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '--out', vsix],
    { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`vsce package failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
}
