import * as path from 'path';
import type { Session } from '../../extension/commands/session';
import { EngineConnection } from '../../extension/engine/connection';
import { startLocalEngine } from '../../extension/engine/launcher';
import { connectToTeamEngine } from '../../extension/engine/switch';
import { engineRef, type EngineTarget } from '../../extension/engine/target';
import { buildBookmarkLink } from '../../server/common/links';
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
  /** The "secret storage" of this window: team engine URL → token. */
  readonly tokens = new Map<string, string>();
  /** What `slipstream.engine` would say after the window switched engines. */
  setting: string | undefined;
  /** Commits "checked out" through the session's git hook. */
  readonly checkedOut: string[] = [];

  /** A window on the local engine of `home`, or on the team engine `{ url, token }`. */
  constructor(where: string | { url: string; token?: string }, opts: { canStart?: boolean; configured?: string } = {}) {
    const target: EngineTarget = typeof where === 'string' ? { kind: 'local', home: where } : { kind: 'remote', url: where.url };
    if (typeof where !== 'string' && where.token) this.tokens.set(where.url, where.token);
    this.connection = new EngineConnection({
      target,
      token: async (url) => this.tokens.get(url),
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
      engineRef: () => engineRef(this.connection.target, this.connection.status?.engineId),
      bookmarkLink: (id) => buildBookmarkLink({
        scheme: 'vscode', extensionId: 'slipstream.slipstream', engine: engineRef(this.connection.target, this.connection.status?.engineId) ?? '', bookmarkId: id,
      }),
      checkoutCommit: async (commit) => { this.checkedOut.push(commit); },
      connectToEngine: async (url, token) => {
        await connectToTeamEngine(this.connection, url, token, {
          saveToken: async (u, t) => { this.tokens.set(u, t); },
          saveSetting: async (u) => { this.setting = u; },
        });
      },
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
