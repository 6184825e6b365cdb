import { AuthenticateRequest, UserAddRequest, UserListRequest, UserRemoveRequest, WhoAmIRequest, type NameParams } from '../../protocol';
import { userNameKey } from '../../common/names';
import type { Engine, OpContext } from '../engine';
import { EngineError } from '../errors';
import { ADMIN_USER, createUser, findByToken, userInfo } from '../users';
import { existingName, name, object, optBool, str } from '../validate';
import { operation } from './operation';

/** engine/authenticate {token}: the first request on a TCP connection. */
export const authenticate = operation(AuthenticateRequest.type, (raw) => ({ token: str(object(raw), 'token', 256) }),
  async ({ engine, session }: OpContext, p: { token: string }) => {
    const user = findByToken(engine.store, p.token);
    if (!user) throw new EngineError('Unauthorized', 'that token is not valid (wrong, or its user was removed). Ask an admin for a token: slipstream user add NAME');
    session.caller = { name: user.name, admin: user.admin };
    session.tokenHash = user.tokenHash;
    return userInfo(user);
  }, { public: true });

/** whoami: who this connection acts as. */
export const whoami = operation(WhoAmIRequest.type, () => ({}), async ({ engine, caller }: OpContext) => {
  const user = engine.store.user(caller.name);
  return user ? userInfo(user) : { name: caller.name, admin: caller.admin, createdAt: engine.config.startedAt };
});

/** user add NAME [--admin]: the new user's token is shown once, here, and never again. */
export const userAdd = operation(UserAddRequest.type, (raw) => {
  const o = object(raw);
  return { name: name(o, 'name', 'user'), admin: optBool(o, 'admin') };
}, async ({ engine, caller }: OpContext, p: { name: string; admin?: boolean }) => {
  engine.requireAdmin(caller, 'add users');
  refuseLookalike(engine, p.name);
  const { user, token } = createUser(engine.store, p.name, p.admin ?? false);
  return { ...userInfo(user), token };
});

/** A new user name must not read as the local owner or an existing user: `Qa` or
 *  fullwidth `ＱＡ` next to `qa` would pass for them on timelines and owner columns. */
function refuseLookalike(engine: Engine, name: string): void {
  const key = userNameKey(name);
  const owner = engine.config.localOwner;
  if (userNameKey(owner) === key) {
    throw new EngineError('NameTaken', `${sameAs(name, owner)} the engine's local owner (its Unix-socket user); pick another name.`);
  }
  if (engine.store.user(name)) throw new EngineError('NameTaken', `a user named "${name}" already exists. Remove it first to issue a new token.`);
  const twin = engine.store.allUsers().find((u) => userNameKey(u.name) === key);
  if (twin) throw new EngineError('NameTaken', `${sameAs(name, twin.name)} an existing user; pick a name that reads differently.`);
}

function sameAs(name: string, existing: string): string {
  return name === existing
    ? `"${name}" is`
    : `"${name}" reads the same as "${existing}" (user names that differ only in case or Unicode width are refused), which is`;
}

export const userList = operation(UserListRequest.type, () => ({}), async ({ engine, caller }: OpContext) => {
  engine.requireAdmin(caller, 'list users');
  return engine.store.allUsers().map(userInfo);
});

/** user remove NAME: their token stops working at once. Their containers stay, for an admin to delete. */
export const userRemove = operation(UserRemoveRequest.type, (raw): NameParams => ({ name: existingName(object(raw), 'name', 'user') }),
  async ({ engine, caller }: OpContext, p: NameParams) => {
    engine.requireAdmin(caller, 'remove users');
    const user = engine.store.user(p.name);
    if (!user) throw new EngineError('NotFound', `user "${p.name}" not found. See the users with: slipstream user list`);
    if (p.name === ADMIN_USER) throw new EngineError('InvalidArgument', `the first admin "${ADMIN_USER}" cannot be removed; it holds HOME/admin-token.`);
    engine.store.tx(() => engine.store.removeUser(p.name));
    return userInfo(user);
  });
