import { createHash, randomBytes, timingSafeEqual } from 'crypto';
import * as fs from 'fs';
import type { UserInfo } from '../protocol';
import { now } from './ids';
import type { UserRecord } from './records';
import type { Store } from './store';

/**
 * Team users and their tokens. A token is 32 random bytes, so a plain SHA-256
 * is enough to store it: there is nothing to brute-force that a slow hash
 * would protect. Only the hash is kept; the token is shown once, at creation.
 */
export const ADMIN_USER = 'admin';

export function newToken(): string {
  return `slp_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function findByToken(store: Store, token: string): UserRecord | undefined {
  const hash = Buffer.from(hashToken(token), 'hex');
  return store.allUsers().find((u) => timingSafeEqual(Buffer.from(u.tokenHash, 'hex'), hash));
}

/**
 * The user a token session acts as, read afresh on every request: the user
 * named `name` only while it still holds the token the session presented.
 * Once the user is removed, or the name re-added (with a new token, perhaps as
 * an admin), the old session is nobody.
 */
export function tokenHolder(store: Store, name: string, tokenHash: string): UserRecord | undefined {
  const user = store.user(name);
  if (!user) return undefined;
  const held = Buffer.from(user.tokenHash, 'hex');
  const presented = Buffer.from(tokenHash, 'hex');
  return held.length === presented.length && timingSafeEqual(held, presented) ? user : undefined;
}

export function createUser(store: Store, name: string, admin: boolean): { user: UserRecord; token: string } {
  const token = newToken();
  const user: UserRecord = { name, admin, tokenHash: hashToken(token), createdAt: now() };
  store.tx(() => store.putUser(user));
  return { user, token };
}

/** On the first start of a home: an admin whose token is written to HOME/admin-token (0600). */
export function ensureAdmin(store: Store, tokenFile: string): void {
  if (store.user(ADMIN_USER)) return;
  const { token } = createUser(store, ADMIN_USER, true);
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(tokenFile, 0o600);
}

export function userInfo(u: UserRecord): UserInfo {
  return { name: u.name, admin: u.admin, createdAt: u.createdAt };
}
