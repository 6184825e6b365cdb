import { spawn } from 'node:child_process';

/** Who runs a PostgreSQL process: PostgreSQL refuses root. */
export interface RunAs {
  uid: number;
  gid: number;
}

export interface ExecOptions {
  as?: RunAs;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Run a program to completion; rejects with its output's tail when it fails. */
export function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      uid: opts.as?.uid, gid: opts.as?.gid, cwd: opts.cwd ?? '/',
      env: { ...process.env, LC_ALL: 'C', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${out.trim().slice(-1500)}`));
    });
  });
}

/** Wall-clock seconds of one async step. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
