/** template create | refresh | list | delete. */
import { describeSource, sourceSummary } from '../common/sources';
import {
  TemplateCreateRequest,
  TemplateDeleteRequest,
  TemplateListRequest,
  TemplateRefreshRequest,
  type TemplateInfo,
} from '../protocol';
import type { GroupHandlers } from './context';
import { shortTime, table } from './output';

export const templateCommands: GroupHandlers<'template'> = {
  'template create': async (ctx, args) => {
    const t = await ctx.call(TemplateCreateRequest.type, args, { progress: true });
    ctx.emit(t, `created template ${t.name} (version ${t.latestVersion}) from ${describeSource(t.source)}`);
    return 0;
  },
  'template refresh': async (ctx, args) => {
    const t = await ctx.call(TemplateRefreshRequest.type, args, { progress: true });
    ctx.emit(t, `refreshed template ${t.name}: version ${t.latestVersion} is now the latest (containers move to it with: slipstream refresh --container C)`);
    return 0;
  },
  'template list': async (ctx) => {
    const list = await ctx.call(TemplateListRequest.type, {});
    ctx.emit(list, templateTable(list));
    return 0;
  },
  'template delete': async (ctx, args) => {
    const t = await ctx.call(TemplateDeleteRequest.type, args);
    ctx.emit(t, `deleted template ${t.name}`);
    return 0;
  },
};

function templateTable(list: readonly TemplateInfo[]): string {
  if (list.length === 0) return "no templates yet; create one with: slipstream template create NAME --empty";
  const rows = list.map((t) => [t.name, String(t.latestVersion), String(t.versions.length), shortTime(t.createdAt), t.owner, sourceSummary(t.source)]);
  return table(['NAME', 'LATEST', 'VERSIONS', 'CREATED', 'OWNER', 'SOURCE'], rows);
}
