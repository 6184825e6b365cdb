import * as path from 'path';
import type { Session } from '../../extension/commands/session';
import { EngineConnection } from '../../extension/engine/connection';
import { startLocalEngine } from '../../extension/engine/launcher';
import { WorkspaceData } from '../../extension/workspace';
import { CLI } from '../support/engine';
import { ScriptedUi } from './scriptedUi';

/** One "window": a connection to a real engine home, its workspace data, and a session with a scripted Ui. */
export class Window {
  readonly ui = new ScriptedUi();
  readonly log: string[] = [];
  readonly connection: EngineConnection;
  readonly workspace: WorkspaceData;
  readonly session: Session;
  private choice: string | undefined;

  constructor(home: string, opts: { canStart?: boolean; configured?: string } = {}) {
    this.connection = new EngineConnection({
      target: { kind: 'local', home },
      start: opts.canStart ? (h) => startLocalEngine({ node: process.execPath, cli: CLI, home: h, args: ['--driver', 'blocks'] }) : undefined,
      log: (line) => this.log.push(line),
      retryMs: [100, 200],
    });
    this.workspace = new WorkspaceData(this.connection, {
      get: () => this.choice,
      set: async (v) => { this.choice = v; },
    }, () => opts.configured);
    this.session = {
      engine: this.connection,
      ui: this.ui,
      user: () => this.connection.status?.user,
      workspaceContainer: () => this.workspace.preferredName(),
      setWorkspaceContainer: (name) => this.workspace.choose(name),
      workspaceFolder: () => path.dirname(CLI),
    };
  }

  dispose(): void {
    this.workspace.dispose();
    this.connection.dispose();
  }
}

/** Resolves when `check` holds, polling; fails after `ms`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
