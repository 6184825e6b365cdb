import * as vscode from 'vscode';
import type { EngineConnection } from '../engine/connection';
import { statusBar } from '../model/status';
import { Disposable } from '../util/disposable';
import type { WorkspaceData } from '../workspace';

/** The workspace's container and active branch; a click opens the switch quick pick (or says what to do first). */
export class StatusBar extends Disposable {
  private readonly item = this.register(vscode.window.createStatusBarItem('slipstream.status', vscode.StatusBarAlignment.Left, 50));

  constructor(private readonly engine: EngineConnection, private readonly workspace: WorkspaceData) {
    super();
    this.item.name = 'Slipstream';
    this.register(engine.onDidChangeState(() => this.update()));
    this.register(workspace.onDidChange(() => this.update()));
    this.update();
    this.item.show();
  }

  private update(): void {
    const snap = this.workspace.snapshot;
    const desc = statusBar(this.engine.state, snap.container, snap.containers.length);
    this.item.text = desc.text;
    this.item.tooltip = desc.tooltip;
    this.item.command = desc.command;
    this.item.backgroundColor = desc.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }
}
