/**
 * slipstream.json's hooks after a switch, restore or refresh this window made
 * (engine/changes.ts) in the workspace's container: run here, in the extension
 * host, as the user, with their output in the "Slipstream hooks" terminal. A
 * failed hook gets a warning naming it; the data change stands. An untrusted
 * workspace's hooks never run: its slipstream.json is someone else's commands.
 */
import * as vscode from 'vscode';
import {
  describeChange, hookEnvironment, hookEvent, hookFailureMessage, HOOK_KEYS, runHooks, type ChangeMade, type DataChange,
} from '../../server/common/hooks';
import { ContainerShowRequest } from '../../server/protocol';
import type { ChangeWatcher } from '../engine/changes';
import type { Requester } from '../engine/connection';
import { userMessage } from '../model/errors';
import { Disposable } from '../util/disposable';
import type { WorkspaceData } from '../workspace';
import type { WorkspaceSetup } from './workspaceSetup';

export const HOOKS_TERMINAL_NAME = 'Slipstream hooks';

export class HookRunner extends Disposable {
  private queue: Promise<void> = Promise.resolve();
  private terminal: HooksTerminal | undefined;
  private toldUntrusted = false;

  constructor(
    changes: ChangeWatcher,
    private readonly engine: Requester,
    private readonly setup: WorkspaceSetup,
    private readonly workspace: WorkspaceData,
    private readonly log: (line: string) => void,
  ) {
    super();
    // One run at a time, in the order of the changes: two restarts of the app must not overlap.
    this.register(changes.onDidChangeData((change) => {
      this.queue = this.queue.then(() => this.run(change)).catch((err) => this.log(`hooks: ${userMessage(err)}`));
    }));
    this.register({ dispose: () => this.terminal?.dispose() });
  }

  private async run(change: ChangeMade): Promise<void> {
    const config = this.setup.config;
    const folder = this.setup.folder;
    const event = hookEvent(change.operation);
    const commands = config?.hooks[event] ?? [];
    if (commands.length === 0 || !folder) return;
    // The hooks restart this workspace's application: a change to another container is not its data.
    if (change.container !== this.workspace.preferredName()) {
      this.log(`hooks: ${change.container} is not this workspace's container; its ${HOOK_KEYS[event]} hooks were not run`);
      return;
    }
    if (!vscode.workspace.isTrusted) {
      this.sayUntrusted();
      return;
    }
    const full: DataChange = { ...change, container: await this.engine.request(ContainerShowRequest.type, { name: change.container }) };
    const terminal = this.openTerminal();
    terminal.write(`\n— ${HOOK_KEYS[event]} hooks, after ${describeChange(full)} —\n`);
    const outcome = await runHooks(commands, {
      cwd: folder,
      env: { ...process.env, ...hookEnvironment(full) },
      stdout: (chunk) => terminal.write(chunk),
      stderr: (chunk) => terminal.write(chunk),
      onStart: (command) => terminal.write(`$ ${command}\n`),
      signal: terminal.signal,
    });
    if (outcome.ok) {
      terminal.write(`— done —\n`);
      return;
    }
    const message = hookFailureMessage(full, outcome);
    terminal.write(`— ${message} —\n`);
    this.log(`hooks: ${message}`);
    const choice = await vscode.window.showWarningMessage(`Slipstream: ${message[0]!.toUpperCase()}${message.slice(1)}.`, 'Show Output');
    if (choice) terminal.show();
  }

  private sayUntrusted(): void {
    if (this.toldUntrusted) return;
    this.toldUntrusted = true;
    void vscode.window.showInformationMessage(
      'Slipstream: this workspace is not trusted, so the hooks in its slipstream.json were not run. Trust the workspace to run them.');
  }

  private openTerminal(): HooksTerminal {
    if (!this.terminal || this.terminal.closed) this.terminal = new HooksTerminal();
    this.terminal.show();
    return this.terminal;
  }
}

/** A terminal the extension writes to: the hooks' output, kept until the user closes it.
 *  Closing it stops a hook that still runs. */
class HooksTerminal {
  private readonly output = new vscode.EventEmitter<string>();
  private readonly controller = new AbortController();
  private pending: string[] | undefined = [];
  private readonly terminal: vscode.Terminal;
  closed = false;

  constructor() {
    const pty: vscode.Pseudoterminal = {
      onDidWrite: this.output.event,
      open: () => {
        for (const text of this.pending ?? []) this.output.fire(text);
        this.pending = undefined;
      },
      close: () => {
        this.closed = true;
        this.controller.abort();
      },
    };
    this.terminal = vscode.window.createTerminal({ name: HOOKS_TERMINAL_NAME, pty });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Until the terminal opens, what is written waits (a pseudoterminal drops it otherwise). */
  write(text: string): void {
    const crlf = text.replace(/\r?\n/g, '\r\n');
    if (this.pending) this.pending.push(crlf);
    else this.output.fire(crlf);
  }

  show(): void {
    this.terminal.show(true);
  }

  dispose(): void {
    this.controller.abort();
    this.terminal.dispose();
    this.output.dispose();
  }
}
