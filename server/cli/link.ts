/** Bookmark links from the command line: `bookmark link B` and `open LINK --container C`. */
import { freeBranchName } from '../common/freeNames';
import { buildBookmarkLink, bookmarkMarkdown, LinkError, parseBookmarkLink, sameRemote, type BookmarkLink, type LinkRemote } from '../common/links';
import {
  BookmarkPullRequest, BookmarkPushRequest, BookmarkShareRequest, BookmarkShowRequest, BranchCreateRequest, BranchListRequest,
  ContainerCreateRequest, ContainerListRequest, EngineStatusRequest, RemoteListRequest, WhoAmIRequest,
  type BookmarkInfo, type BookmarkRefParams, type ContainerInfo,
} from '../protocol';
import { publisher, name as packageName } from '../../package.json';
import type { Context, Handler, HandlerTable } from './context';
import { afterChange, planHooks } from './hooks';
import { CliError } from './output';

const EXTENSION_ID = `${publisher}.${packageName}`;

/** bookmark link B [--remote R]: shares the bookmark (a link to a private one opens for nobody) and
 *  prints both forms. With a remote, pushes it there first, and the link names the remote, so
 *  that engines which cannot reach this one pull it from there. */
export const bookmarkLink: Handler<'bookmark link'> = async (ctx, args) => {
  const ref: BookmarkRefParams = { bookmark: args.bookmark, ...(args.container ? { container: args.container } : {}) };
  let bm = await ctx.call(BookmarkShowRequest.type, ref);
  if (!bm.shared) bm = await ctx.call(BookmarkShareRequest.type, { bookmark: bm.id });
  let remote: LinkRemote | undefined;
  if (args.remote) {
    await ctx.call(BookmarkPushRequest.type, { bookmark: bm.id, remote: args.remote }, { progress: true });
    const r = (await ctx.call(RemoteListRequest.type, {})).find((x) => x.name === args.remote)!;
    remote = { url: r.url, ...(r.endpoint ? { endpoint: r.endpoint } : {}) };
  }
  const link = buildBookmarkLink({ scheme: args.scheme, extensionId: EXTENSION_ID, engine: await engineRef(ctx), bookmarkId: bm.id, ...(remote ? { remote } : {}) });
  const markdown = bookmarkMarkdown(bm.name, link);
  ctx.emit({ link, markdown, bookmark: bm }, `${link}\n${markdown}`);
  return 0;
};

export const openCommands: HandlerTable<'open'> = {
  /** open LINK --container C: what the VS Code URI handler does, for people outside VS Code. */
  open: async (ctx, args) => {
    const plan = planHooks(args.hooks);
    const link = parse(args.link);
    const pulled = Boolean(link.remote) && !(await isThisEngine(ctx, link));
    const bm = await (pulled ? pullFirst(ctx, link, link.remote!) : here(ctx, link));
    const made = pulled ? await containerFor(ctx, args.container, bm) : undefined;
    const branch = args.branch ?? freeBranchName(bm.name, await branchNames(ctx, args.container));
    const created = await ctx.call(BranchCreateRequest.type,
      { container: args.container, name: branch, from: { kind: 'bookmark', bookmark: bm.id }, activate: true }, { progress: true });
    return afterChange(ctx, plan, { operation: 'activate', container: created.container }, created, [
      `opened bookmark ${bm.name} (${bm.id}) by ${bm.owner}${bm.note ? `: ${bm.note}` : ''}`,
      ...(made ? [`container ${made.name} was made from template ${made.template} for it (port ${made.port})`] : []),
      `branch ${created.name} of container ${created.container} now has its data and is active`,
      ...(bm.git?.commit ? [`it was taken on git ${bm.git.branch ?? ''} ${bm.git.commit}; check it out with: git checkout ${bm.git.commit}`] : []),
    ].join('\n'));
  },
};

/** What a link calls this engine: a team engine's URL, a local engine's stable id. */
async function engineRef(ctx: Context): Promise<string> {
  if (ctx.target.kind === 'tcp') return ctx.target.url;
  return (await ctx.call(EngineStatusRequest.type, {})).engineId;
}

function parse(text: string): BookmarkLink {
  try {
    return parseBookmarkLink(text);
  } catch (err) {
    if (err instanceof LinkError) throw new CliError('InvalidArgument', err.message);
    throw err;
  }
}

/** Your container C, made from the pulled bookmark's template when you have none by that name
 *  (a reviewer's engine that just pulled the bookmark and its template has no container yet). */
async function containerFor(ctx: Context, name: string, bm: BookmarkInfo): Promise<ContainerInfo | undefined> {
  const me = (await ctx.call(WhoAmIRequest.type, {})).name;
  const mine = (await ctx.call(ContainerListRequest.type, {})).filter((c) => c.owner === me);
  if (name.includes('/') || mine.some((c) => c.name === name)) return undefined;
  return ctx.call(ContainerCreateRequest.type, { name, template: bm.template }, { progress: true });
}

/** The bookmark of a link to this engine. */
async function here(ctx: Context, link: BookmarkLink): Promise<BookmarkInfo> {
  await checkSameEngine(ctx, link);
  return ctx.call(BookmarkShowRequest.type, { bookmark: link.bookmarkId });
}

/** A link to another engine that names a remote: pull the bookmark from this engine's remote
 *  of that location (with this engine's credentials), then open it like any other. */
async function pullFirst(ctx: Context, link: BookmarkLink, remote: LinkRemote): Promise<BookmarkInfo> {
  const mine = (await ctx.call(RemoteListRequest.type, {})).find((r) => sameRemote(r, remote));
  if (!mine) {
    throw new CliError('NotFound', `this link's bookmark is on the remote ${remote.url}${remote.endpoint ? ` at ${remote.endpoint}` : ''}, which this engine does not know. `
      + `Add it (its AWS credentials must be in the engine's environment): slipstream remote add NAME ${remote.url}${remote.endpoint ? ` --endpoint ${remote.endpoint}` : ''}`);
  }
  const t = await ctx.call(BookmarkPullRequest.type, { bookmark: link.bookmarkId, remote: mine.name }, { progress: true });
  return t.bookmark;
}

async function isThisEngine(ctx: Context, link: BookmarkLink): Promise<boolean> {
  if (!link.engine) return true;
  const { engineId } = await ctx.call(EngineStatusRequest.type, {});
  return link.engine === engineId || (ctx.target.kind === 'tcp' && link.engine === ctx.target.url);
}

/** A link names its engine by URL or, when made over the engine host's Unix socket, by
 *  id: either way, if it is the engine we talk to, the bookmark is here. */
async function checkSameEngine(ctx: Context, link: BookmarkLink): Promise<void> {
  if (!link.engine) return;
  const { engineId } = await ctx.call(EngineStatusRequest.type, {});
  const here = ctx.target.kind === 'tcp' ? ctx.target.url : engineId;
  if (link.engine === here || link.engine === engineId) return;
  if (link.engine.startsWith('eng_')) {
    throw new CliError('InvalidArgument', `this link is for the local engine ${link.engine}, not this one (${here}). `
      + 'If that engine runs on this machine, open the link there: slipstream --home ITS_HOME open ...; otherwise ask for a link to a team engine.');
  }
  throw new CliError('InvalidArgument', `this link is for the engine ${link.engine}, not ${here}: run: slipstream --engine ${link.engine} --token YOUR_TOKEN open ...`);
}

/** The names of the container's branches, which `open`'s new branch must avoid. */
async function branchNames(ctx: Context, container: string): Promise<string[]> {
  return (await ctx.call(BranchListRequest.type, { container })).map((b) => b.name);
}
