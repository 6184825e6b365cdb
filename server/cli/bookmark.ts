/** bookmark create | list | show | share | unshare | tag | delete. */
import { execFile } from 'child_process';
import { promisify } from 'util';
import {
  BookmarkCreateRequest,
  BookmarkDeleteRequest,
  BookmarkShareRequest,
  BookmarkShowRequest,
  BookmarkTagRequest,
  BookmarkUnshareRequest,
  type BookmarkInfo,
  type GitContext,
} from '../protocol';
import type { CommandId } from './args';
import type { HandlerTable } from './context';
import { bookmarkLink } from './link';
import { details, shortTime, table } from './output';

const run = promisify(execFile);

/** Those that may reach a remote (list, push, pull) are in remote.ts. */
export const bookmarkCommands: HandlerTable<Exclude<Extract<CommandId, `bookmark ${string}`>, 'bookmark list' | 'bookmark push' | 'bookmark pull'>> = {
  'bookmark link': bookmarkLink,
  'bookmark create': async (ctx, { params, git }) => {
    const merged = { ...(await currentGit(process.cwd())), ...git };
    const withGit = Object.keys(merged).length > 0 ? { ...params, git: merged } : params;
    const b = await ctx.call(BookmarkCreateRequest.type, withGit, { progress: true });
    ctx.emit(b, `created bookmark ${b.name} (${b.id}) of branch ${b.branch} in container ${b.container}, ${b.shared ? 'shared' : 'private'}`);
    return 0;
  },
  'bookmark show': async (ctx, args) => {
    const b = await ctx.call(BookmarkShowRequest.type, args);
    ctx.emit(b, bookmarkDetails(b));
    return 0;
  },
  'bookmark share': async (ctx, args) => {
    const b = await ctx.call(BookmarkShareRequest.type, args);
    ctx.emit(b, `bookmark ${b.name} (${b.id}) is now shared with everyone using template ${b.template}`);
    return 0;
  },
  'bookmark unshare': async (ctx, args) => {
    const b = await ctx.call(BookmarkUnshareRequest.type, args);
    ctx.emit(b, `bookmark ${b.name} (${b.id}) is now private`);
    return 0;
  },
  'bookmark tag': async (ctx, args) => {
    const b = await ctx.call(BookmarkTagRequest.type, args);
    ctx.emit(b, `bookmark ${b.name} (${b.id}) tags: ${b.tags.length ? b.tags.join(', ') : '(none)'}`);
    return 0;
  },
  'bookmark delete': async (ctx, args) => {
    const b = await ctx.call(BookmarkDeleteRequest.type, args);
    ctx.emit(b, `deleted bookmark ${b.name} (${b.id})`);
    return 0;
  },
};

/** What git says about `cwd`; every field that git cannot tell is left out. */
export async function currentGit(cwd: string): Promise<GitContext> {
  const ask = (args: string[]) =>
    run('git', args, { cwd, timeout: 5000, windowsHide: true }).then((r) => r.stdout.trim() || undefined, () => undefined);
  const [branch, commit, remote] = await Promise.all([
    ask(['rev-parse', '--abbrev-ref', 'HEAD']),
    ask(['rev-parse', 'HEAD']),
    ask(['remote', 'get-url', 'origin']),
  ]);
  const git: GitContext = {};
  if (branch && branch !== 'HEAD') git.branch = branch; // 'HEAD' means detached: no branch
  if (commit && /^[0-9a-f]{7,64}$/.test(commit)) git.commit = commit; // a fresh repo prints 'HEAD' back
  if (remote) git.remote = remote;
  return git;
}

export function bookmarkTable(list: readonly BookmarkInfo[]): string {
  if (list.length === 0) return 'no bookmarks; create one with: slipstream bookmark create NAME --container C';
  const rows = list.map((b) => [b.id, b.name, b.branch, b.container, b.shared ? 'yes' : 'no', b.tags.join(','), shortTime(b.createdAt)]);
  return table(['ID', 'NAME', 'BRANCH', 'CONTAINER', 'SHARED', 'TAGS', 'CREATED'], rows);
}

function bookmarkDetails(b: BookmarkInfo): string {
  return details([
    ['name', b.name],
    ['id', b.id],
    ['container', b.container],
    ['branch', b.branch],
    ['template', b.template],
    ['owner', b.owner],
    ['shared', b.shared ? 'yes' : 'no'],
    ['tags', b.tags.join(', ')],
    ['note', b.note],
    ['created', shortTime(b.createdAt)],
    ['consistency', b.consistency],
    ['as of', b.asOf ? `${b.asOf}${b.lsn ? ` (WAL ${b.lsn})` : ''}` : undefined],
    ['git branch', b.git?.branch],
    ['git commit', b.git?.commit],
    ['git remote', b.git?.remote],
    ['branches from it', String(b.dependents)],
    ['pulled from', b.pulled ? `remote ${b.pulled.remote}, ${shortTime(b.pulled.at)} (made there by ${b.pulled.owner})` : undefined],
  ]);
}
