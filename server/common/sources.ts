/**
 * How a template's source is shown: in the engine's messages and log, the CLI's
 * output and table, the extension's tooltip. A url or command source may carry
 * a password, so every description goes through hideSecrets (redact.ts).
 *
 * The engine, the CLI and the extension each described sources their own way,
 * and only the engine masked a command's secrets; the CLI and the extension
 * relied on the engine having masked the spec first, with their own masks on
 * top. Now there is one sentence form and one short form, both masked here.
 */
import * as path from 'path';
import type { SourceSpec } from '../protocol';
import { hideSecrets } from './redact';

/** "PostgreSQL database postgres://app:****@db/prod": for messages, logs and tooltips. */
export function describeSource(spec: SourceSpec): string {
  switch (spec.kind) {
    case 'empty': return 'an empty database';
    case 'sql': return `SQL file${spec.files.length === 1 ? '' : 's'} ${spec.files.join(', ')}`;
    case 'dump': return `pg_dump file ${spec.file}`;
    case 'url': return `PostgreSQL database ${hideSecrets(spec.url)}`;
    case 'command': return `command \`${hideSecrets(spec.command)}\` in ${spec.cwd}`;
  }
}

/** "sql a.sql b.sql": one short cell for a table. */
export function sourceSummary(spec: SourceSpec): string {
  switch (spec.kind) {
    case 'empty': return 'empty';
    case 'sql': return `sql ${spec.files.map((f) => path.basename(f)).join(' ')}`;
    case 'dump': return `dump ${path.basename(spec.file)}`;
    case 'url': return `url ${hideSecrets(spec.url)}`;
    case 'command': return `command ${hideSecrets(spec.command)}`;
  }
}

/** The spec as the engine hands it to clients: the same shape, secrets masked. The
 *  engine keeps the real spec, because a template refresh must reach the source again. */
export function shownSource(spec: SourceSpec): SourceSpec {
  switch (spec.kind) {
    case 'url': return { ...spec, url: hideSecrets(spec.url) };
    case 'command': return { ...spec, command: hideSecrets(spec.command) };
    default: return spec;
  }
}
