import * as vscode from 'vscode';
import type { EngineConnection } from '../engine/connection';
import type { FirstSteps } from '../firstSteps';
import { contextKeyValues } from '../model/contextKeys';
import { Disposable } from '../util/disposable';
import type { WorkspaceData } from '../workspace';

/** Sets the context keys of model/contextKeys.ts (welcome views, menus, walkthrough steps) from what the engine says. */
export class ContextKeys extends Disposable {
  constructor(private readonly engine: EngineConnection, private readonly workspace: WorkspaceData, private readonly steps: FirstSteps) {
    super();
    this.register(engine.onDidChangeState(() => this.update()));
    this.register(workspace.onDidChange(() => this.update()));
    this.register(steps.onDidChange(() => this.update()));
    this.update();
  }

  private update(): void {
    const values = contextKeyValues(this.engine.state, this.engine.target, this.workspace.snapshot, this.steps.facts);
    for (const [key, value] of Object.entries(values)) void vscode.commands.executeCommand('setContext', key, value);
  }
}
