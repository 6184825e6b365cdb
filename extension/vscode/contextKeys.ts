import * as vscode from 'vscode';
import type { EngineConnection } from '../engine/connection';
import { Disposable } from '../util/disposable';
import type { WorkspaceData } from '../workspace';

/** The `when` clauses of the welcome views and menus: engine state, and whether templates and containers exist. */
export class ContextKeys extends Disposable {
  constructor(private readonly engine: EngineConnection, private readonly workspace: WorkspaceData) {
    super();
    this.register(engine.onDidChangeState(() => this.update()));
    this.register(workspace.onDidChange(() => this.update()));
    this.update();
  }

  private update(): void {
    const snap = this.workspace.snapshot;
    const set = (key: string, value: unknown) => void vscode.commands.executeCommand('setContext', key, value);
    set('slipstream.state', this.engine.state.kind);
    set('slipstream.engineKind', this.engine.target.kind);
    set('slipstream.hasTemplates', snap.templateCount > 0);
    set('slipstream.hasContainers', snap.containers.length > 0);
    set('slipstream.hasWorkspaceContainer', Boolean(snap.container));
  }
}
