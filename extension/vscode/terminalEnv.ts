import * as vscode from 'vscode';
import { databaseEnv, DATABASE_ENV_NAMES } from '../model/env';
import { Disposable } from '../util/disposable';
import type { WorkspaceData } from '../workspace';

/**
 * DATABASE_URL and PG* in every new integrated terminal of the workspace,
 * through the environment variable collection, kept current on every change
 * (a branch switch keeps the port, but a new workspace container does not).
 */
export class TerminalEnv extends Disposable {
  constructor(private readonly collection: vscode.GlobalEnvironmentVariableCollection, private readonly workspace: WorkspaceData) {
    super();
    this.register(workspace.onDidChange(() => this.update()));
    this.register(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('slipstream.terminalEnvironment')) this.update();
    }));
    this.register({ dispose: () => this.collection.clear() });
    this.update();
  }

  private update(): void {
    const enabled = vscode.workspace.getConfiguration('slipstream').get<boolean>('terminalEnvironment', true);
    const { container, connection } = this.workspace.snapshot;
    if (!enabled || !container || !connection) {
      // Keep stale variables out of new terminals: a wrong DATABASE_URL is worse than none.
      for (const name of DATABASE_ENV_NAMES) this.collection.delete(name);
      this.collection.description = undefined;
      return;
    }
    for (const [name, value] of Object.entries(databaseEnv(connection))) this.collection.replace(name, value);
    this.collection.description = new vscode.MarkdownString(
      `Slipstream: \`DATABASE_URL\` and \`PG*\` of container **${container.name}** (active branch ${container.activeBranch})`);
  }
}
