/**
 * What the end-to-end suite needs and where things go: code-server and
 * playwright-core from .cache/code-server (scripts/e2e-setup.sh), Debian's
 * Chromium, the built extension, the packaged .vsix, the screenshots folder,
 * and a cleanup list that runs even when a test fails or the run is killed.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { loadPlaywright, type Playwright } from './playwright';

export const ROOT = path.resolve(__dirname, '../../../..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const RESULTS = path.join(ROOT, 'test-results', 'e2e');
export const CHROMIUM = process.env.SLIPSTREAM_E2E_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** scripts/codeServer.mjs, shared with `npm run demo -- --vscode`. */
export interface CodeServerModule {
  cacheDir: string;
  codeServerMissing(): string | undefined;
  freePort(host?: string): Promise<number>;
  installExtension(opts: { vsix: string; userDataDir: string; extensionsDir: string; env?: Record<string, string> }): string;
  writeUserSettings(userDataDir: string, settings: Record<string, unknown>): void;
  startCodeServer(opts: {
    port: number; userDataDir: string; extensionsDir: string; folder?: string; env?: Record<string, string>; logFile?: string; timeoutMs?: number;
  }): Promise<{ url: string; pid: number; stop(): Promise<void> }>;
  vsixIsCurrent(vsix: string): boolean;
  packageVsix(vsix: string): void;
}

export async function codeServerModule(): Promise<CodeServerModule> {
  // A computed specifier keeps this a real import() of the ES module in the compiled CommonJS.
  const url = pathToFileURL(path.join(ROOT, 'scripts', 'codeServer.mjs')).href;
  return (await import(url)) as CodeServerModule;
}

export interface E2eSetup {
  cs: CodeServerModule;
  pw: Playwright;
}

let setup: Promise<E2eSetup | string> | undefined;

/** Everything the suite needs, or the reason it must be skipped (printed, never silent). */
export function e2eSetup(): Promise<E2eSetup | string> {
  setup ??= (async () => {
    if (process.env.SLIPSTREAM_E2E === '0') return 'SLIPSTREAM_E2E=0';
    if (process.platform !== 'linux') return `end-to-end tests run on Linux only (this is ${process.platform})`;
    const cs = await codeServerModule();
    const missing = cs.codeServerMissing();
    if (missing) return missing;
    if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is missing (run: bash scripts/e2e-setup.sh, which installs Debian's chromium)`;
    const pw = loadPlaywright(cs.cacheDir);
    if (pw instanceof Error) return `playwright-core cannot be loaded from ${path.relative(ROOT, cs.cacheDir)} (run: bash scripts/e2e-setup.sh): ${pw.message.split('\n')[0]}`;
    for (const f of ['extension.js', 'webview.js', 'cli.js']) {
      if (!fs.existsSync(path.join(ROOT, 'dist', f))) return `dist/${f} is missing: run npm run build first`;
    }
    return { cs, pw };
  })();
  return setup;
}

/** The skip option for node:test, printing the reason once per file so no skip is silent. */
export async function skipReason(): Promise<string | false> {
  const s = await e2eSetup();
  if (typeof s !== 'string') return false;
  process.stdout.write(`e2e skipped: ${s}\n`);
  return `end-to-end: ${s}`;
}

/**
 * The .vsix, packaged once per run: test files run in separate processes, so the
 * first one packages (under a lock) and the rest reuse it while it is newer than
 * the build.
 */
export async function packagedVsix(cs: CodeServerModule): Promise<string> {
  const dir = path.join(ROOT, 'out', 'e2e');
  const vsix = path.join(dir, 'slipstream.vsix');
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'package.lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      // A lock older than 3 minutes belongs to a killed run.
      try { if (Date.now() - fs.statSync(lock).mtimeMs > 180_000) fs.rmSync(lock, { recursive: true, force: true }); } catch { /* gone */ }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (cs.vsixIsCurrent(vsix)) return vsix;
    const started = Date.now();
    cs.packageVsix(vsix);
    process.stdout.write(`e2e: packaged ${path.relative(ROOT, vsix)} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return vsix;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------ cleanup

type Cleanup = { what: string; first: boolean; async: () => Promise<void>; sync: () => void };
const cleanups: Cleanup[] = [];
let hooked = false;

/** Newest first, except that `first` entries (engines: stop them while everything else still runs) go before all others. */
function ordered(): Cleanup[] {
  const all = cleanups.splice(0).reverse();
  return [...all.filter((c) => c.first), ...all.filter((c) => !c.first)];
}

/**
 * Registers something to undo: `async` in the test's own teardown, `sync` when
 * the process exits or is interrupted before that ran.
 */
export function onCleanup(what: string, async: () => Promise<void>, sync: () => void, opts: { first?: boolean } = {}): () => Promise<void> {
  const entry: Cleanup = { what, first: opts.first ?? false, async, sync };
  cleanups.push(entry);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => { for (const c of ordered()) try { c.sync(); } catch { /* best effort */ } });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        for (const c of ordered()) try { c.sync(); } catch { /* best effort */ }
        process.exit(130);
      });
    }
  }
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i < 0) return;
    cleanups.splice(i, 1);
    try {
      await entry.async();
    } catch (err) {
      process.stderr.write(`e2e cleanup (${what}) failed: ${err instanceof Error ? err.message : String(err)}\n`);
      entry.sync();
    }
  };
}

/** Runs every registered cleanup, newest first. */
export async function cleanupAll(): Promise<void> {
  for (const c of ordered()) {
    try {
      await c.async();
    } catch (err) {
      process.stderr.write(`e2e cleanup (${c.what}) failed: ${err instanceof Error ? err.message : String(err)}\n`);
      try { c.sync(); } catch { /* best effort */ }
    }
  }
}

export function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Stops the engine on `home` (its databases too) through the real CLI. */
export function stopEngineSync(home: string): void {
  if (!fs.existsSync(home)) return;
  const r = spawnSync(process.execPath, [CLI, '--home', home, 'engine', 'stop'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SLIPSTREAM_HOME: '' } });
  if (r.status !== 0 && !/not running|no engine/i.test(`${r.stdout}${r.stderr}`)) {
    process.stderr.write(`e2e: engine stop --home ${home} exited ${r.status}: ${r.stdout}${r.stderr}\n`);
  }
}

/**
 * The last line of defence: ends every process whose command line mentions
 * `dir` (a PostgreSQL whose engine is gone, a terminal's shell), politely first.
 */
export function killProcessesUnder(dir: string): number {
  const pids = (): number[] => {
    const found: number[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      try {
        if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) found.push(pid);
      } catch { /* gone */ }
    }
    return found;
  };
  const first = pids();
  for (const pid of first) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  const deadline = Date.now() + 3000;
  while (pids().length && Date.now() < deadline) spawnSync('sleep', ['0.1']);
  for (const pid of pids()) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  return first.length;
}

/**
 * Which of these command ids or setting keys the extension about to be packaged
 * lacks (in package.json `contributes`, or in the built dist/extension.js). A
 * test of a feature that has not landed skips and names what is missing.
 */
export function missingContributions(ids: string[]): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    contributes?: { commands?: Array<{ command: string }>; configuration?: { properties?: Record<string, unknown> } };
  };
  const declared = new Set([
    ...(pkg.contributes?.commands ?? []).map((c) => c.command),
    ...Object.keys(pkg.contributes?.configuration?.properties ?? {}),
  ]);
  const bundle = fs.existsSync(path.join(ROOT, 'dist', 'extension.js')) ? fs.readFileSync(path.join(ROOT, 'dist', 'extension.js'), 'utf8') : '';
  return ids.filter((id) => !declared.has(id) || !bundle.includes(id));
}
