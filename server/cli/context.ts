/**
 * What every command handler gets: the resolved home, the output mode, the
 * Ctrl-C signal, and one lazily opened engine connection. The choice between a
 * local socket and a team engine is made here and only here.
 */
import type { RequestType } from 'vscode-jsonrpc';
import { connectEngine, type EngineClient } from '../common/client';
import { resolveHome } from '../common/home';
import type { ErrorData } from '../protocol';
import type { CommandArgs, CommandId, EngineTarget, GlobalFlags } from './args';
import { CliError, ProgressView, writeJson, type Io } from './output';

export interface CallOptions {
  /** Ask the engine for `$/progress` and show it on stderr. */
  progress?: boolean;
}

/** A command's implementation; resolves to the exit code. */
export type Handler<K extends CommandId> = (ctx: Context, args: CommandArgs[K]) => Promise<number>;
export type HandlerTable<K extends CommandId> = { [I in K]: Handler<I> };
/** The handlers of one command group, e.g. every 'bookmark …' command. */
export type GroupHandlers<G extends string> = HandlerTable<Extract<CommandId, `${G} ${string}`>>;

export interface Context {
  readonly io: Io;
  readonly json: boolean;
  readonly home: string;
  readonly target: EngineTarget;
  /** Aborted by Ctrl-C. */
  readonly signal: AbortSignal;
  client(): Promise<EngineClient>;
  call<P extends object, R>(type: RequestType<P, R, ErrorData>, params: P, options?: CallOptions): Promise<R>;
  /** Prints a result: the JSON document with --json, else the human text (if any). */
  emit(value: unknown, human: string): void;
  /** Fails unless the engine is the local one (engine start/stop manage a local daemon). */
  requireLocal(): void;
  close(): Promise<void>;
}

export function createContext(globals: GlobalFlags, io: Io, signal: AbortSignal): Context {
  let connection: Promise<EngineClient> | undefined;
  const home = resolveHome(globals.home);
  const ctx: Context = {
    io,
    json: globals.json,
    home,
    target: globals.target,
    signal,
    client() {
      const t = globals.target;
      connection ??= connectEngine(t.kind === 'local' ? { home } : { home, engine: t.url, token: t.token, tlsCa: t.tlsCa });
      return connection;
    },
    async call(type, params, options = {}) {
      const client = await ctx.client();
      const view = options.progress ? new ProgressView(io.stderr) : undefined;
      try {
        return await client.request(type, params, { signal, ...(view ? { onProgress: view.handle } : {}) });
      } finally {
        view?.finish();
      }
    },
    emit(value, human) {
      if (globals.json) writeJson(io, value);
      else if (human) io.stdout.write(human.endsWith('\n') ? human : human + '\n');
    },
    requireLocal() {
      if (globals.target.kind === 'tcp') {
        throw new CliError('Unsupported', `engine start and stop manage the local engine of a home; ${globals.target.url} is a team engine, managed on its own host.`);
      }
    },
    async close() {
      const pending = connection;
      connection = undefined;
      if (pending) await pending.then((c) => c.close(), () => undefined);
    },
  };
  return ctx;
}
