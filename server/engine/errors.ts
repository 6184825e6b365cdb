import { ResponseError } from 'vscode-jsonrpc';
import { ErrorCodes, type ErrorCodeName, type ErrorData } from '../protocol';

/**
 * The one error type the engine throws on purpose. Its message is shown to the
 * user as it is, so it says what went wrong and what to do about it.
 */
export class EngineError extends Error {
  constructor(readonly code: ErrorCodeName, message: string) {
    super(message);
    this.name = 'EngineError';
  }

  toResponseError(): ResponseError<ErrorData> {
    return new ResponseError(ErrorCodes[this.code], this.message, { code: this.code });
  }
}

/** Turn anything thrown inside a handler into a JSON-RPC error. Unexpected errors
 *  keep their message but not their stack: the stack goes to the engine log. */
export function toResponseError(err: unknown): ResponseError<ErrorData> {
  if (err instanceof EngineError) return err.toResponseError();
  const message = err instanceof Error ? err.message : String(err);
  return new ResponseError(ErrorCodes.Internal, `internal error: ${message}`, { code: 'Internal' });
}

/** Map an errno from a volume operation to a stable error; ENOSPC must say "disk full". */
export function volumeError(err: unknown, doing: string): EngineError {
  if (err instanceof EngineError) return err; // the driver already said what it was (NoSpace, NotFound…)
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'ENOSPC') {
    return new EngineError('NoSpace', `${doing}: no space left on the pool's disk. Free some space (delete branches or bookmarks) and try again.`);
  }
  return new EngineError('VolumeFailed', `${doing}: ${e?.message ?? String(err)}`);
}
