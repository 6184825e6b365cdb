import * as crypto from 'crypto';

/**
 * A SCRAM-SHA-256 verifier for `password` (RFC 5802, RFC 7677), in the form
 * PostgreSQL stores in pg_authid and accepts in `ALTER ROLE … PASSWORD`. The
 * engine sends this instead of the password, so the password itself never
 * appears in a statement a server might log (log_statement lives in the data).
 * Container passwords are base64url, so SASLprep leaves them as they are.
 */
export function scramVerifier(password: string, salt = crypto.randomBytes(16), iterations = 4096): string {
  const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = crypto.createHash('sha256').update(clientKey).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function hmac(key: Buffer, text: string): Buffer {
  return crypto.createHmac('sha256', key).update(text).digest();
}
