/**
 * The dump source: a file made by pg_dump. Archives (custom, tar and directory
 * formats) need pg_restore; plain SQL, gzipped or not, goes through the same
 * loader as sql sources, so no client tools are needed for it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { pipeline, type Readable } from 'stream';
import { createGunzip } from 'zlib';
import { findExecutable, whereWeLooked } from '../../common/executables';
import type { SourceContext } from './index';
import { loadSqlStream } from './sqlStream';
import {
  byteProgress, cancelled, describeExit, envForTarget, failed, invalid, readableFile, run, targetConninfo, throttled,
} from './tools';

type Format = 'plain' | 'gzip' | 'custom' | 'tar' | 'directory';

export async function loadDump(file: string, ctx: SourceContext): Promise<void> {
  const format = await detectFormat(file);
  if (format === 'plain' || format === 'gzip') return loadPlain(file, format === 'gzip', ctx);
  return restoreArchive(file, format, ctx);
}

export async function validateDump(file: unknown): Promise<void> {
  const st = await readableFile(file, 'dump file', true);
  if (st.isDirectory() && !fs.existsSync(path.join(file as string, 'toc.dat'))) {
    throw invalid(`${file} is a directory without a toc.dat, so it is not a directory-format dump (pg_dump -Fd). Give the dump file or directory.`);
  }
}

/** By content, not by file name: pg_dump writes "PGDMP" first in custom format. */
async function detectFormat(file: string): Promise<Format> {
  if ((await fs.promises.stat(file)).isDirectory()) return 'directory';
  const head = Buffer.alloc(512);
  const fh = await fs.promises.open(file, 'r');
  const { bytesRead } = await fh.read(head, 0, head.length, 0).finally(() => fh.close());
  if (head.toString('latin1', 0, 5) === 'PGDMP') return 'custom';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (bytesRead >= 262 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  return 'plain';
}

async function loadPlain(file: string, gzipped: boolean, ctx: SourceContext): Promise<void> {
  const name = path.basename(file);
  const total = (await fs.promises.stat(file)).size;
  const report = byteProgress(ctx, `loading ${name}`, total);
  const raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const input: Readable = gzipped ? pipeline(raw, createGunzip(), () => undefined) : raw;
  await loadSqlStream(input, {
    target: ctx.target, name, signal: ctx.signal,
    fix: 'Fix the dump (or re-create it) and run the command again.',
    onChunk: () => report(raw.bytesRead), // compressed bytes, to match the file size
  });
}

async function restoreArchive(file: string, format: Format, ctx: SourceContext): Promise<void> {
  const name = path.basename(file);
  const tool = findExecutable('pg_restore', { before: ctx.pgBinDirs });
  if (!tool) {
    throw failed(`${name} is a ${format}-format pg_dump archive, which only pg_restore can read, and pg_restore was not found ` +
      `${whereWeLooked({ before: ctx.pgBinDirs })}. Install the PostgreSQL client tools (for example apt install postgresql-client) ` +
      'or add their bin directory to the engine\'s pgBinDirs setting; or make a plain-format dump (pg_dump -Fp) instead.');
  }
  ctx.progress(`restoring ${name} with ${tool}`);
  const report = throttled(ctx); // one line per object: thousands for a large schema
  const p = run(tool, restoreArgs(ctx, file), {
    env: envForTarget({ PGPASSWORD: ctx.target.password }),
    signal: ctx.signal, stdout: 'lines', tailLines: 400,
    onLine: (line) => { if (isVerbose(line)) report(line.replace(/^pg_restore: /, '')); },
  });
  const exit = await p.exited.catch((err: Error) => { throw failed(`could not run ${tool}: ${err.message}.`); });
  if (ctx.signal.aborted) throw cancelled();
  if (exit.code === 0) return;
  const errors = p.tail.filter((l) => !isVerbose(l)).slice(-20);
  throw failed(`pg_restore ${describeExit(exit)} while restoring ${name}:\n${errors.join('\n')}\n` +
    `${restoreHint(errors.join('\n'))}Fix the dump and run the command again.`);
}

function restoreArgs(ctx: SourceContext, file: string): string[] {
  return [
    // A template is loaded as the superuser of its own cluster, where the source's roles
    // and tablespaces do not exist; and a template must not start replicating.
    '--no-owner', '--no-privileges', '--no-tablespaces', '--no-subscriptions',
    '--exit-on-error', // a half-restored template is worse than a clear error
    '--no-password', // never wait for a prompt; PGPASSWORD is set
    '--verbose', // one line per object, forwarded as progress
    '--dbname', targetConninfo(ctx.target), file,
  ];
}

/** Verbose progress lines are "pg_restore: creating TABLE ..."; problems say error:, warning:, detail:, hint:. */
function isVerbose(line: string): boolean {
  return /^pg_restore: (?!(error|warning|detail|hint):)/.test(line);
}

function restoreHint(errors: string): string {
  if (/unsupported version/.test(errors)) {
    return 'The archive was made by a newer pg_dump than this pg_restore: install newer PostgreSQL client tools, or add their bin directory to the engine\'s pgBinDirs setting. ';
  }
  if (/extension "[^"]+" is not available|could not open extension control file/.test(errors)) {
    return 'The dump needs an extension that the template\'s PostgreSQL does not have. ';
  }
  return '';
}
