import * as vscode from 'vscode';
import { commandHandlers, runCommand, type CommandId, type CommandOutcome } from '../commands';
import type { Session } from '../commands/session';
import { refOf } from '../model/refs';
import type { IDisposable } from '../util/disposable';

/** Registers every data command: each runs its vscode-free handler with this window's session. */
export function registerDataCommands(session: Session, log: (line: string) => void): IDisposable[] {
  return (Object.keys(commandHandlers) as CommandId[]).map((id) =>
    vscode.commands.registerCommand(id, (arg: unknown): Promise<CommandOutcome> => runCommand(session, id, arg, log)));
}

/** The container an item stands for, for commands that take one (timeline, select). */
export function containerArg(arg: unknown): string | undefined {
  const ref = refOf(arg);
  return ref && 'container' in ref ? ref.container : undefined;
}
