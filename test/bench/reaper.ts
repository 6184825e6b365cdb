/**
 * The last line of clean-up: PostgreSQL servers still running on data under a
 * directory the bench is about to unmount or delete. An engine stopped while an
 * operation was in flight can leave its container's database running (see
 * docs/performance.md); a busy mount then only unmounts lazily and its loop
 * device stays attached. Only postmasters whose -D lies under `dir` are touched.
 */
import * as fs from 'node:fs';

function postmastersUnder(dir: string): number[] {
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    const d = argv.indexOf('-D');
    if (argv[0].endsWith('/postgres') && d > 0 && (argv[d + 1] ?? '').startsWith(`${dir}/`)) found.push(Number(name));
  }
  return found;
}

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);

/** SIGQUIT is PostgreSQL's immediate shutdown; SIGKILL after 10 s if it is stuck. */
export async function reapPostgresUnder(dir: string): Promise<number> {
  const pids = postmastersUnder(dir);
  for (const pid of pids) process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
  return pids.length;
}
