/**
 * The three trees as VS Code sees them: a thin adapter over treeData.ts, which
 * decides what each level shows and which rows changed.
 */
import * as vscode from 'vscode';
import type { NodeDesc } from '../model/nodes';
import type { TreeChange, TreeData } from '../treeData';
import { Disposable } from '../util/disposable';

/** The command a "Load more…" row runs when clicked. */
export const LOAD_MORE = 'slipstream.views.loadMore';

export class EngineTree extends Disposable implements vscode.TreeDataProvider<NodeDesc> {
  private readonly changed = this.register(new vscode.EventEmitter<NodeDesc | NodeDesc[] | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  /** Levels VS Code is being answered for, and not yet a macrotask past the answer. */
  private fetching = 0;
  /** Levels VS Code will ask for again after the last announcement, and has not yet. */
  private awaiting = new Set<string>();
  private awaitingTimer?: ReturnType<typeof setTimeout>;
  /** A change that came meanwhile: `whole`, or these rows. */
  private held?: { whole: boolean; rows: Set<NodeDesc> };

  constructor(readonly data: TreeData) {
    super();
    this.register(data);
    this.register(data.onDidChange((nodes) => this.announce(nodes)));
    this.register({ dispose: () => clearTimeout(this.awaitingTimer) });
  }

  /**
   * Tell VS Code to draw rows again (the same objects it got from getChildren: it finds rows by
   * identity), but never while it is being answered for a level, nor before it has asked again
   * for the levels the last announcement made it forget. A change announced then makes it ask
   * for a level twice, and when both answers land it registers the same rows twice and shows
   * "Element with id … is already registered" (microsoft/vscode#192055; two clean-clone runs of the
   * e2e clicks test saw it). So a change waits; a level VS Code does not ask for again (its
   * row collapsed meanwhile) is waited for AWAIT_MS at most.
   */
  private announce(nodes: TreeChange): void {
    if (this.fetching > 0 || this.awaiting.size > 0) {
      const held = this.held ??= { whole: false, rows: new Set() };
      if (!nodes) held.whole = true;
      else for (const n of nodes) held.rows.add(n);
      return;
    }
    this.changed.fire(nodes ? [...nodes] : undefined);
    this.awaiting = new Set(nodes ? this.data.redrawing : ['']);
    clearTimeout(this.awaitingTimer);
    if (this.awaiting.size) this.awaitingTimer = setTimeout(() => { this.awaiting.clear(); this.announceHeld(); }, AWAIT_MS);
  }

  private announceHeld(): void {
    if (this.fetching > 0 || this.awaiting.size > 0 || !this.held || this.isDisposed) return;
    const { whole, rows } = this.held;
    this.held = undefined;
    this.announce(whole ? undefined : [...rows]);
  }

  getTreeItem(node: NodeDesc): vscode.TreeItem {
    const item = new vscode.TreeItem(node.label, collapsible(node.collapsible));
    // VS Code remembers a row's collapsible state by id and keeps a leaf a leaf, so a branch
    // that gets its first bookmark must come back under another id to show an arrow.
    item.id = node.collapsible === 'none' ? `${node.id}#leaf` : node.id;
    item.description = node.description;
    const tooltip = new vscode.MarkdownString(node.tooltip);
    tooltip.supportThemeIcons = true;
    item.tooltip = tooltip;
    item.contextValue = node.contextValue;
    item.iconPath = new vscode.ThemeIcon(node.icon.id, node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined);
    if (node.ref.kind === 'loadMore') item.command = { command: LOAD_MORE, title: node.label, arguments: [node] };
    return item;
  }

  async getChildren(node?: NodeDesc): Promise<NodeDesc[]> {
    this.fetching++;
    try {
      return await this.data.children(node);
    } finally {
      // VS Code registers the rows once this has resolved: a macrotask later they are surely known.
      setTimeout(() => {
        this.fetching--;
        this.awaiting.delete(node?.id ?? '');
        this.announceHeld();
      });
    }
  }
}

/** The longest a change waits for VS Code to ask again for a level it was told to redraw. */
const AWAIT_MS = 1000;

function collapsible(c: NodeDesc['collapsible']): vscode.TreeItemCollapsibleState {
  return c === 'none' ? vscode.TreeItemCollapsibleState.None
    : c === 'expanded' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed;
}
