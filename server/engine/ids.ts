import { randomBytes } from 'crypto';

/** Short, unguessable ids with a readable prefix: tpl_, ctr_, br_, bm_, vol_, snap_, op_. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export function newPassword(): string {
  return randomBytes(18).toString('base64url');
}

export const now = (): string => new Date().toISOString();
