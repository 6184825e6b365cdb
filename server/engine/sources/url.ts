/**
 * The url source: a live PostgreSQL. pg_dump (plain format) streams straight
 * into the SQL loader, so no temporary file is written and the dump is never
 * held whole on disk or in memory.
 */
import type { Socket } from 'net';
import { findExecutable, whereWeLooked } from '../../common/executables';
import { hideSecrets } from '../../common/redact';
import type { SourceContext } from './index';
import { loadSqlStream } from './sqlStream';
import {
  byteProgress, cancelled, describeExit, failed, invalid, run, type Running,
} from './tools';

const SCHEME = /^postgres(?:ql)?:\/\//i;

export function validateUrl(url: unknown): void {
  if (typeof url !== 'string' || !SCHEME.test(url.trim()) || /\s/.test(url.trim())) {
    const shown = typeof url === 'string' ? `"${hideSecrets(url)}"` : 'the source URL';
    throw invalid(`${shown} is not a PostgreSQL URL. Use postgres://user:password@host:5432/database.`);
  }
}

export async function loadUrl(url: string, ctx: SourceContext): Promise<void> {
  const { bare, password } = splitPassword(url.trim());
  const shown = hideSecrets(url);
  const tool = findExecutable('pg_dump', { before: ctx.pgBinDirs });
  if (!tool) {
    throw failed(`pg_dump is needed to copy ${shown}, and it was not found ${whereWeLooked({ before: ctx.pgBinDirs })}. ` +
      'Install the PostgreSQL client tools (for example apt install postgresql-client) or add their bin directory to the engine\'s pgBinDirs setting.');
  }
  ctx.progress(`dumping ${shown} with ${tool}`);
  const dump = run(tool, dumpArgs(bare), {
    // The password travels in the environment, not on the command line where ps would show it.
    env: password === undefined ? process.env : { ...process.env, PGPASSWORD: password },
    signal: ctx.signal, stdout: 'stream',
  });
  dump.exited.catch(() => undefined); // awaited below; this only keeps a spawn error from going unhandled
  await loadFrom(dump, shown, password, ctx);
}

function dumpArgs(url: string): string[] {
  return [
    // The template's cluster has none of the source's roles or tablespaces, and a
    // template must not start replicating from production.
    '--no-owner', '--no-privileges', '--no-tablespaces', '--no-subscriptions',
    '--encoding=UTF8', // whatever the source's encoding, the loader then reads UTF-8
    '--no-password', // fail at once instead of waiting for a prompt nobody sees
    '--dbname', url,
  ];
}

/** Load pg_dump's stdout, then decide whose failure to report. */
async function loadFrom(dump: Running, shown: string, password: string | undefined, ctx: SourceContext): Promise<void> {
  const stdout = dump.child.stdout as Socket; // a pipe: a Socket, which counts bytesRead
  let ended = false;
  stdout.once('end', () => { ended = true; });
  const report = byteProgress(ctx, `copying ${shown}`);
  const loadError = await loadSqlStream(stdout, {
    target: ctx.target, name: `the pg_dump output of ${shown}`, signal: ctx.signal,
    fix: 'Fix the source database (or load it another way, such as a command source) and run the command again.',
    onChunk: () => report(stdout.bytesRead),
  }).then(() => undefined, (err: unknown) => err);
  // If the load failed before pg_dump finished, pg_dump is blocked writing to us: stop it.
  // If its output had ended, pg_dump itself probably failed (and cut its output short).
  if (loadError && !ended) dump.kill();
  const exit = await dump.exited.catch((err: Error) => { throw failed(`could not run pg_dump: ${err.message}.`); });
  if (ctx.signal.aborted) throw cancelled();
  if (exit.code !== 0 && !dump.killed()) throw dumpFailed(dump, exit, shown, password);
  if (loadError) throw loadError;
}

function dumpFailed(dump: Running, exit: { code: number | null; signal: NodeJS.Signals | null }, shown: string, password?: string) {
  const out = hideSecrets(dump.tail.join('\n'), password ? [password] : []);
  const hint = /version mismatch/.test(out)
    ? 'This pg_dump is older than the server: install the client tools of the server\'s version (or newer), or add their bin directory to the engine\'s pgBinDirs setting. '
    : 'Check the URL, the password, and that the server is running and reachable from the engine\'s machine. ';
  return failed(`pg_dump ${describeExit(exit)} while dumping ${shown}:\n${out}\n${hint}Then run the command again.`);
}

/** Take the password out of the URL's user info, so it can go in PGPASSWORD. */
function splitPassword(url: string): { bare: string; password?: string } {
  const m = /^(postgres(?:ql)?:\/\/)([^@/?#]*)@/i.exec(url);
  if (!m || !m[2].includes(':')) return { bare: url };
  const colon = m[2].indexOf(':');
  const user = m[2].slice(0, colon);
  const raw = m[2].slice(colon + 1);
  let password = raw;
  try {
    password = decodeURIComponent(raw);
  } catch {
    // not percent-encoded; libpq would take it as it is
  }
  return { bare: `${m[1]}${user ? `${user}@` : ''}${url.slice(m[0].length)}`, password };
}
