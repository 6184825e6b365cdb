/**
 * What the three trees (Containers, Shared Bookmarks, Templates) show, level
 * by level, and what to tell VS Code when the engine changes something.
 *
 * Each level VS Code has asked for is kept. On an engine change (debounced: one
 * operation can send several notifications) every kept level is read again and
 * diffed against what VS Code has, by stable id (model/treeDiff.ts): nothing
 * is announced when nothing changed, a row that only shows something else is
 * announced alone, and a level whose rows came, went or moved is announced by
 * its parent, whose new children are then answered from this cache without a
 * round trip. The whole tree is announced only when its top level changes or
 * the connection comes or goes. So a context-menu command finds its row.
 *
 * VS Code still forgets the rows under an announced row until it has asked for
 * their levels again (its extension host drops their handles first): a menu
 * command run meanwhile gets no row. `redrawing` names those levels, so that
 * the command can find its row once they are back (vscode/menuRows.ts).
 *
 * Bookmark lists come a page at a time, newest first, with a "Load more…" row.
 * No `vscode`: tested under node:test against a real engine.
 */
import {
  BookmarkListRequest, BranchListRequest, ContainerListRequest, TemplateListRequest,
  type BookmarkListParams,
} from '../server/protocol';
import { userMessage } from './model/errors';
import {
  branchChildren, containerChildren, containerNode, sharedChildren, sharedGroups, templateNode, templateVersionNodes,
  type BookmarkPage, type NodeDesc,
} from './model/nodes';
import { diffChildren } from './model/treeDiff';
import { Disposable } from './util/disposable';
import { coalesce, debounce, Emitter } from './util/event';
import type { EngineFeed, WorkspaceData } from './workspace';

/** Rows per page of bookmarks. */
export const PAGE = 100;
/** The engine's largest page. */
const MAX_LIMIT = 10_000;

/** The rows VS Code must draw again, or `undefined` for the whole tree. */
export type TreeChange = readonly NodeDesc[] | undefined;

/** What the view was given under one parent (keyed by its id, '' for the top level). */
interface Level {
  parent?: NodeDesc;
  children: NodeDesc[];
  /** Read by the last update and not yet asked for: the next ask is answered from here. */
  fresh: boolean;
}

export abstract class TreeData extends Disposable {
  private readonly emitter = this.register(new Emitter<TreeChange>());
  /** Fires only when something shown changed. */
  readonly onDidChange = this.emitter.event;
  private levels = new Map<string, Level>();
  private connected: boolean;
  /** How many bookmarks each paged level shows (PAGE until "Load more…"), its query and last page. */
  private readonly pages = new Map<string, { params: BookmarkListParams; page: BookmarkPage; want: number }>();
  /** A longer page read by "Load more…", for the level's next read. */
  private readonly preloaded = new Map<string, BookmarkPage>();
  /**
   * Levels under an announced row that VS Code has not been answered for since: it knows none of
   * their rows meanwhile. Each maps to its announcement's number, so an answer to an earlier ask
   * does not clear a later announcement.
   */
  private readonly pendingLevels = new Map<string, number>();
  private announcements = 0;
  private readonly askedEmitter = this.register(new Emitter<void>());
  /** Fires after VS Code asked for a level (answered or not). */
  readonly onDidAsk = this.askedEmitter.event;
  private readonly updateSoon = debounce(() => void this.update(), 50);
  private readonly updateNow = coalesce(() => this.diffAll());

  constructor(protected readonly engine: EngineFeed, protected readonly log: (line: string) => void) {
    super();
    this.connected = engine.state.kind === 'connected';
    this.register(engine.onChanged(() => this.updateSoon()));
    this.register(engine.onDidChangeState((s) => this.stateChanged(s.kind === 'connected')));
    this.register({ dispose: () => this.updateSoon.cancel() });
  }

  /** The children of `parent` (the top level without one). Empty while disconnected, so the welcome view shows. */
  async children(parent?: NodeDesc): Promise<NodeDesc[]> {
    const key = parent?.id ?? '';
    const announced = this.pendingLevels.get(key);
    try {
      return await this.read(key, parent);
    } finally {
      // VS Code registers the rows once this has returned: a macrotask later they are surely known.
      if (announced !== undefined && this.pendingLevels.get(key) === announced) {
        this.pendingLevels.delete(key);
        setTimeout(() => this.askedEmitter.fire());
      }
    }
  }

  private async read(key: string, parent?: NodeDesc): Promise<NodeDesc[]> {
    if (this.engine.state.kind !== 'connected') return [];
    const kept = this.levels.get(key);
    if (kept?.fresh) {
      kept.fresh = false;
      return kept.children;
    }
    try {
      const next = await this.load(parent);
      // Keep the objects VS Code may still hold: it finds rows by identity.
      const children = kept ? diffChildren(kept.children, next).children : next;
      this.levels.set(key, { parent, children, fresh: false });
      return children;
    } catch (err) {
      this.log(`tree: ${userMessage(err)}`);
      return [];
    }
  }

  /** The levels whose rows VS Code forgot when it was told to draw them again, and has not asked for since. */
  get redrawing(): ReadonlySet<string> {
    return new Set(this.pendingLevels.keys());
  }

  /** The level (its parent's id, '' for the top) that holds `row`, the very object VS Code was given. */
  levelOf(row: unknown): string | undefined {
    return [...this.levels].find(([, l]) => l.children.some((c) => c === row))?.[0];
  }

  /** As `update`, after the same quiet time as an engine change (a change reloads the workspace too). */
  protected updateSoonFromWorkspace(): void {
    this.updateSoon();
  }

  /** Reads every shown level again and announces what changed; resolves when announced. */
  update(): Promise<void> {
    return this.updateNow();
  }

  /** Forgets everything, pages loaded included, and redraws the whole tree ("Reload Views"). */
  reload(): void {
    this.forget();
    this.pendingLevels.clear();
    this.emitter.fire(undefined);
  }

  /**
   * The "Load more…" row `row` was clicked: read the next page after the last bookmark
   * shown, then show it. False when the row is not one of this tree's.
   */
  async loadMore(row: unknown): Promise<boolean> {
    const id = typeof row === 'object' && row !== null && 'id' in row ? (row as { id: unknown }).id : undefined;
    const key = [...this.levels].find(([, l]) => l.children.some((c) => c.id === id && c.ref.kind === 'loadMore'))?.[0];
    const list = key === undefined ? undefined : this.pages.get(key);
    if (key === undefined || !list) return false;
    const last = list.page.bookmarks.at(-1);
    list.want = Math.min(list.page.bookmarks.length + PAGE, MAX_LIMIT - 1);
    try {
      const next = await this.engine.request(BookmarkListRequest.type, { ...list.params, newest: true, after: last?.id, limit: PAGE + 1 });
      this.preloaded.set(key, { bookmarks: [...list.page.bookmarks, ...next.slice(0, PAGE)], more: next.length > PAGE });
    } catch (err) {
      // The last one shown was deleted meanwhile: the update reads the longer list from the start.
      this.log(`tree: ${userMessage(err)}`);
    }
    await this.update();
    return true;
  }

  /** The children of `parent` as the engine says now. */
  protected abstract load(parent?: NodeDesc): Promise<NodeDesc[]>;

  /** The paged bookmark list shown under level `key`: as many as were asked for, newest first. */
  protected async page(key: string, params: BookmarkListParams): Promise<BookmarkPage> {
    const ready = this.preloaded.get(key);
    this.preloaded.delete(key);
    const want = this.pages.get(key)?.want ?? PAGE;
    let page = ready;
    if (!page) {
      const got = await this.engine.request(BookmarkListRequest.type, { ...params, newest: true, limit: want + 1 });
      page = { bookmarks: got.slice(0, want), more: got.length > want };
    }
    this.pages.set(key, { params, page, want });
    return page;
  }

  private stateChanged(connected: boolean): void {
    if (connected === this.connected) {
      this.updateSoon();
      return;
    }
    // Another engine, or none: nothing kept is true any more.
    this.connected = connected;
    this.updateSoon.cancel();
    this.reload();
  }

  private forget(): void {
    this.levels.clear();
    this.pages.clear();
    this.preloaded.clear();
  }

  private async diffAll(): Promise<void> {
    if (this.engine.state.kind !== 'connected' || this.isDisposed) return;
    const changed = new Set<NodeDesc>();
    let whole = false;
    for (const [key, level] of [...this.levels]) {
      if (this.levels.get(key) !== level) continue; // dropped with its parent, or read anew meanwhile
      let next: NodeDesc[];
      try {
        next = await this.load(level.parent);
      } catch (err) {
        this.log(`tree: ${userMessage(err)}`);
        continue;
      }
      if (this.levels.get(key) !== level) continue;
      const diff = diffChildren(level.children, next);
      this.levels.set(key, { parent: level.parent, children: diff.children, fresh: true });
      for (const n of diff.updated) changed.add(n);
      if (!diff.structural) continue;
      if (level.parent) changed.add(level.parent);
      else whole = true;
      this.dropHidden();
    }
    this.announcements++;
    if (whole) this.markRedrawn('');
    else for (const n of changed) this.markRedrawn(n.id);
    if (whole) this.emitter.fire(undefined);
    else if (changed.size) this.emitter.fire([...changed]);
  }

  /** VS Code drops the rows under a row it draws again (`key` is that row's id), down to the last kept level. */
  private markRedrawn(key: string): void {
    const level = this.levels.get(key);
    if (!level) return;
    this.pendingLevels.set(key, this.announcements);
    for (const child of level.children) this.markRedrawn(child.id);
  }

  /** Forgets levels whose parent row is gone (and theirs, and so on). */
  private dropHidden(): void {
    for (;;) {
      const shown = new Set([''].concat([...this.levels.values()].flatMap((l) => l.children.map((c) => c.id))));
      const gone = [...this.levels.keys()].filter((k) => !shown.has(k));
      if (!gone.length) return;
      for (const k of gone) {
        this.levels.delete(k);
        this.pages.delete(k);
        this.pendingLevels.delete(k);
      }
    }
  }
}

export class ContainersData extends TreeData {
  constructor(engine: EngineFeed, log: (line: string) => void, private readonly workspace: WorkspaceData) {
    super(engine, log);
    // The workspace's container comes first, expanded: a new choice moves rows.
    this.register(workspace.onDidChange(() => this.updateSoonFromWorkspace()));
  }

  protected async load(node?: NodeDesc): Promise<NodeDesc[]> {
    if (!node) {
      const containers = await this.engine.request(ContainerListRequest.type, {});
      const mine = this.workspace.snapshot.container?.name;
      return containers
        .sort((a, b) => Number(b.name === mine) - Number(a.name === mine) || a.name.localeCompare(b.name))
        .map((c) => containerNode(c, { workspace: c.name === mine }));
    }
    const ref = node.ref;
    if (ref.kind === 'container') {
      const [containers, branches] = await Promise.all([
        this.engine.request(ContainerListRequest.type, {}),
        this.engine.request(BranchListRequest.type, { container: ref.container }),
      ]);
      const c = containers.find((x) => x.name === ref.container);
      if (!c) return [];
      // One bookmark per branch says whether it gets an arrow; its list comes when it is expanded.
      const [firsts, orphans] = await Promise.all([
        Promise.all(branches.map((b) => this.engine.request(BookmarkListRequest.type, { container: c.name, branch: b.name, limit: 1 }))),
        this.page(node.id, { container: c.name, orphaned: true }),
      ]);
      const withBookmarks = new Set(branches.filter((_, i) => firsts[i].length > 0).map((b) => b.name));
      return containerChildren(c, branches, withBookmarks, orphans);
    }
    if (ref.kind === 'branch') {
      const page = await this.page(node.id, { container: ref.container, branch: ref.branch });
      return branchChildren(ref, page, this.engine.state.kind === 'connected' ? this.engine.state.status.user : undefined);
    }
    return [];
  }
}

export class SharedBookmarksData extends TreeData {
  private shared: BookmarkPage = { bookmarks: [], more: false };

  protected async load(node?: NodeDesc): Promise<NodeDesc[]> {
    if (!node) {
      // The headings group the pages loaded; "Load more…" comes after them.
      this.shared = await this.page('', { shared: true });
      return sharedGroups(this.shared);
    }
    const user = this.engine.state.kind === 'connected' ? this.engine.state.status.user : undefined;
    return node.ref.kind === 'sharedGroup' ? sharedChildren(node.ref.template, this.shared.bookmarks, user) : [];
  }
}

export class TemplatesData extends TreeData {
  protected async load(node?: NodeDesc): Promise<NodeDesc[]> {
    const templates = await this.engine.request(TemplateListRequest.type, {});
    if (!node) return templates.sort((a, b) => a.name.localeCompare(b.name)).map(templateNode);
    const ref = node.ref;
    const t = ref.kind === 'template' ? templates.find((x) => x.name === ref.template) : undefined;
    return t ? templateVersionNodes(t) : [];
  }
}
