import { ClientError, hasErrorCode } from '../../server/common/client';

/**
 * What the user reads when a command fails: the engine's own message, never a
 * stack trace. The stack, when there is one, goes to the output channel.
 */
export function userMessage(err: unknown): string {
  if (err instanceof ClientError) return err.message;
  if (err instanceof Error) return err.message.split('\n')[0] || err.name;
  return String(err);
}

export function isCancelled(err: unknown): boolean {
  return hasErrorCode(err, 'Cancelled');
}
