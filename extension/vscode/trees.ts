/**
 * The three trees: Containers, Shared Bookmarks, Templates. Each provider asks
 * the engine for one level when VS Code expands it and maps the answer with
 * model/nodes.ts; every engine change or reconnect refreshes it.
 */
import * as vscode from 'vscode';
import {
  BookmarkListRequest,
  BranchListRequest,
  ContainerListRequest,
  TemplateListRequest,
  type BookmarkInfo,
} from '../../server/protocol';
import type { EngineConnection } from '../engine/connection';
import { userMessage } from '../model/errors';
import {
  branchChildren,
  containerChildren,
  containerNode,
  sharedChildren,
  sharedGroups,
  templateNode,
  templateVersionNodes,
  type NodeDesc,
} from '../model/nodes';
import { Disposable } from '../util/disposable';
import { debounce } from '../util/event';
import type { WorkspaceData } from '../workspace';

abstract class EngineTree extends Disposable implements vscode.TreeDataProvider<NodeDesc> {
  private readonly changed = this.register(new vscode.EventEmitter<NodeDesc | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  protected readonly refreshSoon = debounce(() => this.changed.fire(undefined), 50);

  constructor(protected readonly engine: EngineConnection, protected readonly log: (line: string) => void) {
    super();
    this.register(engine.onChanged(() => this.refreshSoon()));
    this.register(engine.onDidChangeState(() => this.refreshSoon()));
    this.register({ dispose: () => this.refreshSoon.cancel() });
  }

  refresh(): void {
    this.changed.fire(undefined);
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
    return item;
  }

  async getChildren(node?: NodeDesc): Promise<NodeDesc[]> {
    // Empty while disconnected, so the welcome view (with its Start Engine button) shows.
    if (this.engine.state.kind !== 'connected') return [];
    try {
      return await this.children(node);
    } catch (err) {
      this.log(`tree: ${userMessage(err)}`);
      return [];
    }
  }

  protected abstract children(node?: NodeDesc): Promise<NodeDesc[]>;
}

function collapsible(c: NodeDesc['collapsible']): vscode.TreeItemCollapsibleState {
  return c === 'none' ? vscode.TreeItemCollapsibleState.None
    : c === 'expanded' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed;
}

export class ContainersTree extends EngineTree {
  constructor(engine: EngineConnection, log: (line: string) => void, private readonly workspace: WorkspaceData) {
    super(engine, log);
    this.register(workspace.onDidChange(() => this.refreshSoon()));
  }

  protected async children(node?: NodeDesc): Promise<NodeDesc[]> {
    const user = this.engine.status?.user;
    if (!node) {
      const containers = await this.engine.request(ContainerListRequest.type, {});
      const mine = this.workspace.snapshot.container?.name;
      return containers
        .sort((a, b) => Number(b.name === mine) - Number(a.name === mine) || a.name.localeCompare(b.name))
        .map((c) => containerNode(c, { workspace: c.name === mine }));
    }
    const ref = node.ref;
    if (ref.kind === 'container') {
      const [containers, branches, bookmarks] = await Promise.all([
        this.engine.request(ContainerListRequest.type, {}),
        this.engine.request(BranchListRequest.type, { container: ref.container }),
        this.engine.request(BookmarkListRequest.type, { container: ref.container }),
      ]);
      const c = containers.find((x) => x.name === ref.container);
      return c ? containerChildren(c, branches, bookmarks) : [];
    }
    if (ref.kind === 'branch') {
      const bookmarks = await this.engine.request(BookmarkListRequest.type, { container: ref.container });
      return branchChildren(ref, bookmarks, user);
    }
    return [];
  }
}

export class SharedBookmarksTree extends EngineTree {
  private cache: BookmarkInfo[] = [];

  protected async children(node?: NodeDesc): Promise<NodeDesc[]> {
    if (!node) {
      this.cache = await this.engine.request(BookmarkListRequest.type, { shared: true });
      return sharedGroups(this.cache);
    }
    return node.ref.kind === 'sharedGroup' ? sharedChildren(node.ref.template, this.cache, this.engine.status?.user) : [];
  }
}

export class TemplatesTree extends EngineTree {
  protected async children(node?: NodeDesc): Promise<NodeDesc[]> {
    const templates = await this.engine.request(TemplateListRequest.type, {});
    if (!node) return templates.sort((a, b) => a.name.localeCompare(b.name)).map(templateNode);
    const ref = node.ref;
    const t = ref.kind === 'template' ? templates.find((x) => x.name === ref.template) : undefined;
    return t ? templateVersionNodes(t) : [];
  }
}
