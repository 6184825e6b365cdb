/**
 * One end-to-end test's world: a headless Chromium, and for each VS Code
 * window a code-server of its own (fresh user-data dir, fresh extensions dir
 * with the packaged .vsix installed, fresh workspace folder, engine chosen by
 * settings), on a free loopback port. Everything is torn down at the end, even
 * when the test fails: code-server and its process group, Chromium, engines.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test, type TestContext } from 'node:test';
import type { Browser, BrowserContext, Page } from './playwright';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  CLI,
  RESULTS,
  cleanupAll,
  e2eSetup,
  killGroup,
  killProcessesUnder,
  missingContributions,
  onCleanup,
  packagedVsix,
  skipReason,
  stopEngineSync,
  type E2eSetup,
} from './setup';
import { Workbench } from './workbench';
import { TestEngine } from '../../support/engine';

export interface WindowOptions {
  /** Short name, used in screenshot file names ("qa", "dev"). */
  name: string;
  /** .vscode/settings.json of the workspace (e.g. slipstream.engine). */
  workspaceSettings?: Record<string, unknown>;
  /** Extra user settings. */
  userSettings?: Record<string, unknown>;
  /** Files to create in the workspace folder, by relative path. */
  files?: Record<string, string>;
  /** An existing folder to open instead of a fresh one. */
  folder?: string;
  /** The browser window's size; 1400×860 unless given. */
  viewport?: { width: number; height: number };
}

export interface VsWindow {
  wb: Workbench;
  page: Page;
  context: BrowserContext;
  folder: string;
  url: string;
  userDataDir: string;
  /** Copies code-server's and the extension's logs next to the screenshots. */
  keepLogs(): void;
  close(): Promise<void>;
}

export class E2eRun {
  private browser: Browser | undefined;
  private vsix: string | undefined;
  private readonly windows: VsWindow[] = [];
  readonly shotDir: string;
  private failed = false;

  private constructor(readonly setup: E2eSetup, readonly name: string, readonly tmp: string) {
    this.shotDir = path.join(RESULTS, name);
  }

  /** Starts a run for one test; close() (withRun calls it) or, failing that, the exit hook undoes it all. */
  static async start(name: string): Promise<E2eRun> {
    const setup = await e2eSetup();
    if (typeof setup === 'string') throw new Error(`end-to-end setup is missing: ${setup}`);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `slip-e2e-${name}-`));
    // A root engine runs PostgreSQL as the `slipstream` user, who must pass through to engine homes in here.
    fs.chmodSync(tmp, 0o711);
    const remove = () => {
      const n = killProcessesUnder(tmp);
      if (n) process.stderr.write(`e2e: ended ${n} leftover process(es) under ${tmp}\n`);
      if (process.env.SLIPSTREAM_E2E_KEEP) process.stderr.write(`e2e: kept ${tmp} (SLIPSTREAM_E2E_KEEP)\n`);
      else fs.rmSync(tmp, { recursive: true, force: true });
    };
    onCleanup(`remove ${tmp}`, async () => remove(), remove);
    const run = new E2eRun(setup, name, tmp);
    fs.rmSync(run.shotDir, { recursive: true, force: true });
    fs.mkdirSync(run.shotDir, { recursive: true });
    return run;
  }

  /** Marks the run failed: close() then keeps code-server and extension logs next to the screenshots. */
  fail(): void {
    this.failed = true;
  }

  private async ensureBrowser(): Promise<Browser> {
    if (this.browser) return this.browser;
    const browser = await this.setup.pw.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
    this.browser = browser;
    // Playwright also kills the browser it launched when this process exits.
    onCleanup('close chromium', () => browser.close(), () => undefined);
    return browser;
  }

  /** A fresh engine home (an empty directory the slipstream user can reach); stopped at cleanup. */
  engineHome(name: string): string {
    const home = path.join(this.tmp, `home-${name}`);
    fs.mkdirSync(home, { recursive: true, mode: 0o711 });
    // First at cleanup: the engine stops its databases while everything else still runs.
    onCleanup(`stop engine ${home}`, async () => stopEngineSync(home), () => stopEngineSync(home), { first: true });
    return home;
  }

  /** An engine home made elsewhere (a team engine): stopped first at cleanup, then removed. */
  adoptEngineHome(home: string): void {
    onCleanup(`stop engine ${home}`, async () => stopEngineSync(home), () => stopEngineSync(home), { first: true });
    const remove = () => { killProcessesUnder(home); fs.rmSync(home, { recursive: true, force: true }); };
    onCleanup(`remove ${home}`, async () => remove(), remove);
  }

  /** The real CLI on an engine home, for setting things up as an admin would and checking data in the database. */
  engine(home: string): TestEngine {
    return new TestEngine(home);
  }

  /** Opens VS Code (code-server + a browser context) on a fresh workspace, with the packaged extension installed. */
  async openWindow(opts: WindowOptions): Promise<VsWindow> {
    const { cs } = this.setup;
    this.vsix ??= await packagedVsix(cs);
    const dir = path.join(this.tmp, `vscode-${opts.name}`);
    const userDataDir = path.join(dir, 'user-data');
    const extensionsDir = path.join(dir, 'extensions');
    const folder = opts.folder ?? path.join(dir, 'workspace');
    fs.mkdirSync(folder, { recursive: true });
    for (const [rel, text] of Object.entries(opts.files ?? {})) {
      fs.mkdirSync(path.dirname(path.join(folder, rel)), { recursive: true });
      fs.writeFileSync(path.join(folder, rel), text);
    }
    if (opts.workspaceSettings) {
      fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
      fs.writeFileSync(path.join(folder, '.vscode', 'settings.json'), JSON.stringify(opts.workspaceSettings, null, 2));
    }
    cs.installExtension({ vsix: this.vsix, userDataDir, extensionsDir });
    const userSettings = {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.colorTheme': 'Default Light Modern',
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoCheckUpdates': false,
      'extensions.ignoreRecommendations': true,
      // Every container's port would otherwise pop up a "forwarded port" toast.
      'remote.autoForwardPorts': false,
      'git.openRepositoryInParentFolders': 'never',
      'terminal.integrated.enablePersistentSessions': false,
      'window.confirmBeforeClose': 'never',
      // The Node.js that runs a local engine the extension starts: the one running these tests.
      'slipstream.nodePath': process.execPath,
      ...opts.userSettings,
    };
    cs.writeUserSettings(userDataDir, userSettings);
    // Machine-scoped settings (slipstream.nodePath) are read from the server's machine settings in a remote window.
    const machine = path.join(userDataDir, 'Machine');
    fs.mkdirSync(machine, { recursive: true });
    fs.writeFileSync(path.join(machine, 'settings.json'), JSON.stringify({ 'slipstream.nodePath': process.execPath }, null, 2));

    const port = await cs.freePort();
    const logFile = path.join(dir, 'code-server.log');
    const server = await cs.startCodeServer({ port, userDataDir, extensionsDir, folder, logFile, env: { SLIPSTREAM_HOME: '' } });
    const stopServer = onCleanup(`stop code-server ${opts.name}`, () => server.stop(), () => killGroup(server.pid));

    const browser = await this.ensureBrowser();
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1400, height: 860 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url.replace(/\/$/, '') });
    const closeContext = onCleanup(`close browser context ${opts.name}`, () => context.close(), () => undefined);
    const page = await context.newPage();
    await Workbench.install(page);
    const wb = new Workbench(page, this.shotDir, opts.name);
    const url = `${server.url}?folder=${encodeURIComponent(folder)}`;
    const win: VsWindow = {
      wb, page, context, folder, url, userDataDir,
      keepLogs: () => this.keepLogs(opts.name, dir, userDataDir),
      close: async () => {
        await closeContext();
        await stopServer();
      },
    };
    this.windows.push(win);
    await wb.ready(url);
    return win;
  }

  private keepLogs(name: string, dir: string, userDataDir: string): void {
    try {
      const target = path.join(this.shotDir, `logs-${name}`);
      fs.mkdirSync(target, { recursive: true });
      if (fs.existsSync(path.join(dir, 'code-server.log'))) fs.copyFileSync(path.join(dir, 'code-server.log'), path.join(target, 'code-server.log'));
      if (fs.existsSync(path.join(userDataDir, 'logs'))) fs.cpSync(path.join(userDataDir, 'logs'), path.join(target, 'vscode-logs'), { recursive: true });
    } catch { /* best effort */ }
  }

  /** Closes every window, Chromium and engine, and removes the temporary folders. */
  async close(): Promise<void> {
    if (this.failed) {
      for (const w of this.windows) {
        w.keepLogs();
        await w.page.screenshot({ path: path.join(this.shotDir, `${w.wb.name}-at-failure.png`) }).catch(() => undefined);
      }
    }
    await cleanupAll();
    this.windows.length = 0;
  }
}

/**
 * Runs `body` with a fresh E2eRun, closing it afterwards whatever happens, and
 * prints the screenshots it saved.
 */
export async function withRun(t: TestContext, name: string, body: (run: E2eRun) => Promise<void>): Promise<void> {
  const run = await E2eRun.start(name);
  const started = Date.now();
  try {
    await body(run);
  } catch (err) {
    run.fail();
    throw err;
  } finally {
    await run.close();
    const shots = fs.existsSync(run.shotDir) ? fs.readdirSync(run.shotDir).filter((f) => f.endsWith('.png')) : [];
    t.diagnostic(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s, ${shots.length} screenshots in ${path.relative(process.cwd(), run.shotDir) || run.shotDir}`);
  }
}

export { CLI };

/**
 * A node:test test that runs in real VS Code: skipped with the printed reason
 * when the setup is missing, otherwise run with a fresh E2eRun that is closed
 * whatever happens.
 */
export function e2eTest(name: string, run: string, body: (run: E2eRun, t: TestContext) => Promise<void>,
  opts: { timeout?: number; needs?: string[] } = {}): void {
  test(name, { timeout: opts.timeout ?? 300_000 }, async (t) => {
    const reason = await skipReason();
    if (reason) {
      t.skip(reason);
      return;
    }
    const missing = missingContributions(opts.needs ?? []);
    if (missing.length) {
      const why = `the extension does not contribute ${missing.join(', ')} yet (issue 5)`;
      process.stdout.write(`e2e skipped: ${name}: ${why}\n`);
      t.skip(why);
      return;
    }
    await withRun(t, run, (r) => body(r, t));
  });
}
