/**
 * --hooks: after a switch, restore or refresh, run slipstream.json's hooks here,
 * as the user, with their output on this terminal. The file is found and checked
 * before the request goes out, so a wrong file changes nothing; a hook that
 * fails after the change makes the exit status 1 and leaves the change as it is.
 */
import * as path from 'path';
import { hookEnvironment, hookEvent, hookFailureMessage, HOOK_KEYS, runHooks, type ChangeMade, type DataChange } from '../common/hooks';
import { findWorkspaceConfig, readWorkspaceConfig, WORKSPACE_CONFIG_FILE, type WorkspaceConfig } from '../common/workspaceConfig';
import { ContainerShowRequest } from '../protocol';
import type { WithHooks } from './args';
import type { Context } from './context';
import { CliError, writeJson } from './output';

export interface HookPlan {
  file: string;
  config: WorkspaceConfig;
}

/** Before anything changes: the slipstream.json that applies, checked whole. */
export function planHooks(flag: WithHooks['hooks']): HookPlan | undefined {
  if (!flag) return undefined;
  const file = findWorkspaceConfig(flag.from);
  if (!file) throw new CliError('InvalidArgument', `--hooks: there is no ${WORKSPACE_CONFIG_FILE} in ${flag.from} or a folder above it; nothing was changed`);
  const parsed = readWorkspaceConfig(file);
  if (!parsed.ok) throw new CliError('InvalidArgument', `${parsed.message}. Nothing was changed.`);
  return { file, config: parsed.config };
}

/** After the change: prints the result, then runs the hooks (when planned). Resolves to the exit code. */
export async function afterChange(ctx: Context, plan: HookPlan | undefined, change: ChangeMade, result: unknown, human: string): Promise<number> {
  if (!plan) {
    ctx.emit(result, human);
    return 0;
  }
  // The change is done: say so before the hooks' output, which may be long (in --json, stdout holds one document).
  if (!ctx.json) ctx.emit(result, human);
  const key = HOOK_KEYS[hookEvent(change.operation)];
  const commands = plan.config.hooks[hookEvent(change.operation)];
  if (commands.length === 0) {
    ctx.io.stderr.write(`slipstream: ${plan.file} has no "${key}" hooks; none were run\n`);
    if (ctx.json) ctx.emit(result, '');
    return 0;
  }
  const full: DataChange = { ...change, container: await containerAfter(ctx, change) };
  const out = ctx.json ? ctx.io.stderr : ctx.io.stdout;
  const outcome = await runHooks(commands, {
    cwd: path.dirname(plan.file),
    env: { ...process.env, ...hookEnvironment(full) },
    stdout: (chunk) => out.write(chunk),
    stderr: (chunk) => ctx.io.stderr.write(chunk),
    onStart: (command) => ctx.io.stderr.write(`slipstream: ${key} hook: ${command}\n`),
    signal: ctx.signal,
  });
  if (outcome.ok) {
    if (ctx.json) ctx.emit(result, '');
    return 0;
  }
  const message = hookFailureMessage(full, outcome);
  // One document in --json: the error, with the result of the change that stands.
  if (ctx.json) writeJson(ctx.io, { error: { code: 'HookFailed', message }, result });
  ctx.io.stderr.write(`slipstream: ${message}\n`);
  return 1;
}

/** The container as it is now, for the hooks' variables. */
async function containerAfter(ctx: Context, change: ChangeMade) {
  try {
    return await ctx.call(ContainerShowRequest.type, { name: change.container });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CliError('HookFailed', `the ${change.operation} is done and stands, but the hooks were not run: container ${change.container} could not be read (${why})`);
  }
}
