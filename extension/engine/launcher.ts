/**
 * Starts a local engine when none answers. The engine is the bundled CLI
 * (dist/cli.js in the extension's install directory) run by a real Node.js:
 * VS Code's own process.execPath is Electron, whose ABI the engine's native
 * modules (lmdb) were not built for, so we prefer `slipstream.nodePath`, then
 * the `node` on PATH, and use process.execPath only when it is plain Node
 * (code-server, tests).
 */
import { execFile } from 'child_process';
import { findExecutable, isExecutableFile } from '../../server/common/executables';
import type { EngineStatus } from '../../server/protocol';

export interface NodeLookup {
  /** The `slipstream.nodePath` setting, when set. */
  setting?: string;
  /** $PATH. */
  pathEnv?: string;
  /** process.execPath of the current process. */
  execPath: string;
  /** True when the current process is Electron (desktop VS Code), whose binary is not a usable Node. */
  electron: boolean;
  platform?: NodeJS.Platform;
}

export type NodeChoice = { ok: true; node: string; why: string } | { ok: false; message: string };

export function findNode(lookup: NodeLookup): NodeChoice {
  if (lookup.setting && lookup.setting.trim() !== '') {
    const node = lookup.setting.trim();
    if (isExecutableFile(node)) return { ok: true, node, why: 'the slipstream.nodePath setting' };
    return { ok: false, message: `slipstream.nodePath is set to ${node}, which is not an executable file` };
  }
  const onPath = findExecutable('node', { pathEnv: lookup.pathEnv ?? '', platform: lookup.platform ?? process.platform });
  if (onPath) return { ok: true, node: onPath, why: 'PATH' };
  if (!lookup.electron) return { ok: true, node: lookup.execPath, why: 'the Node.js running the extension' };
  return { ok: false, message: 'no Node.js (version 20 or later) was found on PATH to run the engine; install it or set slipstream.nodePath' };
}

export interface StartOptions {
  node: string;
  /** The bundled CLI, dist/cli.js. */
  cli: string;
  home: string;
  /** Extra `engine start` flags, e.g. ['--driver', 'blocks']. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs `slipstream --home H --json engine start`; it returns once the daemon answers (or says why it cannot). */
export function startLocalEngine(opts: StartOptions): Promise<EngineStatus> {
  const argv = [opts.cli, '--home', opts.home, '--json', 'engine', 'start', ...(opts.args ?? [])];
  return new Promise((resolve, reject) => {
    execFile(opts.node, argv, { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const parsed = parseJson(stdout);
        if (!err && parsed && typeof parsed === 'object' && 'pid' in parsed) {
          resolve(parsed as EngineStatus);
          return;
        }
        reject(new Error(`could not start the engine for ${opts.home}: ${cliErrorMessage(parsed, stderr, err)}`));
      });
  });
}

function parseJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return undefined; }
}

/** The CLI's --json error carries the engine's own message; prefer it over a raw exit status. */
function cliErrorMessage(parsed: unknown, stderr: string, err: Error | null): string {
  if (parsed && typeof parsed === 'object' && 'error' in parsed) {
    const error = (parsed as { error: unknown }).error;
    if (error && typeof error === 'object' && 'message' in error) return String((error as { message: unknown }).message);
  }
  const lastLine = stderr.trim().split('\n').filter(Boolean).pop();
  return lastLine ?? err?.message ?? 'the CLI gave no answer';
}
