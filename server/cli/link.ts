/** Bookmark links from the command line: `bookmark link B` and `open LINK --container C`. */
import { freeBranchName } from '../common/freeNames';
import { buildBookmarkLink, bookmarkMarkdown, LinkError, parseBookmarkLink, type BookmarkLink } from '../common/links';
import {
  BookmarkShareRequest, BookmarkShowRequest, BranchCreateRequest, BranchListRequest, EngineStatusRequest,
  type BookmarkRefParams,
} from '../protocol';
import { publisher, name as packageName } from '../../package.json';
import type { Context, Handler, HandlerTable } from './context';
import { afterChange, planHooks } from './hooks';
import { CliError } from './output';

const EXTENSION_ID = `${publisher}.${packageName}`;

/** bookmark link B: shares the bookmark (a link to a private one opens for nobody) and prints both forms. */
export const bookmarkLink: Handler<'bookmark link'> = async (ctx, args) => {
  const ref: BookmarkRefParams = { bookmark: args.bookmark, ...(args.container ? { container: args.container } : {}) };
  let bm = await ctx.call(BookmarkShowRequest.type, ref);
  if (!bm.shared) bm = await ctx.call(BookmarkShareRequest.type, { bookmark: bm.id });
  const link = buildBookmarkLink({ scheme: args.scheme, extensionId: EXTENSION_ID, engine: await engineRef(ctx), bookmarkId: bm.id });
  const markdown = bookmarkMarkdown(bm.name, link);
  ctx.emit({ link, markdown, bookmark: bm }, `${link}\n${markdown}`);
  return 0;
};

export const openCommands: HandlerTable<'open'> = {
  /** open LINK --container C: what the VS Code URI handler does, for people outside VS Code. */
  open: async (ctx, args) => {
    const plan = planHooks(args.hooks);
    const link = parse(args.link);
    await checkSameEngine(ctx, link);
    const bm = await ctx.call(BookmarkShowRequest.type, { bookmark: link.bookmarkId });
    const branch = args.branch ?? freeBranchName(bm.name, await branchNames(ctx, args.container));
    const created = await ctx.call(BranchCreateRequest.type,
      { container: args.container, name: branch, from: { kind: 'bookmark', bookmark: bm.id }, activate: true }, { progress: true });
    return afterChange(ctx, plan, { operation: 'activate', container: created.container }, created, [
      `opened bookmark ${bm.name} (${bm.id}) by ${bm.owner}${bm.note ? `: ${bm.note}` : ''}`,
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
