/**
 * The command source: a shell command that seeds the fresh database itself,
 * such as `npm run migrate && npm run seed`. It finds the database through
 * DATABASE_URL and the libpq PG* variables.
 */
import { hideSecrets } from '../../common/redact';
import type { SourceContext } from './index';
import { cancelled, describeExit, directory, envForTarget, failed, invalid, run, targetUrl } from './tools';

export async function validateCommand(command: unknown, cwd: unknown): Promise<void> {
  if (typeof command !== 'string' || command.trim() === '') {
    throw invalid('the source command is empty. Give the shell command that seeds the database, such as "npm run seed".');
  }
  await directory(cwd, 'working directory of the source command');
}

export async function loadCommand(command: string, cwd: string, ctx: SourceContext): Promise<void> {
  const t = ctx.target;
  const env = envForTarget({
    DATABASE_URL: targetUrl(t),
    PGHOST: t.host, PGPORT: String(t.port), PGUSER: t.user, PGPASSWORD: t.password, PGDATABASE: t.database,
  });
  // Output may echo DATABASE_URL; progress and error messages are shown and stored, so mask it.
  const mask = (line: string) => hideSecrets(line, [t.password]);
  ctx.progress(`running ${mask(command)}`);
  const p = run('/bin/sh', ['-c', command], {
    cwd, env, signal: ctx.signal, stdout: 'lines',
    group: true, // an abort must also stop what the shell started (npm, node, psql)
    onLine: (line) => { if (line.trim()) ctx.progress(mask(line)); },
  });
  const exit = await p.exited.catch((err: Error) => { throw failed(`could not start /bin/sh in ${cwd}: ${err.message}.`); });
  if (ctx.signal.aborted) throw cancelled();
  if (exit.code === 0) return;
  const output = p.tail.length ? `Its last output:\n${p.tail.map(mask).join('\n')}\n` : 'It printed nothing.\n';
  throw failed(`the source command \`${mask(command)}\` ${describeExit(exit)} (in ${cwd}). ${output}` +
    'Fix the command (it gets DATABASE_URL and PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) and run it again.');
}
