import * as vscode from 'vscode';
import type { WorkDoneProgress } from '../../server/protocol';
import type { InputOptions, ProgressTask, Ui } from '../commands/ui';
import type { PickItem } from '../model/picks';

interface QuickItem<T> extends vscode.QuickPickItem {
  value?: T;
}

/** The Ui that commands use, made of VS Code's own input boxes, quick picks, dialogs and notifications. */
export class VscodeUi implements Ui {
  async pick<T>(items: Array<PickItem<T>>, opts: { title: string; placeholder?: string }): Promise<T | undefined> {
    const quickItems: Array<QuickItem<T>> = [];
    for (const item of items) {
      if (item.separator) quickItems.push({ label: item.separator, kind: vscode.QuickPickItemKind.Separator });
      quickItems.push({ label: item.label, description: item.description, detail: item.detail, picked: item.picked, value: item.value });
    }
    const chosen = await vscode.window.showQuickPick(quickItems, {
      title: opts.title, placeHolder: opts.placeholder, matchOnDescription: true, matchOnDetail: true,
    });
    return chosen?.value;
  }

  input(opts: InputOptions): Promise<string | undefined> {
    return Promise.resolve(vscode.window.showInputBox({
      title: opts.title,
      prompt: opts.prompt,
      value: opts.value,
      placeHolder: opts.placeholder,
      password: opts.password,
      ignoreFocusOut: opts.password,
      // Only emptiness is checked here: which names are valid is the engine's call, and its message is shown.
      validateInput: opts.required ? (v) => (v.trim() === '' ? 'Required' : undefined) : undefined,
    })).then((v) => (v === undefined ? undefined : opts.required ? v.trim() : v));
  }

  async confirm(message: string, detail: string, action: string): Promise<boolean> {
    const chosen = await vscode.window.showWarningMessage(message, { modal: true, detail }, action);
    return chosen === action;
  }

  async pickFiles(opts: { title: string; many: boolean; filters?: Record<string, string[]> }): Promise<string[] | undefined> {
    const uris = await vscode.window.showOpenDialog({
      title: opts.title, canSelectMany: opts.many, canSelectFiles: true, canSelectFolders: false, filters: opts.filters,
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    return uris?.map((u) => u.fsPath);
  }

  withProgress<R>(title: string, cancellable: boolean, task: ProgressTask<R>): Promise<R> {
    return Promise.resolve(vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable },
      async (progress, token) => {
        const controller = new AbortController();
        const sub = token.onCancellationRequested(() => controller.abort());
        // The engine reports absolute percentages; VS Code wants increments.
        let last = 0;
        const report = (p: WorkDoneProgress) => {
          if (p.kind === 'end') return;
          const pct = p.percentage;
          const increment = pct !== undefined && pct > last ? pct - last : undefined;
          if (pct !== undefined) last = Math.max(last, pct);
          progress.report({ message: p.kind === 'begin' ? (p.message ?? p.title) : p.message, increment });
        };
        try {
          return await task(report, controller.signal);
        } finally {
          sub.dispose();
        }
      }));
  }

  async choose(message: string, buttons: string[], opts: { modal?: boolean; detail?: string } = {}): Promise<string | undefined> {
    return vscode.window.showInformationMessage(message, { modal: opts.modal ?? false, detail: opts.detail }, ...buttons);
  }

  info(message: string): void {
    void vscode.window.showInformationMessage(message);
  }

  error(message: string): void {
    void vscode.window.showErrorMessage(`Slipstream: ${message}`, 'Show Log').then((choice) => {
      if (choice) void vscode.commands.executeCommand('slipstream.showLog');
    });
  }

  async copy(text: string): Promise<void> {
    await vscode.env.clipboard.writeText(text);
  }

  openTerminal(name: string, env: Record<string, string>): void {
    vscode.window.createTerminal({ name, env, iconPath: new vscode.ThemeIcon('database') }).show();
  }
}
