/** Remotes: remote add | list | remove, and bookmark push | pull | list --remote. */
import {
  BookmarkListRequest, BookmarkPullRequest, BookmarkPushRequest, RemoteAddRequest, RemoteBookmarksRequest, RemoteListRequest,
  RemoteKeyRequest, RemoteRemoveRequest, type RemoteInfo,
} from '../protocol';
import { describeTransfer } from '../common/transfers';
import type { Handler, HandlerTable } from './context';
import { bookmarkTable } from './bookmark';
import { shortTime, table } from './output';

export const remoteCommands: HandlerTable<'remote add' | 'remote list' | 'remote remove' | 'remote key' | 'bookmark list' | 'bookmark push' | 'bookmark pull'> = {
  'remote add': async (ctx, args) => {
    const r = await ctx.call(RemoteAddRequest.type, args);
    ctx.emit(r, `added remote ${r.name}: ${where(r)}${r.encrypted ? `\nit is encrypted; other engines need its key: slipstream remote key ${r.name}` : ''}`);
    return 0;
  },
  'remote key': async (ctx, args) => {
    const k = await ctx.call(RemoteKeyRequest.type, args);
    ctx.emit(k, k.key);
    return 0;
  },
  'remote list': async (ctx) => {
    const list = await ctx.call(RemoteListRequest.type, {});
    ctx.emit(list, list.length === 0 ? 'no remotes; add one with: slipstream remote add NAME s3://BUCKET/PREFIX [--endpoint URL]'
      : table(['NAME', 'URL', 'ENDPOINT', 'REGION', 'ENCRYPTED', 'ADDED'],
        list.map((r) => [r.name, r.url, r.endpoint ?? '', r.region ?? '', r.encrypted ? 'yes' : 'no', shortTime(r.createdAt)])));
    return 0;
  },
  'remote remove': async (ctx, args) => {
    const r = await ctx.call(RemoteRemoveRequest.type, args);
    ctx.emit(r, `removed remote ${r.name}; what it holds stays at ${r.url}`);
    return 0;
  },
  'bookmark push': async (ctx, args) => {
    const t = await ctx.call(BookmarkPushRequest.type, args, { progress: true });
    ctx.emit(t, `pushed bookmark ${t.bookmark.name} (${t.bookmark.id}) to remote ${t.remote}: ${describeTransfer(t, 'sent')}`);
    return 0;
  },
  'bookmark pull': async (ctx, args) => {
    const t = await ctx.call(BookmarkPullRequest.type, args, { progress: true });
    ctx.emit(t, `pulled bookmark ${t.bookmark.name} (${t.bookmark.id}) from remote ${t.remote}: ${describeTransfer(t, 'received')}\n`
      + `branch from it with: slipstream branch create NAME --container C --from-bookmark ${t.bookmark.id} --activate`);
    return 0;
  },
  'bookmark list': (ctx, args) => bookmarkList(ctx, args),
};

/** bookmark list, or with --remote what a remote holds. */
const bookmarkList: Handler<'bookmark list'> = async (ctx, { remote, ...args }) => {
  if (remote === undefined) {
    const list = await ctx.call(BookmarkListRequest.type, args);
    ctx.emit(list, bookmarkTable(list));
    return 0;
  }
  const list = await ctx.call(RemoteBookmarksRequest.type, { remote });
  ctx.emit(list, list.length === 0 ? `remote ${remote} holds no bookmarks; push one with: slipstream bookmark push B --remote ${remote}`
    : table(['ID', 'NAME', 'TEMPLATE', 'CONTAINER', 'OWNER', 'TAGS', 'CREATED', 'PUSHED'], list.map((b) =>
      [b.id, b.name, `${b.template} v${b.templateVersion}`, b.container, b.owner, b.tags.join(','), shortTime(b.createdAt), shortTime(b.pushedAt)])));
  return 0;
};

const where = (r: RemoteInfo) => `${r.url}${r.endpoint ? ` at ${r.endpoint}` : ''}${r.region ? ` (${r.region})` : ''}`;
