/**
 * The git link in VS Code: watches HEAD in every repository of the built-in
 * git extension (`vscode.git`, API 1) through `state.onDidChange`, which also
 * sees checkouts typed in a terminal (`onDidCheckout` does not), settles
 * bursts (settle.ts) and hands each settled move to the follower (follow.ts).
 * It also gives bookmarks their git context and checks out a bookmark's commit.
 */
import * as vscode from 'vscode';
import type { GitContext } from '../../server/protocol';
import type { Session } from '../commands/session';
import { gitContextOf, headOf, remoteUrl, repositoryFor, type GitApi, type GitExtension, type GitRepository } from '../git/api';
import { GitFollower, type AutoSwitch, type FollowSettings, type NewBranchFrom } from '../git/follow';
import { HeadSettler, type Head } from '../git/settle';
import { Disposable } from '../util/disposable';

const NEVER_KEY = 'slipstream.git.never';

export class GitLink extends Disposable {
  private api: GitApi | undefined;
  private readonly watched = new Map<string, vscode.Disposable>();
  private readonly settler: HeadSettler;
  private readonly follower: GitFollower;

  constructor(
    session: Session,
    private readonly memento: vscode.Memento,
    private readonly folder: () => string | undefined,
    private readonly log: (line: string) => void,
  ) {
    super();
    this.follower = new GitFollower({
      session,
      settings: readSettings,
      prefs: {
        isNever: (repo) => (this.memento.get<string[]>(NEVER_KEY) ?? []).includes(repo),
        setNever: (repo) => Promise.resolve(this.memento.update(NEVER_KEY, [...new Set([...(this.memento.get<string[]>(NEVER_KEY) ?? []), repo])])),
      },
      commitInfo: async (root, commit) => {
        const repo = this.repo(root);
        if (!repo) return undefined;
        const c = await repo.getCommit(commit);
        return { parents: c.parents, message: c.message };
      },
      remote: (root) => { const r = this.repo(root); return r ? remoteUrl(r) : undefined; },
      log,
    });
    this.settler = this.register(new HeadSettler((move) => {
      log(`git: HEAD of ${move.repo} settled: ${describe(move.from)} → ${describe(move.to)}`);
      void this.follower.onMove(move);
    }));
    this.register({ dispose: () => { for (const d of this.watched.values()) d.dispose(); this.watched.clear(); } });
  }

  /** Finds the git extension and starts watching; without it (disabled, or not installed) the link is simply off. */
  async start(): Promise<void> {
    const ext = vscode.extensions.getExtension<GitExtension>('vscode.git');
    if (!ext) {
      this.log('git: the built-in git extension is not available; data branches will not follow git branches');
      return;
    }
    try {
      const exports = ext.isActive ? ext.exports : await ext.activate();
      if (!exports.enabled) {
        this.log('git: git is disabled (git.enabled); data branches will not follow git branches');
        return;
      }
      this.api = exports.getAPI(1);
    } catch (err) {
      this.log(`git: could not use the git extension: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const api = this.api;
    this.register(api.onDidOpenRepository((r) => this.watch(r)));
    this.register(api.onDidCloseRepository((r) => this.unwatch(r)));
    for (const r of api.repositories) this.watch(r);
    this.log(`git: watching ${api.repositories.length} repositor${api.repositories.length === 1 ? 'y' : 'ies'} (state ${api.state})`);
  }

  private watch(repo: GitRepository): void {
    const root = repo.rootUri.fsPath;
    if (this.watched.has(root)) return;
    let seen = '';
    const observe = () => {
      const head = headOf(repo);
      const now = head ? describe(head) : '';
      if (now !== seen) this.log(`git: HEAD of ${root} is ${now || '(not loaded yet)'}`);
      seen = now;
      this.settler.observe(root, head);
    };
    this.watched.set(root, repo.state.onDidChange(observe) as vscode.Disposable);
    this.log(`git: watching HEAD of ${root}`);
    observe();
  }

  private unwatch(repo: GitRepository): void {
    const root = repo.rootUri.fsPath;
    this.watched.get(root)?.dispose();
    this.watched.delete(root);
    this.settler.forget(root);
  }

  private repo(root?: string): GitRepository | undefined {
    const repos = this.api?.repositories ?? [];
    return root ? repos.find((r) => r.rootUri.fsPath === root) : repositoryFor(repos, this.folder());
  }

  /** The workspace repository's branch, HEAD commit and remote, for a new bookmark. */
  async gitContext(): Promise<GitContext | undefined> {
    const repo = this.repo();
    return repo ? gitContextOf(repo) : undefined;
  }

  async checkoutCommit(commit: string): Promise<void> {
    const repo = this.repo();
    if (!repo) throw new Error('this workspace has no git repository');
    await repo.checkout(commit);
  }
}

function describe(head: Head): string {
  return head.branch ? `${head.branch} (${head.commit?.slice(0, 7) ?? 'no commit'})` : `detached at ${head.commit?.slice(0, 7)}`;
}

function readSettings(): FollowSettings {
  const c = vscode.workspace.getConfiguration('slipstream.git');
  return {
    autoSwitch: c.get<AutoSwitch>('autoSwitch', 'on'),
    newBranchFrom: c.get<NewBranchFrom>('newBranchFrom', 'current'),
    bookmarkOnCommit: c.get<boolean>('bookmarkOnCommit', false),
  };
}
