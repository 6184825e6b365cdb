/** Team users: user add | list | remove, and whoami. */
import { UserAddRequest, UserListRequest, UserRemoveRequest, WhoAmIRequest, type UserInfo } from '../protocol';
import type { HandlerTable } from './context';
import { shortTime, table } from './output';

export const userCommands: HandlerTable<'user add' | 'user list' | 'user remove' | 'whoami'> = {
  'user add': async (ctx, args) => {
    const u = await ctx.call(UserAddRequest.type, args);
    ctx.emit({ name: u.name, admin: u.admin, token: u.token },
      `added ${u.admin ? 'admin ' : ''}user ${u.name}. Their token (shown only now):\n${u.token}`);
    return 0;
  },
  'user list': async (ctx) => {
    const users = await ctx.call(UserListRequest.type, {});
    ctx.emit(users, table(['NAME', 'ADMIN', 'CREATED'], users.map((u) => [u.name, u.admin ? 'yes' : 'no', shortTime(u.createdAt)])));
    return 0;
  },
  'user remove': async (ctx, args) => {
    const u = await ctx.call(UserRemoveRequest.type, args);
    ctx.emit(u, `removed user ${u.name}; their token no longer works`);
    return 0;
  },
  whoami: async (ctx) => {
    const u: UserInfo = await ctx.call(WhoAmIRequest.type, {});
    ctx.emit(u, `${u.name}${u.admin ? ' (admin)' : ''}`);
    return 0;
  },
};
