import type { RequestType } from 'vscode-jsonrpc';
import type { ErrorData } from '../../protocol';
import type { Engine, OpContext } from '../engine';
import type { JournalOp, JournalRecord } from '../journal';

/** One engine operation, as the dispatcher sees it: a method name, and a handler that
 *  checks the raw params at the edge before the typed work runs. Each operation lives
 *  in its own file and reads top to bottom. */
export interface Operation {
  method: string;
  /** Answered before the connection has authenticated (only authenticate itself). */
  public: boolean;
  handle(ctx: OpContext, raw: unknown): Promise<unknown>;
}

export function operation<P, R>(type: RequestType<P, R, ErrorData>, parse: (raw: unknown) => P,
  run: (ctx: OpContext, params: P) => Promise<R>, options: { public?: boolean } = {}): Operation {
  // async, so that a refused parse becomes a rejected promise like every other failure
  return { method: type.method, public: options.public ?? false, handle: async (ctx, raw) => run(ctx, parse(raw)) };
}

/** How a journaled operation K finishes or rolls back after a crash. */
export type Recover<K extends JournalOp> = (engine: Engine, rec: JournalRecord<K>) => Promise<void>;
