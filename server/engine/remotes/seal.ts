/**
 * Client-side encryption of a remote (optional, per remote): with a key, every object's bytes
 * are AES-256-GCM sealed (a random 12-byte nonce first, the 16-byte tag last), so the store
 * holds nothing readable and a changed byte fails the tag. Chunk and file-list names become
 * HMAC-SHA256(key, sha256): a name no longer tells the store which content it holds, and stays
 * the same for the same content, so pushes still send only what is new. Without a key both are
 * the identity.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { EngineError } from '../errors';

const NONCE = 12;
const TAG = 16;
const CHECK = 'slipstream-remote-key-check';

export interface Sealer {
  readonly encrypted: boolean;
  /** The name content with this sha256 has on the remote. */
  name(sha256: string): string;
  seal(plain: Buffer): Buffer;
  /** The plain bytes, or undefined when they were not sealed with this key (or changed since). */
  open(sealed: Buffer): Buffer | undefined;
  /** What the marker records, so a wrong key is told apart from damage. */
  keyCheck(): string | undefined;
}

export const plainSealer: Sealer = {
  encrypted: false,
  name: (sha) => sha,
  seal: (b) => b,
  open: (b) => b,
  keyCheck: () => undefined,
};

export function newKey(): string {
  return randomBytes(32).toString('base64');
}

/** A key as `remote add --key` takes it: 32 bytes, base64. */
export function parseKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32 || key.toString('base64') !== text.trim()) {
    throw new EngineError('InvalidArgument', 'a remote key is 32 bytes in base64 (44 characters), as `slipstream remote key NAME` prints it on an engine that has it.');
  }
  return key;
}

export function keySealer(base64: string): Sealer {
  const key = parseKey(base64);
  const mac = (text: string) => createHmac('sha256', key).update(text).digest('hex');
  return {
    encrypted: true,
    name: (sha) => mac(sha),
    seal: (plain) => {
      const nonce = randomBytes(NONCE);
      const c = createCipheriv('aes-256-gcm', key, nonce);
      const body = Buffer.concat([c.update(plain), c.final()]);
      return Buffer.concat([nonce, body, c.getAuthTag()]);
    },
    open: (sealed) => {
      if (sealed.length < NONCE + TAG) return undefined;
      try {
        const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
        d.setAuthTag(sealed.subarray(sealed.length - TAG));
        return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
      } catch {
        return undefined;
      }
    },
    keyCheck: () => mac(CHECK),
  };
}

/** Does the marker's check match this sealer's key? */
export function sameKey(sealer: Sealer, check: string | undefined): boolean {
  const mine = sealer.keyCheck();
  if (mine === undefined || check === undefined) return mine === check;
  return mine.length === check.length && timingSafeEqual(Buffer.from(mine), Buffer.from(check));
}
