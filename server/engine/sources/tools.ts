/**
 * Helpers shared by the source loaders: running child processes with a tail of
 * their output, and describing the target database to libpq tools. (Finding
 * pg_dump and pg_restore is common/executables.ts; masking secrets, common/redact.ts.)
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'child_process';
import * as fs from 'fs';
import { EngineError } from '../errors';
import type { SourceContext, TargetDatabase } from './index';

export function cancelled(): EngineError {
  return new EngineError('Cancelled', 'loading the source was cancelled.');
}

export function failed(message: string): EngineError {
  return new EngineError('SourceFailed', message);
}

// ---------------------------------------------------------------- validation (before any work starts)

export function invalid(message: string): EngineError {
  return new EngineError('InvalidArgument', message);
}

/** A path that exists, is a regular file (or, when `allowDir`, a directory) and is readable. */
export async function readableFile(file: unknown, what: string, allowDir = false): Promise<fs.Stats> {
  if (typeof file !== 'string' || file.trim() === '') throw invalid(`the ${what} path is empty. Give the path of the file.`);
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw invalid(`${what} ${file} ${why}. Check the path (and its permissions) and run the command again.`);
  }
  if (!st.isFile() && !(allowDir && st.isDirectory())) {
    throw invalid(`${what} ${file} is not a regular file. Give the path of the file itself.`);
  }
  return st;
}

export async function directory(dir: unknown, what: string): Promise<void> {
  if (typeof dir !== 'string' || dir.trim() === '') throw invalid(`the ${what} is empty. Give a directory.`);
  const st = await fs.promises.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw invalid(`${what} ${dir} is not an existing directory. Check the path and run the command again.`);
}

// ---------------------------------------------------------------- target database

/** A libpq conninfo string for the target, without the password (that goes in PGPASSWORD). */
export function targetConninfo(t: TargetDatabase): string {
  const q = (v: string | number) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `host=${q(t.host)} port=${q(t.port)} user=${q(t.user)} dbname=${q(t.database)}`;
}

/**
 * The environment for a process that works on the target: the engine's own, minus
 * its libpq variables (a PGSSLMODE=require or PGSERVICE meant for some other
 * database would break or redirect the connection), plus `extra`.
 */
export function envForTarget(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  return { ...env, ...extra };
}

export function targetUrl(t: TargetDatabase): string {
  const e = encodeURIComponent;
  return `postgres://${e(t.user)}:${e(t.password)}@${t.host}:${t.port}/${e(t.database)}`;
}

// ---------------------------------------------------------------- processes

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export interface Running {
  child: ChildProcess;
  /** Resolves when the process has exited and its output has been read (or 2 s after exit,
   *  in case a background grandchild keeps the pipes open). Rejects if it could not start. */
  exited: Promise<Exit>;
  /** The last lines of its stderr (and stdout, when stdout is read as lines). */
  tail: string[];
  /** True when we killed it because of an abort or because its consumer failed. */
  killed: () => boolean;
  kill(): void;
}

export interface RunOptions extends Pick<SpawnOptions, 'cwd' | 'env'> {
  signal: AbortSignal;
  /** 'lines': stdout is read as lines like stderr; 'stream': the caller reads child.stdout. */
  stdout: 'lines' | 'stream';
  /** Run in its own process group, so an abort also stops what it started (npm, sh -c). */
  group?: boolean;
  onLine?: (line: string) => void;
  tailLines?: number;
}

/** Spawn a process that is killed (with its group, when `group`) if `signal` aborts. */
export function run(file: string, args: string[], opts: RunOptions): Running {
  const child = spawn(file, args, {
    cwd: opts.cwd, env: opts.env, detached: opts.group ?? false, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > (opts.tailLines ?? 20)) tail.shift();
    opts.onLine?.(line);
  };
  readLines(child.stderr!, keep);
  if (opts.stdout === 'lines') readLines(child.stdout!, keep);
  let killedByUs = false;
  const kill = () => {
    killedByUs = true;
    stop(child, opts.group ?? false);
  };
  const onAbort = () => kill();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const exited = waitForExit(child).finally(() => opts.signal.removeEventListener('abort', onAbort));
  return { child, exited, tail, killed: () => killedByUs, kill };
}

function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split(/\r?\n/);
    rest = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  });
  stream.on('end', () => { if (rest) onLine(rest); });
}

/** SIGTERM, then SIGKILL if it is still there after 3 s. */
function stop(child: ChildProcess, group: boolean): void {
  const send = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      if (group) process.kill(-child.pid, sig);
      else if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    } catch {
      // already gone
    }
  };
  send('SIGTERM');
  const t = setTimeout(() => send('SIGKILL'), 3000);
  t.unref();
  child.once('exit', () => {
    clearTimeout(t);
    if (group) send('SIGKILL'); // leftovers in the group, such as a backgrounded child
  });
}

function waitForExit(child: ChildProcess): Promise<Exit> {
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const t = setTimeout(() => {
        // A background grandchild still holds the pipes: stop reading them.
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({ code, signal });
      }, 2000);
      void closed.then(() => { clearTimeout(t); resolve({ code, signal }); });
    });
  });
}

export function describeExit(e: Exit): string {
  return e.signal ? `was killed by signal ${e.signal}` : `exited with code ${e.code}`;
}

// ---------------------------------------------------------------- progress

/** Report bytes read, at most every 250 ms or whole percent, so a fast load does not flood the client. */
export function byteProgress(ctx: SourceContext, label: string, total?: number): (bytes: number) => void {
  let last = 0;
  let lastPct = -1;
  return (bytes) => {
    const pct = total ? Math.min(100, Math.floor((bytes / total) * 100)) : undefined;
    const nowMs = Date.now();
    if (nowMs - last < 250 && (pct === undefined || pct === lastPct)) return;
    last = nowMs;
    lastPct = pct ?? -1;
    const size = total ? `${mb(bytes)} of ${mb(total)}` : mb(bytes);
    ctx.progress(`${label} (${size})`, pct);
  };
}

/** Forward messages at most every 100 ms, dropping the ones in between. */
export function throttled(ctx: SourceContext): (message: string) => void {
  let last = 0;
  return (message) => {
    const nowMs = Date.now();
    if (nowMs - last < 100) return;
    last = nowMs;
    ctx.progress(message);
  };
}

function mb(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} kB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
