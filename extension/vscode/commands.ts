import * as vscode from 'vscode';
import { commandHandlers, menuCommandIds, menuTwin, runCommand, type CommandId, type CommandOutcome } from '../commands';
import type { Session } from '../commands/session';
import { refOf } from '../model/refs';
import type { IDisposable } from '../util/disposable';

/**
 * Registers every data command: each runs its vscode-free handler with this window's session.
 * A context menu's twin that gets no row takes the one `menuRow` finds (the right-clicked row).
 */
export function registerDataCommands(session: Session, log: (line: string) => void, menuRow: () => Promise<unknown>): IDisposable[] {
  const plain = (Object.keys(commandHandlers) as CommandId[]).map((id) =>
    vscode.commands.registerCommand(id, (arg: unknown): Promise<CommandOutcome> => runCommand(session, id, arg, log)));
  const twins = menuCommandIds.map((id) =>
    vscode.commands.registerCommand(menuTwin(id), async (arg: unknown): Promise<CommandOutcome> => {
      if (arg !== undefined && arg !== null) return runCommand(session, id, arg, log);
      const started = Date.now();
      const row = await menuRow();
      // Rare and timing-bound: the log says how often it happens and how long the wait was.
      log(`${id}: VS Code handed the menu no row; ${row ? 'took the focused one' : 'found none, asking'} after ${Date.now() - started} ms`);
      return runCommand(session, id, row, log);
    }));
  return [...plain, ...twins];
}

/** The container an item stands for, for commands that take one (timeline, select). */
export function containerArg(arg: unknown): string | undefined {
  const ref = refOf(arg);
  return ref && 'container' in ref ? ref.container : undefined;
}
