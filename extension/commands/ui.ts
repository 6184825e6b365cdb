/**
 * What commands need from the user interface, and nothing more. The vscode
 * adapter (vscode/ui.ts) implements it with input boxes, quick picks, modal
 * dialogs and progress notifications; node:test implements it with scripted
 * answers, so command logic runs against a real engine without VS Code.
 */
import type { WorkDoneProgress } from '../../server/protocol';
import type { PickItem } from '../model/picks';

export interface InputOptions {
  title: string;
  prompt: string;
  value?: string;
  placeholder?: string;
  /** Empty answers are refused in the box itself when true. */
  required?: boolean;
  /** Hidden typing, for tokens. */
  password?: boolean;
}

export interface ProgressTask<R> {
  (report: (progress: WorkDoneProgress) => void, signal: AbortSignal): Promise<R>;
}

export interface Ui {
  pick<T>(items: Array<PickItem<T>>, opts: { title: string; placeholder?: string }): Promise<T | undefined>;
  input(opts: InputOptions): Promise<string | undefined>;
  /** A modal question before a destructive action; true only when `action` was chosen. */
  confirm(message: string, detail: string, action: string): Promise<boolean>;
  pickFiles(opts: { title: string; many: boolean; filters?: Record<string, string[]> }): Promise<string[] | undefined>;
  /** A progress notification; cancellable ones abort `signal` when the user cancels. */
  withProgress<R>(title: string, cancellable: boolean, task: ProgressTask<R>): Promise<R>;
  /**
   * A question with buttons. Modal ones block until answered; non-modal ones are
   * notifications the user may ignore (then the answer is undefined, perhaps never).
   */
  choose(message: string, buttons: string[], opts?: { modal?: boolean; detail?: string }): Promise<string | undefined>;
  info(message: string): void;
  error(message: string): void;
  copy(text: string): Promise<void>;
  openTerminal(name: string, env: Record<string, string>): void;
}
