/**
 * The CLI: parse, dispatch to a command group, print the result, and map every
 * failure to an exit code (0 ok, 1 operation failed, 2 command line wrong,
 * 130 interrupted).
 */
import { ClientError } from '../common/client';
import { isErrorCodeName } from '../protocol';
import { parseCommandLine, type CommandId, type ParsedCommand } from './args';
import { bookmarkCommands } from './bookmark';
import { branchCommands } from './branch';
import { containerCommands } from './container';
import { createContext, type Context, type HandlerTable } from './context';
import { engineCommands } from './engine';
import { opsCommands } from './ops';
import { openCommands } from './link';
import { CliError, writeError, type Io } from './output';
import { templateCommands } from './template';
import { userCommands } from './user';
import { remoteCommands } from './remote';

const handlers: HandlerTable<CommandId> = {
  ...engineCommands,
  ...templateCommands,
  ...containerCommands,
  ...branchCommands,
  ...bookmarkCommands,
  ...opsCommands,
  ...userCommands,
  ...remoteCommands,
  ...openCommands,
};

/** Commands that must not trap Ctrl-C: the daemon handles its own signals. */
const foreground: ReadonlySet<CommandId> = new Set<CommandId>(['engine run']);

export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseCommandLine(argv, { cwd: process.cwd(), env: process.env });
  if (parsed.kind === 'help') {
    (parsed.exitCode === 0 ? io.stdout : io.stderr).write(parsed.text);
    return parsed.exitCode;
  }
  if (parsed.kind === 'error') {
    writeError(io, parsed.json, 'Usage', parsed.message);
    io.stderr.write(parsed.hint + '\n');
    return 2;
  }
  for (const warning of parsed.globals.warnings ?? []) io.stderr.write(warning + '\n');
  const controller = new AbortController();
  const ctx = createContext(parsed.globals, io, controller.signal);
  const stopTrap = foreground.has(parsed.command.id) ? () => undefined : trapInterrupt(controller);
  try {
    return await dispatch(ctx, parsed.command);
  } catch (err) {
    return reportFailure(ctx, err);
  } finally {
    stopTrap();
    await ctx.close();
  }
}

function dispatch<K extends CommandId>(ctx: Context, command: ParsedCommand<K>): Promise<number> {
  return handlers[command.id](ctx, command.args);
}

/** First Ctrl-C cancels the running request; a second one exits at once. */
function trapInterrupt(controller: AbortController): () => void {
  const onInterrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
}

function reportFailure(ctx: Context, err: unknown): number {
  if (ctx.signal.aborted) {
    writeError(ctx.io, ctx.json, 'Cancelled', 'interrupted; the engine was asked to cancel the operation');
    return 130;
  }
  if (err instanceof ClientError || err instanceof CliError) {
    writeError(ctx.io, ctx.json, err.code, err.message);
    return 1;
  }
  // `engine run` throws the engine's own errors: their code is stable and their message is for users.
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Error && isErrorCodeName(code)) {
    writeError(ctx.io, ctx.json, code, err.message);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  writeError(ctx.io, ctx.json, 'Internal', `unexpected error: ${message}`);
  return 1;
}
