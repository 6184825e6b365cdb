/** branch create | activate | list | delete. */
import {
  BranchActivateRequest,
  BranchCreateRequest,
  BranchDeleteRequest,
  BranchLinkRequest,
  BranchUnlinkRequest,
  BranchListRequest,
  type BranchInfo,
  type BranchOrigin,
} from '../protocol';
import type { GroupHandlers } from './context';
import { afterChange, planHooks } from './hooks';
import { shortTime, table } from './output';

export const branchCommands: GroupHandlers<'branch'> = {
  'branch create': async (ctx, { hooks, ...params }) => {
    const plan = planHooks(hooks);
    const b = await ctx.call(BranchCreateRequest.type, params, { progress: true });
    const active = b.active ? '; it is now the active branch' : `; activate it with: slipstream branch activate ${b.name} --container ${b.container}`;
    return afterChange(ctx, plan, { operation: 'activate', container: b.container }, b,
      `created branch ${b.name} in container ${b.container} from ${describeOrigin(b.origin)}${active}`);
  },
  'branch activate': async (ctx, { hooks, ...params }) => {
    const plan = planHooks(hooks);
    const b = await ctx.call(BranchActivateRequest.type, params, { progress: true });
    return afterChange(ctx, plan, { operation: 'activate', container: b.container }, b,
      `branch ${b.name} is now active in container ${b.container} (same connection URL)`);
  },
  'branch list': async (ctx, args) => {
    const list = await ctx.call(BranchListRequest.type, args);
    ctx.emit(list, branchTable(list));
    return 0;
  },
  'branch delete': async (ctx, args) => {
    const b = await ctx.call(BranchDeleteRequest.type, args, { progress: true });
    ctx.emit(b, `deleted branch ${b.name} from container ${b.container}`);
    return 0;
  },
  'branch link': async (ctx, args) => {
    const b = await ctx.call(BranchLinkRequest.type, args);
    ctx.emit(b, `branch ${b.name} of container ${b.container} now follows git branch ${b.gitBranch}`);
    return 0;
  },
  'branch unlink': async (ctx, args) => {
    const b = await ctx.call(BranchUnlinkRequest.type, args);
    ctx.emit(b, `branch ${b.name} of container ${b.container} no longer follows a git branch`);
    return 0;
  },
};

export function describeOrigin(origin: BranchOrigin): string {
  switch (origin.kind) {
    case 'template':
      return `template ${origin.template} (version ${origin.version})`;
    case 'bookmark':
      return `bookmark ${origin.bookmark} (${origin.bookmarkId})`;
    case 'branch':
      return `branch ${origin.branch}`;
  }
}

function branchTable(list: readonly BranchInfo[]): string {
  const rows = list.map((b) => [b.active ? '*' : '', b.name, describeOrigin(b.origin), shortTime(b.createdAt), b.gitBranch ?? '', b.cold ? 'cold' : '']);
  return table(['', 'NAME', 'FROM', 'CREATED', 'GIT BRANCH', 'DATA'], rows);
}
