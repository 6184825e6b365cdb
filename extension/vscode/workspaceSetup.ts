/**
 * slipstream.json at the root of the workspace's folders: read it, watch it,
 * and offer to provision its container when this user has none yet.
 */
import * as vscode from 'vscode';
import { setupNeed, setupWorkspace } from '../commands/workspace';
import type { Session } from '../commands/session';
import type { EngineConnection } from '../engine/connection';
import { userMessage } from '../model/errors';
import { HOOK_EVENTS, HOOK_KEYS } from '../../server/common/hooks';
import { parseWorkspaceConfig, WORKSPACE_CONFIG_FILE, type WorkspaceConfig } from '../../server/common/workspaceConfig';
import { Disposable } from '../util/disposable';
import { Emitter } from '../util/event';

const NEVER_KEY = 'slipstream.setup.never';

export class WorkspaceSetup extends Disposable {
  private found: { config: WorkspaceConfig; folder: string } | undefined;
  private offered = false;
  private readonly emitter = this.register(new Emitter<WorkspaceConfig | undefined>());
  readonly onDidChange = this.emitter.event;

  constructor(
    private readonly engine: EngineConnection,
    private readonly memento: vscode.Memento,
    private readonly log: (line: string) => void,
  ) {
    super();
    const watcher = this.register(vscode.workspace.createFileSystemWatcher(`**/${WORKSPACE_CONFIG_FILE}`));
    for (const ev of [watcher.onDidCreate, watcher.onDidChange, watcher.onDidDelete]) this.register(ev(() => void this.load()));
    this.register(vscode.workspace.onDidChangeWorkspaceFolders(() => void this.load()));
    this.register(engine.onDidChangeState((s) => { if (s.kind === 'connected') void this.offer(); }));
  }

  get config(): WorkspaceConfig | undefined {
    return this.found?.config;
  }

  get folder(): string | undefined {
    return this.found?.folder ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  }

  async load(): Promise<void> {
    this.found = undefined;
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const uri = vscode.Uri.joinPath(folder.uri, WORKSPACE_CONFIG_FILE);
      let text: string;
      try {
        text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
      } catch {
        continue;
      }
      const parsed = parseWorkspaceConfig(text, folder.uri.fsPath);
      if (!parsed.ok) {
        void vscode.window.showWarningMessage(`Slipstream: ${parsed.message}`);
        continue;
      }
      this.found = { config: parsed.config, folder: folder.uri.fsPath };
      const hooks = HOOK_EVENTS.filter((event) => parsed.config.hooks[event].length > 0).map((event) => HOOK_KEYS[event]);
      this.log(`${uri.fsPath}: template ${parsed.config.template}, container ${parsed.config.container}, hooks: ${hooks.join(', ') || 'none'}`);
      break;
    }
    void vscode.commands.executeCommand('setContext', 'slipstream.hasWorkspaceConfig', Boolean(this.found));
    this.emitter.fire(this.found?.config);
    await this.offer();
  }

  /** Once per window: when the workspace names a container this user lacks, offer to make it. */
  private async offer(): Promise<void> {
    const config = this.config;
    // An untrusted folder's slipstream.json may name a seeding command: never offer to run it there.
    if (!config || this.offered || this.engine.state.kind !== 'connected' || !vscode.workspace.isTrusted) return;
    const never = this.memento.get<string[]>(NEVER_KEY, []);
    if (never.includes(config.container)) return;
    this.offered = true;
    try {
      const need = await setupNeed(this.engine, config);
      if (need === 'ready') return;
      const what = need === 'container' ? `container ${config.container} from template ${config.template}`
        : `template ${config.template} from its source, then container ${config.container}`;
      const runs = need !== 'container' && config.source?.kind === 'command' ? ` This runs: ${config.source.command}` : '';
      const choice = await vscode.window.showInformationMessage(
        `This workspace uses Slipstream data. Provision ${what} for you?${runs}`, 'Provision', 'Not Now', 'Never for This Workspace');
      if (choice === 'Provision') await vscode.commands.executeCommand('slipstream.workspace.setup');
      if (choice === 'Never for This Workspace') await this.memento.update(NEVER_KEY, [...never, config.container]);
    } catch (err) {
      this.log(`workspace setup check failed: ${userMessage(err)}`);
    }
  }

  run(session: Session): Promise<void> {
    const config = this.config;
    if (!config) throw new Error(`There is no ${WORKSPACE_CONFIG_FILE} at the root of this workspace.`);
    return setupWorkspace(session, config);
  }
}
