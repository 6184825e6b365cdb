/** The operations on a container's active branch: restore, reset, refresh, and its timeline. */
import { RefreshRequest, ResetRequest, RestoreRequest, RestoreToMomentRequest, TimelineRequest, type TimelineEvent, type TimelineParams } from '../protocol';
import type { HandlerTable } from './context';
import { afterChange, planHooks } from './hooks';
import { longTime, table } from './output';

export const opsCommands: HandlerTable<'restore' | 'reset' | 'refresh' | 'timeline'> = {
  restore: async (ctx, { hooks, ...params }) => {
    const plan = planHooks(hooks);
    if ('at' in params) {
      const r = await ctx.call(RestoreToMomentRequest.type, params, { progress: true });
      const from = r.from.bookmark ? `bookmark ${r.from.bookmark}` : `the engine's capture of ${longTime(r.from.at)}`;
      const wal = r.walReplayedBytes !== undefined ? `${(r.walReplayedBytes / 1048576).toFixed(1)} MiB of WAL replayed on ` : 'WAL replayed on ';
      return afterChange(ctx, plan, { operation: 'restore', container: r.branch.container }, r,
        `restored branch ${r.branch.name} of container ${r.branch.container} to ${longTime(r.moment)} (${r.moment}): ${wal}${from}`);
    }
    const b = await ctx.call(RestoreRequest.type, params, { progress: true });
    return afterChange(ctx, plan, { operation: 'restore', container: b.container, bookmark: params.bookmark }, b,
      `restored bookmark ${params.bookmark} into branch ${b.name} of container ${b.container}`);
  },
  reset: async (ctx, { hooks, ...params }) => {
    const plan = planHooks(hooks);
    const b = await ctx.call(ResetRequest.type, params, { progress: true });
    return afterChange(ctx, plan, { operation: 'reset', container: b.container }, b,
      `reset branch ${b.name} of container ${b.container}: changes since the last operation are gone`);
  },
  refresh: async (ctx, { hooks, ...params }) => {
    const plan = planHooks(hooks);
    const c = await ctx.call(RefreshRequest.type, params, { progress: true });
    return afterChange(ctx, plan, { operation: 'refresh', container: c.name }, c,
      `refreshed branch ${c.activeBranch} of container ${c.name} to template ${c.template} version ${c.templateVersion}`);
  },
  timeline: async (ctx, args) => {
    const page = await ctx.call(TimelineRequest.type, args);
    const next = page.before === undefined ? '' : `\nOlder events: ${nextPageCommand(args, page.before)}`;
    ctx.emit(page, timelineTable(page.events) + next);
    return 0;
  },
};

function timelineTable(events: readonly TimelineEvent[]): string {
  const rows = events.map((e) => [
    String(e.seq), longTime(e.at), e.user, e.kind, e.branch, e.bookmark ? `${e.bookmark.name} (${e.bookmark.id})` : '', e.detail ?? '',
  ]);
  return table(['SEQ', 'TIME', 'USER', 'EVENT', 'BRANCH', 'BOOKMARK', 'DETAIL'], rows);
}

/** The command line for the page after this one, ready to paste into a POSIX shell. */
function nextPageCommand(args: TimelineParams, before: number): string {
  const limit = args.limit !== undefined ? ` --limit ${args.limit}` : '';
  return `slipstream timeline --container ${shellWord(args.container)}${limit} --before ${before}`;
}

/** Container names may hold spaces ("Bug 1234 data"); anything but plain characters is single-quoted. */
function shellWord(s: string): string {
  return /^[\w.@%+=:,/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
