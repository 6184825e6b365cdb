/**
 * Hooks: commands from slipstream.json that restart the application after its
 * data changed under it (Jet Stream restarted the application with its data).
 *
 *   "hooks": {
 *     "afterSwitch":  ["docker compose restart app"],
 *     "afterRestore": ["docker compose restart app"],
 *     "afterRefresh": "docker compose restart app"
 *   }
 *
 * Three events, in the product's words:
 * - switch: another branch became active (branch activate, branch create
 *   --activate, open LINK, a git checkout followed by VS Code);
 * - restore: the active branch was rewound, to a bookmark (restore) or to its
 *   last operation (reset: a restore to the point the branch last had);
 * - refresh: the active branch got the template's latest version.
 *
 * The CLI (`--hooks`) and the extension run them, as the user, in the user's
 * environment. The engine never does, nor imports this module (the lint gate
 * refuses it): it may be a root or team engine, and these are one user's
 * commands from one checkout. A failed hook is reported; the data change
 * stands, since it is done and correct, and undoing it would lose work.
 */
import { spawn } from 'child_process';
import type { ContainerInfo } from '../protocol';

export const HOOK_EVENTS = ['switch', 'restore', 'refresh'] as const;
export type HookEvent = typeof HOOK_EVENTS[number];
/** What was done, which the hook also gets: reset runs the restore hooks. */
export type DataOperation = 'activate' | 'restore' | 'reset' | 'refresh';

/** Each event's key in slipstream.json's "hooks". */
export const HOOK_KEYS: Readonly<Record<HookEvent, string>> = {
  switch: 'afterSwitch',
  restore: 'afterRestore',
  refresh: 'afterRefresh',
};

export type Hooks = Readonly<Record<HookEvent, readonly string[]>>;
export const NO_HOOKS: Hooks = { switch: [], restore: [], refresh: [] };

export function hookEvent(operation: DataOperation): HookEvent {
  switch (operation) {
    case 'activate': return 'switch';
    case 'restore': case 'reset': return 'restore';
    case 'refresh': return 'refresh';
  }
}

/** slipstream.json's "hooks", or why it is wrong (naming the key). A typo'd key is an
 *  error rather than ignored: a hook that silently never runs is worse than none. */
export function parseHooks(raw: unknown): Hooks | { error: string } {
  if (raw === undefined) return NO_HOOKS;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { error: `"hooks" must be an object with ${keyList()}` };
  }
  const byKey = new Map(Object.entries(HOOK_KEYS).map(([event, key]) => [key, event as HookEvent]));
  const hooks: Record<HookEvent, string[]> = { switch: [], restore: [], refresh: [] };
  for (const [key, value] of Object.entries(raw)) {
    const event = byKey.get(key);
    if (!event) return { error: `"hooks.${key}" is not a hook; the hooks are ${keyList()}` };
    const commands = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(commands) || !commands.every((c): c is string => typeof c === 'string')) {
      return { error: `"hooks.${key}" must be a command or a list of commands (strings), not ${describe(value)}` };
    }
    if (commands.some((c) => !c.trim())) return { error: `"hooks.${key}" has an empty command` };
    hooks[event] = commands;
  }
  return hooks;
}

function keyList(): string {
  return Object.values(HOOK_KEYS).map((k) => `"${k}"`).join(', ');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list with something other than strings in it';
  return `a ${typeof value}`;
}

/** A change a client made, as it knows it from its request and the answer. */
export interface ChangeMade {
  operation: DataOperation;
  container: string;
  /** The bookmark restored: its id, or the name the command was given. */
  bookmark?: string;
}

/** What happened, as the hooks are told: the change, with the container as it is after it. */
export interface DataChange extends Omit<ChangeMade, 'container'> {
  container: ContainerInfo;
}

/**
 * The variables a hook gets on top of the user's environment. No password:
 * hooks are often logged, and the application has its own configuration; a
 * hook that needs one runs `slipstream container url NAME`.
 */
export function hookEnvironment(change: DataChange): Record<string, string> {
  const c = change.container;
  const host = c.host.includes(':') ? `[${c.host}]` : c.host;
  return {
    SLIPSTREAM_EVENT: hookEvent(change.operation),
    SLIPSTREAM_OPERATION: change.operation,
    SLIPSTREAM_CONTAINER: c.name,
    SLIPSTREAM_BRANCH: c.activeBranch,
    ...(change.bookmark ? { SLIPSTREAM_BOOKMARK: change.bookmark } : {}),
    SLIPSTREAM_TEMPLATE: c.template,
    SLIPSTREAM_TEMPLATE_VERSION: String(c.templateVersion),
    SLIPSTREAM_HOST: c.host,
    SLIPSTREAM_PORT: String(c.port),
    SLIPSTREAM_DATABASE: c.database,
    SLIPSTREAM_USER: c.user,
    SLIPSTREAM_DATABASE_URL: `postgresql://${encodeURIComponent(c.user)}@${host}:${c.port}/${encodeURIComponent(c.database)}`,
  };
}

export interface HookRunOptions {
  /** Where the commands run: slipstream.json's folder. */
  cwd: string;
  /** The whole environment (the user's plus hookEnvironment). */
  env: NodeJS.ProcessEnv;
  stdout(chunk: string): void;
  stderr(chunk: string): void;
  /** Called as each command starts, to show it above its output. */
  onStart?(command: string): void;
  /** Aborting kills the running hook (Ctrl-C in the CLI, a closed terminal in VS Code). */
  signal?: AbortSignal;
}

export type HookOutcome =
  | { ok: true; ran: number }
  | { ok: false; command: string; exit: string; skipped: number };

/** Runs the commands in order with the user's shell, each after the last succeeded
 *  (as `a && b`: the second usually needs the first). */
export async function runHooks(commands: readonly string[], options: HookRunOptions): Promise<HookOutcome> {
  for (const [i, command] of commands.entries()) {
    const exit = await runOne(command, options);
    if (exit !== undefined) return { ok: false, command, exit, skipped: commands.length - i - 1 };
  }
  return { ok: true, ran: commands.length };
}

/** Undefined on success, else how it ended ("exit code 3", "signal SIGTERM", "could not start: …"). */
function runOne(command: string, options: HookRunOptions): Promise<string | undefined> {
  options.onStart?.(command);
  return new Promise((resolve) => {
    const child = spawn(command, { shell: true, cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    child.stdout.setEncoding('utf8').on('data', options.stdout);
    child.stderr.setEncoding('utf8').on('data', options.stderr);
    child.on('error', (err) => resolve(options.signal?.aborted ? 'cancelled' : `could not start: ${err.message}`));
    child.on('close', (code, signal) => {
      if (options.signal?.aborted) resolve('cancelled');
      else if (code === 0) resolve(undefined);
      else resolve(code !== null ? `exit code ${code}` : `signal ${signal ?? 'unknown'}`);
    });
  });
}

/** The one sentence both clients show for a failed hook: which, how, and that the data change stands. */
export function hookFailureMessage(change: DataChange, outcome: Extract<HookOutcome, { ok: false }>): string {
  const key = HOOK_KEYS[hookEvent(change.operation)];
  const skipped = outcome.skipped ? ` (${outcome.skipped} later ${outcome.skipped === 1 ? 'hook was' : 'hooks were'} not run)` : '';
  return `the ${key} hook "${outcome.command}" failed (${outcome.exit})${skipped}; ${describeChange(change)} stands: it is done and was not undone`;
}

/** "the switch of container dev to branch feature": what the hooks follow, in the product's words. */
export function describeChange({ operation, container: c }: DataChange): string {
  switch (operation) {
    case 'activate': return `the switch of container ${c.name} to branch ${c.activeBranch}`;
    case 'restore': return `the restore of branch ${c.activeBranch} of container ${c.name}`;
    case 'reset': return `the reset of branch ${c.activeBranch} of container ${c.name}`;
    case 'refresh': return `the refresh of branch ${c.activeBranch} of container ${c.name}`;
  }
}
