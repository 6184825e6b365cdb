/**
 * Slipstream's VS Code extension. It renders what the engine says and sends
 * what the user asks; it holds no data logic. This file only wires the parts:
 *
 *   engine/     the connection (connect, start, reconnect, log), the changes it makes — no vscode
 *   model/      engine results → tree items, picks, status, timeline — no vscode
 *   commands/   what each command does, against a Ui interface      — no vscode
 *   vscode/     thin adapters: trees, status bar, terminals, timeline panel, Ui
 *   git/        data branches that follow git branches: settle, follow  — no vscode
 *
 * Bookmark links are built and parsed by server/common/links.ts, shared with
 * the CLI; vscode/links.ts is the URI handler and the engine-token command.
 */
import * as os from 'os';
import * as vscode from 'vscode';
import { runCommand, windowCommandIds, type CommandId, type CommandOutcome, type WindowCommandId } from './commands';
import type { Session } from './commands/session';
import { ChangeWatcher } from './engine/changes';
import { EngineConnection } from './engine/connection';
import { describeTarget, engineRef, engineTarget, sameTarget } from './engine/target';
import { FirstSteps } from './firstSteps';
import { userMessage } from './model/errors';
import { buildBookmarkLink } from '../server/common/links';
import type { IDisposable } from './util/disposable';
import { containerArg, registerDataCommands } from './vscode/commands';
import { ContextKeys } from './vscode/contextKeys';
import { engineStarter } from './vscode/engineStarter';
import { GitLink } from './vscode/git';
import { HookRunner } from './vscode/hooks';
import { EngineSwitcher, registerLinkHandler } from './vscode/links';
import { MenuRows } from './vscode/menuRows';
import { StatusBar } from './vscode/statusBar';
import { TerminalEnv } from './vscode/terminalEnv';
import { TimelinePanel } from './vscode/timelinePanel';
import { ContainersData, SharedBookmarksData, TemplatesData } from './treeData';
import { EngineTree } from './vscode/trees';
import { VscodeUi } from './vscode/ui';
import { WorkspaceSetup } from './vscode/workspaceSetup';
import { WorkspaceData } from './workspace';
import type { TimelineModel } from '../webview/protocol';

const CHOICE_KEY = 'slipstream.workspaceContainer';

/** What activate() returns: the handle integration tests (and later features) use. */
export interface SlipstreamApi {
  readonly connection: EngineConnection;
  readonly workspace: WorkspaceData;
  run(id: CommandId, arg?: unknown): Promise<CommandOutcome>;
  timelineModel(): TimelineModel | undefined;
}

export async function activate(context: vscode.ExtensionContext): Promise<SlipstreamApi> {
  const register = <T extends IDisposable>(d: T): T => { context.subscriptions.push(d); return d; };
  const output = register(vscode.window.createOutputChannel('Slipstream', { log: true }));
  const log = (line: string) => output.info(line);

  const config = vscode.workspace.getConfiguration('slipstream');
  const target = engineTarget(config.get<string>('engine'), os.homedir());
  log(`Slipstream ${context.extension.packageJSON.version as string}: using the ${describeTarget(target)}`);
  const switcher = new EngineSwitcher(context.secrets);
  const connection = register(new EngineConnection({
    target, start: engineStarter(context, log), log, token: (url) => switcher.token(url), tlsCa: config.get<string>('tlsCa'),
  }));
  switcher.connection = connection;

  const setup = register(new WorkspaceSetup(connection, context.workspaceState, log));
  const workspace = register(new WorkspaceData(connection, {
    get: () => context.workspaceState.get<string>(CHOICE_KEY),
    set: async (v) => context.workspaceState.update(CHOICE_KEY, v),
  }, () => setup.config?.container, log));
  register(setup.onDidChange(() => void workspace.reload()));

  const ui = new VscodeUi();
  // Every request of the session goes through the watcher, so the hooks run after each
  // switch, restore or refresh this window makes, wherever it came from (git follow included).
  const changes = register(new ChangeWatcher(connection));
  register(new HookRunner(changes, connection, setup, workspace, log));
  const session: Session = {
    engine: changes,
    ui,
    user: () => connection.status?.user,
    workspaceContainer: () => workspace.preferredName(),
    setWorkspaceContainer: (name) => workspace.choose(name),
    workspaceFolder: () => setup.folder,
    engineRef: () => engineRef(connection.target, connection.status?.engineId),
    bookmarkLink: (id) => buildBookmarkLink({
      scheme: vscode.env.uriScheme,
      extensionId: context.extension.id,
      engine: engineRef(connection.target, connection.status?.engineId) ?? '',
      bookmarkId: id,
    }),
    connectToEngine: (url, token) => switcher.connect(url, token).then(() => undefined),
    gitContext: () => git.gitContext(),
    checkoutCommit: (commit) => git.checkoutCommit(commit),
  };
  const git = register(new GitLink(session, context.workspaceState, () => setup.folder, log));

  // Views.
  const trees = [
    ['slipstream.containers', register(new EngineTree(new ContainersData(connection, log, workspace)))],
    ['slipstream.sharedBookmarks', register(new EngineTree(new SharedBookmarksData(connection, log)))],
    ['slipstream.templates', register(new EngineTree(new TemplatesData(connection, log)))],
  ] as const;
  const views = trees.map(([id, provider]) =>
    ({ id, data: provider.data, view: register(vscode.window.createTreeView(id, { treeDataProvider: provider, showCollapseAll: true })) }));
  register(new StatusBar(connection, workspace));
  const steps = register(new FirstSteps(connection, log));
  register(new ContextKeys(connection, workspace, steps));
  register(new TerminalEnv(context.environmentVariableCollection, workspace));
  const pickContainer = async () => {
    const outcome = await runCommand(session, 'slipstream.selectContainer', undefined, log);
    return typeof outcome.result === 'string' ? outcome.result : undefined;
  };
  const timeline = register(new TimelinePanel(context.extensionUri, connection, pickContainer, log));

  // Commands: the data commands (commands/index.ts), then those that move VS Code's own UI.
  const menuRows = new MenuRows(views);
  for (const d of registerDataCommands(session, log, () => menuRows.find())) register(d);
  const windowCommands: Record<WindowCommandId, (arg: unknown) => unknown> = {
    'slipstream.timeline.open': (arg) => timeline.show(containerArg(arg) ?? workspace.snapshot.container?.name),
    'slipstream.showLog': () => output.show(true),
    'slipstream.views.refresh': async () => {
      for (const [, provider] of trees) provider.data.reload();
      await Promise.all([workspace.reload(), steps.reload()]);
    },
    'slipstream.views.loadMore': async (row) => {
      for (const [, provider] of trees) if (await provider.data.loadMore(row)) return;
    },
    'slipstream.views.focusedRow': menuRows.focusedRow,
    'slipstream.engine.start': () => startEngine(connection),
    'slipstream.engine.setToken': () => switcher.setTokenCommand(session),
    'slipstream.workspace.setup': async () => {
      try {
        await setup.run(session);
      } catch (err) {
        if (err instanceof Error && err.name === 'Dismissed') return;
        ui.error(userMessage(err));
      }
    },
  };
  for (const id of windowCommandIds) register(vscode.commands.registerCommand(id, windowCommands[id]));
  register(registerLinkHandler(session, log));
  register(vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('slipstream.engine')) {
      // Switch in place: the views reload from the connection's state changes.
      const next = engineTarget(vscode.workspace.getConfiguration('slipstream').get<string>('engine'), os.homedir());
      if (!sameTarget(next, connection.target)) void connection.retarget(next);
    }
  }));

  // Connect (starting a local engine when allowed and none answers); views fill in as soon as it answers.
  void setup.load();
  void connection.reconnect({ allowStart: config.get<boolean>('autoStart', true) && target.kind === 'local' });
  void git.start();

  return {
    connection,
    workspace,
    run: (id, arg) => runCommand(session, id, arg, log),
    timelineModel: () => timeline.currentModel,
  };
}

async function startEngine(connection: EngineConnection): Promise<boolean> {
  const ok = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Slipstream: starting the engine…' },
    () => connection.reconnect({ allowStart: true }));
  if (!ok) {
    const reason = connection.state.kind === 'disconnected' ? connection.state.reason : 'it did not answer';
    const choice = await vscode.window.showErrorMessage(`Slipstream: the engine did not start: ${reason}`, 'Show Log');
    if (choice) void vscode.commands.executeCommand('slipstream.showLog');
  }
  return ok;
}

export function deactivate(): void {
  // Everything is in context.subscriptions. The engine keeps running on purpose:
  // other windows share it and its databases outlive this window.
}
