/**
 * The three trees as VS Code sees them: a thin adapter over treeData.ts, which
 * decides what each level shows and which rows changed.
 */
import * as vscode from 'vscode';
import type { NodeDesc } from '../model/nodes';
import type { TreeData } from '../treeData';
import { Disposable } from '../util/disposable';

/** The command a "Load more…" row runs when clicked. */
export const LOAD_MORE = 'slipstream.views.loadMore';

export class EngineTree extends Disposable implements vscode.TreeDataProvider<NodeDesc> {
  private readonly changed = this.register(new vscode.EventEmitter<NodeDesc | NodeDesc[] | undefined>());
  readonly onDidChangeTreeData = this.changed.event;

  constructor(readonly data: TreeData) {
    super();
    this.register(data);
    // The same objects VS Code got from getChildren: it finds rows by identity.
    this.register(data.onDidChange((nodes) => this.changed.fire(nodes ? [...nodes] : undefined)));
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

  getChildren(node?: NodeDesc): Promise<NodeDesc[]> {
    return this.data.children(node);
  }
}

function collapsible(c: NodeDesc['collapsible']): vscode.TreeItemCollapsibleState {
  return c === 'none' ? vscode.TreeItemCollapsibleState.None
    : c === 'expanded' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed;
}
