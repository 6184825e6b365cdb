/** container create | list | show | delete | start | url. */
import {
  ContainerCreateRequest,
  ContainerDeleteRequest,
  ContainerListRequest,
  ContainerShowRequest,
  ContainerStartRequest,
  ContainerUrlRequest,
  type ContainerInfo,
} from '../protocol';
import type { GroupHandlers } from './context';
import { details, longTime, shortTime, table } from './output';

export const containerCommands: GroupHandlers<'container'> = {
  'container create': async (ctx, args) => {
    const c = await ctx.call(ContainerCreateRequest.type, args, { progress: true });
    ctx.emit(c, [
      `created container ${c.name} from template ${c.template} (version ${c.templateVersion})`,
      `database ${c.database} on ${c.host}:${c.port}, active branch ${c.activeBranch}`,
      `connection URL: slipstream container url ${c.name}`,
    ].join('\n'));
    return 0;
  },
  'container list': async (ctx) => {
    const list = await ctx.call(ContainerListRequest.type, {});
    ctx.emit(list, containerTable(list));
    return 0;
  },
  'container show': async (ctx, args) => {
    const c = await ctx.call(ContainerShowRequest.type, args);
    ctx.emit(c, containerDetails(c));
    return 0;
  },
  'container delete': async (ctx, args) => {
    const c = await ctx.call(ContainerDeleteRequest.type, args, { progress: true });
    ctx.emit(c, `deleted container ${c.name}`);
    return 0;
  },
  'container start': async (ctx, args) => {
    const c = await ctx.call(ContainerStartRequest.type, args);
    ctx.emit(c, `the database of ${c.name} runs on ${c.host}:${c.port}`);
    return 0;
  },
  // Just the URL, so `DATABASE_URL=$(slipstream container url dev)` works.
  'container url': async (ctx, args) => {
    const info = await ctx.call(ContainerUrlRequest.type, args);
    ctx.emit(info, info.url);
    return 0;
  },
};

function containerTable(list: readonly ContainerInfo[]): string {
  if (list.length === 0) return 'no containers yet; create one with: slipstream container create NAME --template T';
  const rows = list.map((c) => [
    c.name, `${c.template}@${c.templateVersion}`, c.activeBranch, String(c.branches), String(c.port), c.state, shortTime(c.createdAt),
  ]);
  const failures = list.filter((c) => c.failure).map((c) => `${c.name}: ${c.failure!.reason}. ${c.failure!.action}`);
  return [table(['NAME', 'TEMPLATE', 'BRANCH', 'BRANCHES', 'PORT', 'STATE', 'CREATED'], rows), ...(failures.length ? ['', ...failures] : [])].join('\n');
}

function containerDetails(c: ContainerInfo): string {
  return details([
    ['name', c.name],
    ['id', c.id],
    ['template', `${c.template} (version ${c.templateVersion})`],
    ['active branch', `${c.activeBranch} (${c.branches} branch${c.branches === 1 ? '' : 'es'})`],
    ['state', c.failure ? `${c.state}: ${c.failure.reason} (since ${shortTime(c.failure.at)})` : c.state],
    ['what to do', c.failure?.action],
    ['address', `${c.host}:${c.port}`],
    ['database', c.database],
    ['user', c.user],
    ['driver', c.driver],
    ['owner', c.owner],
    ['created', shortTime(c.createdAt)],
    ['WAL archive', c.wal ? `${(c.wal.bytes / 1048576).toFixed(1)} MiB (kept ${c.wal.retentionHours} h, at most ${c.wal.capMb ? `${c.wal.capMb} MiB` : 'any size'})` : undefined],
    ['restorable', c.wal ? (c.wal.restorable.map((r) => `${longTime(r.from)} … ${longTime(r.to)}`).join(', ') || 'no moment yet: from the next bookmark or capture on') : undefined],
    ['replays from', c.wal?.newestAnchorAt ? `${longTime(c.wal.newestAnchorAt)} (the newest snapshot; a restore to a later moment replays the WAL after it)` : undefined],
  ]);
}
