/**
 * Sources: where a template's data comes from. The engine has initdb'd and
 * started a fresh PostgreSQL; loadSource fills its database from the source.
 * One file per kind beside this one; sqlStream.ts is the SQL loader that the
 * sql, dump (plain) and url kinds share.
 */
import { hideSecrets } from '../../common/redact';
import { describeSource } from '../../common/sources';
import type { SourceSpec } from '../../protocol';
import { EngineError } from '../errors';
import { loadCommand, validateCommand } from './command';
import { loadDump, validateDump } from './dump';
import { loadEmpty } from './empty';
import { loadSql, validateSql } from './sql';
import { cancelled, failed, invalid } from './tools';
import { loadUrl, validateUrl } from './url';

export interface TargetDatabase { host: string; port: number; user: string; password: string; database: string }

export interface SourceContext {
  target: TargetDatabase;
  /** Directories to search for pg_dump / pg_restore before PATH (from engine settings). */
  pgBinDirs: string[];
  progress(message: string, percentage?: number): void;
  /** Aborted when the client cancels; stop work and throw EngineError('Cancelled', ...). */
  signal: AbortSignal;
}

/** Load the source into ctx.target. Throws EngineError: SourceFailed, Cancelled or InvalidArgument. */
export async function loadSource(spec: SourceSpec, ctx: SourceContext): Promise<void> {
  await validateSource(spec); // again: files can vanish between the request and the build
  if (ctx.signal.aborted) throw cancelled();
  try {
    await load(spec, ctx);
  } catch (err) {
    if (ctx.signal.aborted) throw cancelled();
    if (err instanceof EngineError) throw err;
    throw failed(`loading ${describeSource(spec)} failed: ${hideSecrets((err as Error)?.message ?? String(err))}. ` +
      'Check the source and run the command again.');
  }
}

function load(spec: SourceSpec, ctx: SourceContext): Promise<void> {
  switch (spec.kind) {
    case 'empty': return loadEmpty();
    case 'sql': return loadSql(spec.files, ctx);
    case 'dump': return loadDump(spec.file, ctx);
    case 'url': return loadUrl(spec.url, ctx);
    case 'command': return loadCommand(spec.command, spec.cwd, ctx);
  }
}

/** Check a spec before any work starts (files exist and are readable, URL parses as postgres://, command non-empty). Throws EngineError('InvalidArgument', ...). */
export async function validateSource(spec: SourceSpec): Promise<void> {
  // Specs arrive as JSON, so check the shape too, not only what the types promise.
  const s = (spec ?? {}) as Partial<Record<string, unknown>>;
  switch (s.kind) {
    case 'empty': return;
    case 'sql': return validateSql(s.files);
    case 'dump': return validateDump(s.file);
    case 'url': return validateUrl(s.url);
    case 'command': return validateCommand(s.command, s.cwd);
    default: throw invalid(`unknown source kind "${String(s.kind)}": use empty, sql, dump, url or command.`);
  }
}
