/**
 * Data branches that follow git branches. Given a settled HEAD move (see
 * settle.ts) it activates the container's data branch linked to the new git
 * branch, creating and linking it on the first checkout; after a commit it can
 * bookmark the data; on checking out a commit that has such a bookmark it
 * offers to restore it. Links live in the engine (branch/link), so the CLI
 * and every window see them. No `vscode`: tests drive it with HEAD moves read
 * from a real git repository, against a real engine.
 */
import {
  BookmarkCreateRequest,
  BookmarkListRequest,
  BranchActivateRequest,
  BranchCreateRequest,
  BranchDeleteRequest,
  BranchLinkRequest,
  BranchListRequest,
  ContainerListRequest,
  RestoreRequest,
  type BookmarkInfo,
  type BranchFrom,
  type BranchInfo,
  type GitContext,
} from '../../server/protocol';
import { hasErrorCode } from '../../server/common/client';
import type { Session } from '../commands/session';
import { userMessage } from '../model/errors';
import { commitBookmarkName, COMMIT_TAG, dataBranchName } from './naming';
import { classifyMove, type HeadMove } from './settle';

export type AutoSwitch = 'on' | 'ask' | 'off';
export type NewBranchFrom = 'current' | 'template' | 'ask';

export interface FollowSettings {
  autoSwitch: AutoSwitch;
  newBranchFrom: NewBranchFrom;
  bookmarkOnCommit: boolean;
}

/** Repositories where the user chose "Never for this repo" (VS Code's workspaceState in the extension). */
export interface RepoPrefs {
  isNever(repo: string): boolean;
  setNever(repo: string): Promise<void>;
}

export interface FollowDeps {
  session: Session;
  settings(): FollowSettings;
  prefs: RepoPrefs;
  /** A commit's parents and message (git's answer), to tell a commit from other moves. */
  commitInfo(repo: string, commit: string): Promise<{ parents: string[]; message: string } | undefined>;
  /** The repository's remote URL, for bookmarks' git context. */
  remote?(repo: string): string | undefined;
  log?(line: string): void;
}

export type FollowResult =
  | { action: 'none'; why: string }
  | { action: 'already'; branch: string }
  | { action: 'activated'; branch: string }
  | { action: 'created'; branch: string; from: BranchFrom }
  | { action: 'declined'; why: string }
  | { action: 'bookmarked'; bookmark: BookmarkInfo }
  | { action: 'restored'; bookmark: BookmarkInfo };

export const SWITCH = 'Switch';
export const NOT_NOW = 'Not now';
export const NEVER = 'Never for this repo';
export const RESTORE = 'Restore';

export class GitFollower {
  /** Bumped by every move: an answer to a question about an older move is dropped. */
  private generation = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: FollowDeps) {}

  /** Handles moves one at a time, in order; each resolves with what it did. */
  onMove(move: HeadMove): Promise<FollowResult[]> {
    const generation = ++this.generation;
    const run = this.queue.then(() => this.handle(move, generation));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private log(line: string): void {
    this.deps.log?.(`git: ${line}`);
  }

  private async handle(move: HeadMove, generation: number): Promise<FollowResult[]> {
    const settings = this.deps.settings();
    const s = this.deps.session;
    const results: FollowResult[] = [];
    try {
      const container = await this.container();
      if (!container) return [{ action: 'none', why: 'this workspace has no container' }];
      let kind = classifyMove(move, undefined);
      let info: { parents: string[]; message: string } | undefined;
      if (kind !== 'checkout' && move.to.commit && move.to.branch) {
        info = await this.deps.commitInfo(move.repo, move.to.commit).catch(() => undefined);
        kind = classifyMove(move, info?.parents);
      }
      if (kind === 'commit') {
        if (settings.bookmarkOnCommit && info) results.push(await this.bookmarkCommit(container, move, info.message));
        else results.push({ action: 'none', why: 'a commit (bookmarkOnCommit is off)' });
        return results;
      }
      if (kind !== 'checkout') return [{ action: 'none', why: 'HEAD moved on the same branch' }];
      if (move.to.branch) results.push(await this.follow(container, move, settings, generation));
      else results.push({ action: 'none', why: 'detached HEAD' });
      if (settings.bookmarkOnCommit && move.to.commit && generation === this.generation) {
        const r = await this.offerRestore(container, move.to.commit);
        if (r) results.push(r);
      }
    } catch (err) {
      const message = userMessage(err);
      this.log(`${move.from.branch ?? move.from.commit} → ${move.to.branch ?? move.to.commit} failed: ${message}`);
      // No engine, no data to move: the status bar already says the engine is down.
      const offline = hasErrorCode(err, 'EngineNotRunning', 'ConnectionLost', 'ConnectionFailed');
      if (!offline) s.ui.error(`Following git ${move.to.branch ?? 'HEAD'}: ${message}`);
      results.push({ action: 'none', why: message });
    }
    for (const r of results) this.log(`${move.from.branch ?? move.from.commit?.slice(0, 7)} → ${move.to.branch ?? move.to.commit?.slice(0, 7)}: ${JSON.stringify(r)}`);
    return results;
  }

  /** The workspace's container: the chosen one, else the only one. Never a question: a checkout is not the moment. */
  private async container(): Promise<string | undefined> {
    const s = this.deps.session;
    const containers = await s.engine.request(ContainerListRequest.type, {});
    const preferred = s.workspaceContainer();
    return (containers.find((c) => c.name === preferred) ?? (containers.length === 1 ? containers[0] : undefined))?.name;
  }

  private async follow(container: string, move: HeadMove, settings: FollowSettings, generation: number): Promise<FollowResult> {
    const s = this.deps.session;
    const gitBranch = move.to.branch!;
    if (settings.autoSwitch === 'off') return { action: 'none', why: 'slipstream.git.autoSwitch is off' };
    if (this.deps.prefs.isNever(move.repo)) return { action: 'none', why: 'never for this repository' };
    const branches = await s.engine.request(BranchListRequest.type, { container });
    const active = branches.find((b) => b.active)!;
    const linked = branches.find((b) => b.gitBranch === gitBranch);
    if (linked?.active) return { action: 'already', branch: linked.name };
    // An unlinked data branch with exactly the name we would give is taken to be this git branch's.
    const byName = linked ? undefined : branches.find((b) => !b.gitBranch && b.name === dataBranchName(gitBranch));
    const target = linked ?? byName;

    let from: BranchFrom | undefined;
    if (!target) from = settings.newBranchFrom === 'template' ? { kind: 'template' } : { kind: 'branch', branch: active.name };
    const name = target?.name ?? dataBranchName(gitBranch, branches.map((b) => b.name));

    if (settings.autoSwitch === 'ask') {
      const what = target ? `activate data branch ${name}` : `create data branch ${name} and activate it`;
      const choice = await s.ui.choose(`Git branch ${gitBranch} is checked out. Slipstream: ${what} in ${container}?`, [SWITCH, NOT_NOW, NEVER]);
      if (generation !== this.generation) return { action: 'declined', why: 'HEAD moved again' };
      if (choice === NEVER) {
        await this.deps.prefs.setNever(move.repo);
        return { action: 'declined', why: 'never for this repository' };
      }
      if (choice !== SWITCH) return { action: 'declined', why: 'not now' };
    }
    if (!target && settings.newBranchFrom === 'ask') {
      const picked = await s.ui.pick<BranchFrom>([
        { label: `The data branch active now (${active.name})`, description: 'its current data', value: { kind: 'branch', branch: active.name } },
        { label: 'The template’s latest version', description: 'fresh data', value: { kind: 'template' } },
      ], { title: `New data branch ${name} for git branch ${gitBranch}`, placeholder: 'Start it from…' });
      if (!picked || generation !== this.generation) return { action: 'declined', why: 'no origin chosen' };
      from = picked;
    }

    // The data branch we leave belonged to the git branch we leave, when nothing else claims either.
    await this.adoptPrevious(container, move.from.branch, active, branches, name);

    if (target) {
      if (!target.gitBranch) await s.engine.request(BranchLinkRequest.type, { container, name: target.name, gitBranch });
      await this.activate(container, target.name);
      s.ui.info(`Git branch ${gitBranch}: data branch ${target.name} is active in ${container}.`);
      return { action: 'activated', branch: target.name };
    }
    const created = await this.createLinked(container, name, gitBranch, from!);
    if (created.existing) {
      s.ui.info(`Git branch ${gitBranch}: data branch ${created.branch.name} is active in ${container}.`);
      return { action: 'activated', branch: created.branch.name };
    }
    s.ui.info(`Git branch ${gitBranch}: new data branch ${created.branch.name} (${from!.kind === 'template' ? 'from the template' : `from ${active.name}`}) is active in ${container}.`);
    return { action: 'created', branch: created.branch.name, from: from! };
  }

  private async adoptPrevious(container: string, previous: string | undefined, active: BranchInfo, branches: BranchInfo[], targetName: string): Promise<void> {
    if (!previous || active.gitBranch || active.name === targetName) return;
    if (branches.some((b) => b.gitBranch === previous)) return;
    try {
      await this.deps.session.engine.request(BranchLinkRequest.type, { container, name: active.name, gitBranch: previous });
      this.log(`linked data branch ${active.name} to git branch ${previous}, which it was active on`);
    } catch (err) {
      this.log(`could not link ${active.name} to ${previous}: ${userMessage(err)}`);
    }
  }

  /** Create, link, activate. Another window may race us to it: then its branch wins and ours is removed. */
  private async createLinked(container: string, name: string, gitBranch: string, from: BranchFrom): Promise<{ branch: BranchInfo; existing: boolean }> {
    const s = this.deps.session;
    const b = await s.ui.withProgress(`Creating data branch ${name} for git branch ${gitBranch}`, true, (report, signal) =>
      s.engine.request(BranchCreateRequest.type, { container, name, from, activate: false }, { onProgress: report, signal }));
    try {
      await s.engine.request(BranchLinkRequest.type, { container, name: b.name, gitBranch });
    } catch (err) {
      if (!hasErrorCode(err, 'InUse')) throw err;
      const winner = (await s.engine.request(BranchListRequest.type, { container })).find((x) => x.gitBranch === gitBranch)!;
      await s.engine.request(BranchDeleteRequest.type, { container, name: b.name }).catch(() => undefined);
      return { branch: await this.activate(container, winner.name), existing: true };
    }
    return { branch: await this.activate(container, b.name), existing: false };
  }

  private async activate(container: string, name: string): Promise<BranchInfo> {
    const s = this.deps.session;
    for (let attempt = 0; ; attempt++) {
      const branches = await s.engine.request(BranchListRequest.type, { container });
      const b = branches.find((x) => x.name === name);
      if (b?.active) return b;
      try {
        return await s.ui.withProgress(`Activating data branch ${name} in ${container}`, true, (report, signal) =>
          s.engine.request(BranchActivateRequest.type, { container, name }, { onProgress: report, signal }));
      } catch (err) {
        // Another window following the same checkout holds the container's lock for a moment.
        if (hasErrorCode(err, 'Busy') && attempt < 20) {
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        throw err;
      }
    }
  }

  private async bookmarkCommit(container: string, move: HeadMove, message: string): Promise<FollowResult> {
    const s = this.deps.session;
    const commit = move.to.commit!;
    const name = commitBookmarkName(commit, message);
    const git: GitContext = { branch: move.to.branch, commit, ...(this.deps.remote?.(move.repo) ? { remote: this.deps.remote(move.repo) } : {}) };
    const bm = await s.engine.request(BookmarkCreateRequest.type, {
      container, name, tags: [COMMIT_TAG], note: message.trim().slice(0, 1000), git,
    });
    this.log(`bookmarked ${container} as "${bm.name}" after commit ${commit.slice(0, 7)}`);
    return { action: 'bookmarked', bookmark: bm };
  }

  private async offerRestore(container: string, commit: string): Promise<FollowResult | undefined> {
    const s = this.deps.session;
    const bookmarks = (await s.engine.request(BookmarkListRequest.type, { container }))
      .filter((b) => b.git?.commit === commit && b.tags.includes(COMMIT_TAG))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const bm = bookmarks[0];
    if (!bm) return undefined;
    const choice = await s.ui.choose(`Commit ${commit.slice(0, 7)} has a data bookmark, "${bm.name}". Restore ${container}'s active branch to it?`, [RESTORE, NOT_NOW]);
    if (choice !== RESTORE) return { action: 'declined', why: 'restore not wanted' };
    await s.ui.withProgress(`Restoring ${container} to ${bm.name}`, true, (report, signal) =>
      s.engine.request(RestoreRequest.type, { container, bookmark: bm.id }, { onProgress: report, signal }));
    s.ui.info(`${container} is restored to bookmark ${bm.name}.`);
    return { action: 'restored', bookmark: bm };
  }
}
