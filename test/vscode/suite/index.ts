/**
 * Runs inside VS Code's extension host (loaded by @vscode/test-electron from
 * run.test.ts). node --test also loads this file when it walks out/test, so
 * nothing here may touch `vscode` until run() is called.
 *
 * The root tsconfig compiles test/**, and `vscode` types must not enter that
 * program (server/ is in it), so the few API members used here are typed by
 * hand below instead of importing `vscode`.
 */
import assert from 'node:assert/strict';

/** The part of extension/extension.ts's SlipstreamApi used here (importing it would pull `vscode` types in too). */
interface ApiSubset {
  connection: { state: { kind: string }; status?: { home: string } };
}

interface VscodeSubset {
  extensions: { getExtension(id: string): { activate(): PromiseLike<ApiSubset>; isActive: boolean } | undefined };
  commands: { getCommands(filterInternal?: boolean): PromiseLike<string[]> };
}

async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function run(): Promise<void> {
  const vscode = require('vscode') as VscodeSubset;
  const checks: Array<[string, () => Promise<void>]> = [
    ['the extension activates and connects to the test engine', async () => {
      const ext = vscode.extensions.getExtension('slipstream.slipstream');
      assert.ok(ext, 'extension slipstream.slipstream is installed');
      const api = await ext.activate();
      await eventually(() => api.connection.state.kind === 'connected', 20_000, 'connection');
      assert.equal(api.connection.status?.home, process.env.SLIPSTREAM_TEST_ENGINE_HOME);
    }],
    ['every contributed command is registered', async () => {
      const all = new Set(await vscode.commands.getCommands(true));
      for (const id of ['slipstream.provision', 'slipstream.bookmark.create', 'slipstream.bookmark.restore', 'slipstream.switch',
        'slipstream.timeline.open', 'slipstream.engine.start', 'slipstream.showLog']) {
        assert.ok(all.has(id), id);
      }
    }],
  ];
  const failures: string[] = [];
  for (const [name, check] of checks) {
    try {
      await check();
      console.log(`ok - ${name}`);
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      console.log(`not ok - ${name}`);
    }
  }
  if (failures.length) throw new Error(failures.join('\n'));
}
