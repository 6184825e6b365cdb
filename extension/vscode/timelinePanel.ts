/**
 * The timeline panel: one webview per window, showing one container's
 * timeline. It loads the model from the engine (model/timeline.ts), posts it
 * after the webview's `ready`, and again after every engine change to that
 * container. The engine answers a page at a time: the newest page is read at
 * every change, older pages when the webview asks (`loadOlder`), and the
 * pages loaded stay (model/timelinePages.ts). The webview's bookmark actions
 * run the same commands as the trees.
 */
import * as crypto from 'crypto';
import * as vscode from 'vscode';
import {
  BookmarkListRequest,
  BranchListRequest,
  ContainerShowRequest,
  TimelineRequest,
  type BookmarkInfo,
  type BranchInfo,
  type ContainerInfo,
  type TimelinePage,
} from '../../server/protocol';
import { isFromWebview, type BookmarkAction, type FromWebview, type TimelineModel, type ToWebview } from '../../webview/protocol';
import type { EngineConnection } from '../engine/connection';
import { userMessage } from '../model/errors';
import type { BookmarkRef } from '../model/refs';
import { TIMELINE_PAGE, timelineModel } from '../model/timeline';
import { TimelinePages } from '../model/timelinePages';
import { Disposable } from '../util/disposable';
import { debounce } from '../util/event';

const ACTION_COMMANDS: Record<BookmarkAction, string> = {
  restore: 'slipstream.bookmark.restore',
  branch: 'slipstream.bookmark.branchHere',
  share: 'slipstream.bookmark.share',
  unshare: 'slipstream.bookmark.unshare',
  copyLink: 'slipstream.bookmark.shareLink',
  delete: 'slipstream.bookmark.delete',
};

export class TimelinePanel extends Disposable {
  static readonly viewType = 'slipstream.timeline';
  private panel: vscode.WebviewPanel | undefined;
  private container: string | undefined;
  private ready = false;
  private model: TimelineModel | undefined;
  private pages = new TimelinePages();
  /** What the last reload read besides events, to draw an older page with. */
  private read: { container: ContainerInfo; branches: BranchInfo[]; bookmarks: BookmarkInfo[]; restorable: TimelinePage['restorable'] } | undefined;
  private loadingOlder = false;
  private readonly reloadSoon = debounce(() => void this.reload(), 100);

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly engine: EngineConnection,
    private readonly pickContainer: () => Promise<string | undefined>,
    private readonly log: (line: string) => void,
  ) {
    super();
    this.register(engine.onChanged((p) => {
      if (!p.container || p.container === this.container || p.what === 'bookmark') this.reloadSoon();
    }));
    this.register(engine.onDidChangeState(() => {
      this.post({ type: 'status', connected: engine.state.kind === 'connected', message: this.stateMessage() });
      this.reloadSoon();
    }));
    this.register({ dispose: () => { this.reloadSoon.cancel(); this.panel?.dispose(); } });
    // After a window reload VS Code hands back the panel it kept open; the webview saved which container it showed.
    this.register(vscode.window.registerWebviewPanelSerializer(TimelinePanel.viewType, {
      deserializeWebviewPanel: (panel, state: unknown) => this.revive(panel, state),
    }));
  }

  /** The model last posted, for tests and the extension's API. */
  get currentModel(): TimelineModel | undefined {
    return this.model;
  }

  async show(container: string | undefined): Promise<void> {
    const name = container ?? this.container ?? await this.pickContainer();
    if (!name) return;
    this.container = name;
    if (!this.panel) this.panel = this.createPanel();
    this.panel.title = `Timeline: ${name}`;
    this.panel.reveal();
    await this.reload();
  }

  /** A panel kept across a window reload: take it over, on the container it showed. */
  private async revive(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
    const name = savedContainer(state);
    if (!name || this.panel) {
      panel.dispose(); // nothing to show, or a panel is already open (one per window)
      return;
    }
    this.container = name;
    this.panel = this.adopt(panel);
    this.panel.title = `Timeline: ${name}`;
    await this.reload();
  }

  private createPanel(): vscode.WebviewPanel {
    return this.adopt(vscode.window.createWebviewPanel(TimelinePanel.viewType, 'Timeline', vscode.ViewColumn.Active, {}));
  }

  /** Give a panel (new or revived) its options, content and listeners. */
  private adopt(panel: vscode.WebviewPanel): vscode.WebviewPanel {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    panel.webview.options = { enableScripts: true, localResourceRoots: [media, dist] };
    panel.iconPath = vscode.Uri.joinPath(media, 'slipstream.svg');
    this.ready = false;
    panel.webview.html = this.html(panel.webview, media, dist);
    const subs = [
      panel.webview.onDidReceiveMessage((msg: unknown) => {
        if (isFromWebview(msg)) void this.receive(msg);
        else this.log(`timeline: ignored a malformed message from the webview: ${JSON.stringify(msg)}`);
      }),
      panel.onDidDispose(() => {
        for (const s of subs) s.dispose();
        this.panel = undefined;
        this.ready = false;
        // Opened again later, it starts from the newest page rather than reading down to these.
        this.pages = new TimelinePages();
        this.read = undefined;
      }),
    ];
    return panel;
  }

  private async receive(msg: FromWebview): Promise<void> {
    switch (msg.type) {
      case 'ready':
        this.ready = true;
        this.post({ type: 'status', connected: this.engine.state.kind === 'connected', message: this.stateMessage() });
        if (this.model && this.model.container === this.container) this.post({ type: 'model', model: this.model });
        else await this.reload();
        return;
      case 'loadOlder':
        await this.loadOlder();
        return;
      case 'pickContainer': {
        const name = await this.pickContainer();
        if (name) await this.show(name);
        return;
      }
      case 'moment': {
        if (!this.model) return;
        const active = msg.branch === this.model.activeBranch;
        const command = msg.action === 'restore' ? 'slipstream.restoreToMoment' : 'slipstream.branchFromMoment';
        // A restore rewinds the active branch only; a branch may start from any branch's history.
        if (msg.action === 'restore' && !active) return;
        await vscode.commands.executeCommand(command, { container: this.model.container, at: msg.at, ...(active ? {} : { branch: msg.branch }) });
        return;
      }
      case 'action': {
        const bm = this.model?.bookmarks[msg.bookmarkId];
        if (!bm || bm.deleted) return;
        const ref: BookmarkRef = {
          kind: 'bookmark', id: bm.id, name: bm.name, container: bm.container, branch: bm.branch,
          template: bm.template, shared: bm.shared, mine: bm.mine,
        };
        await vscode.commands.executeCommand(ACTION_COMMANDS[msg.action], ref);
        return;
      }
    }
  }

  private async reload(): Promise<void> {
    const name = this.container;
    if (!this.panel || !name) return;
    if (this.engine.state.kind !== 'connected') return;
    try {
      const [container, branches, newest, bookmarks] = await Promise.all([
        this.engine.request(ContainerShowRequest.type, { name }),
        this.engine.request(BranchListRequest.type, { container: name }),
        this.page(name),
        this.engine.request(BookmarkListRequest.type, {}),
      ]);
      // More new events than a page since the last read: read on down to the events loaded.
      const fresh = [newest];
      for (let before = this.pages.gap(container.id, fresh); before !== undefined; before = this.pages.gap(container.id, fresh)) {
        fresh.push(await this.page(name, before));
      }
      if (name !== this.container) return; // another container was chosen meanwhile
      this.pages.takeNewest(container.id, fresh);
      this.read = { container, branches, bookmarks, restorable: newest.restorable };
      this.postModel();
    } catch (err) {
      this.postError(err);
    }
  }

  /** The webview's "Load older events": the next older page, added below the rows shown. */
  private async loadOlder(): Promise<void> {
    const read = this.read;
    const before = this.pages.older;
    if (this.loadingOlder) return; // the page on its way answers this click too
    this.loadingOlder = true;
    try {
      if (read && before !== undefined && read.container.name === this.container) {
        this.pages.takeOlder(read.container.id, before, await this.page(read.container.name, before));
      }
      // Also when nothing was taken: the webview waits for a model to show the rows it has.
      this.postModel();
    } catch (err) {
      this.postError(err);
    } finally {
      this.loadingOlder = false;
    }
  }

  private page(container: string, before?: number): Promise<TimelinePage> {
    return this.engine.request(TimelineRequest.type, { container, limit: TIMELINE_PAGE, ...(before !== undefined ? { before } : {}) });
  }

  private postModel(): void {
    if (!this.read || this.pages.container !== this.read.container.id) return;
    const { container, branches, bookmarks, restorable } = this.read;
    this.model = timelineModel({
      container, branches, bookmarks, restorable, events: this.pages.events, user: this.engine.status?.user, older: this.pages.older !== undefined,
    });
    this.post({ type: 'model', model: this.model });
  }

  private postError(err: unknown): void {
    this.post({ type: 'status', connected: this.engine.state.kind === 'connected', message: userMessage(err) });
  }

  private stateMessage(): string | undefined {
    const s = this.engine.state;
    return s.kind === 'disconnected' ? `Not connected to the engine: ${s.reason}` : undefined;
  }

  private post(msg: ToWebview): void {
    if (this.panel && this.ready) void this.panel.webview.postMessage(msg);
  }

  private html(webview: vscode.Webview, media: vscode.Uri, dist: vscode.Uri): string {
    const nonce = crypto.randomBytes(16).toString('base64');
    const css = webview.asWebviewUri(vscode.Uri.joinPath(media, 'timeline.css'));
    const js = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js'));
    // Strict CSP: no inline script or style; only our nonce'd script and stylesheet from the extension.
    const csp = [
      `default-src 'none'`,
      `style-src ${webview.cspSource}`,
      `img-src ${webview.cspSource} data:`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}">
<title>Slipstream timeline</title>
</head>
<body>
<div id="app" role="application" aria-label="Slipstream timeline"><p class="empty">Loading the timeline…</p></div>
<script nonce="${nonce}" src="${js}"></script>
</body>
</html>`;
  }
}

/** The container a revived webview's saved state names, if it is a plausible name. */
function savedContainer(state: unknown): string | undefined {
  const container = (state as { container?: unknown } | undefined)?.container;
  return typeof container === 'string' && container.length > 0 && container.length <= 200 ? container : undefined;
}
