/**
 * The part of the built-in git extension's API (`vscode.git`, `getAPI(1)`) that
 * Slipstream uses, typed structurally so pure modules and tests need no
 * `vscode`. The full declaration is extensions/git/src/api/git.d.ts in VS Code.
 */
import type { GitContext } from '../../server/protocol';
import type { IDisposable } from '../util/disposable';
import type { Head } from './settle';

type GitEvent<T> = (listener: (e: T) => unknown) => IDisposable;

export interface GitBranchRef {
  /** 0: a local head, 1: a remote head, 2: a tag. */
  readonly type: number;
  readonly name?: string;
  readonly commit?: string;
  readonly upstream?: { readonly remote: string; readonly name: string };
}

export interface GitRemote {
  readonly name: string;
  readonly fetchUrl?: string;
  readonly pushUrl?: string;
}

export interface GitCommit {
  readonly hash: string;
  readonly message: string;
  readonly parents: string[];
}

export interface GitRepository {
  readonly rootUri: { readonly fsPath: string };
  readonly state: {
    readonly HEAD: GitBranchRef | undefined;
    readonly remotes: GitRemote[];
    readonly onDidChange: GitEvent<void>;
  };
  getCommit(ref: string): Promise<GitCommit>;
  checkout(treeish: string): Promise<void>;
}

export interface GitApi {
  readonly state: 'uninitialized' | 'initialized';
  readonly onDidChangeState: GitEvent<'uninitialized' | 'initialized'>;
  readonly repositories: GitRepository[];
  readonly onDidOpenRepository: GitEvent<GitRepository>;
  readonly onDidCloseRepository: GitEvent<GitRepository>;
}

export interface GitExtension {
  readonly enabled: boolean;
  getAPI(version: 1): GitApi;
}

/** HEAD as the settle logic sees it: the branch (none when detached) and the commit. */
export function headOf(repo: GitRepository): Head | undefined {
  const head = repo.state.HEAD;
  if (!head) return undefined;
  return { branch: head.name && head.type === 0 ? head.name : undefined, commit: head.commit };
}

/** The remote a bookmark records: HEAD's upstream remote, else origin, else the first one. */
export function remoteUrl(repo: GitRepository): string | undefined {
  const remotes = repo.state.remotes;
  const upstream = repo.state.HEAD?.upstream?.remote;
  const r = remotes.find((x) => x.name === upstream) ?? remotes.find((x) => x.name === 'origin') ?? remotes[0];
  return r?.fetchUrl ?? r?.pushUrl;
}

/** The git context a bookmark records (branch, HEAD commit, remote). */
export function gitContextOf(repo: GitRepository): GitContext | undefined {
  const head = headOf(repo);
  if (!head) return undefined;
  const remote = remoteUrl(repo);
  const ctx: GitContext = {
    ...(head.branch ? { branch: head.branch } : {}),
    ...(head.commit ? { commit: head.commit } : {}),
    ...(remote ? { remote: stripCredentials(remote) } : {}),
  };
  return Object.keys(ctx).length > 0 ? ctx : undefined;
}

/** https://user:token@host/x → https://host/x: a bookmark is shared, a credential must not be. */
export function stripCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** The repository a workspace folder lies in (the innermost), else the first one. */
export function repositoryFor(repos: readonly GitRepository[], folder: string | undefined): GitRepository | undefined {
  if (folder) {
    const inside = repos.filter((r) => folder === r.rootUri.fsPath || folder.startsWith(`${r.rootUri.fsPath}/`))
      .sort((a, b) => b.rootUri.fsPath.length - a.rootUri.fsPath.length);
    if (inside[0]) return inside[0];
  }
  return repos[0];
}
