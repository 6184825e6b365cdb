/**
 * slipstream.json at the repository root: the template (and its source) and
 * the container this repository works with, so every teammate gets the same
 * data setup with one click.
 *
 *   {
 *     "template": { "name": "employees", "source": { "kind": "sql", "files": ["db/schema.sql", "db/seed.sql"] } },
 *     "container": "employees-dev",
 *     "hooks": { "afterSwitch": ["docker compose restart app"] }
 *   }
 *
 * `template` may also be just a name (the template must then exist on the
 * engine). Relative paths in the source are relative to the file's folder; a
 * command source runs there, and so do hooks (hooks.ts). The engine validates
 * the source again; hooks never reach it.
 *
 * One parser for the extension and the CLI, so the file means the same to both;
 * a wrong part makes the whole file refused, naming the file and the key.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { SourceSpec } from '../protocol';
import { parseHooks, type Hooks } from './hooks';

export const WORKSPACE_CONFIG_FILE = 'slipstream.json';

export interface WorkspaceConfig {
  template: string;
  source?: SourceSpec;
  container: string;
  hooks: Hooks;
}

export type ParseResult = { ok: true; config: WorkspaceConfig } | { ok: false; message: string };

/** `label` names the file in messages (the CLI gives its path). */
export function parseWorkspaceConfig(text: string, folder: string, label = WORKSPACE_CONFIG_FILE): ParseResult {
  const fail = (why: string): ParseResult => ({ ok: false, message: `${label}: ${why}` });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`it is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(raw)) return fail('it must be a JSON object');
  let template: string;
  let source: SourceSpec | undefined;
  if (typeof raw.template === 'string') {
    template = raw.template;
  } else if (isObject(raw.template) && typeof raw.template.name === 'string') {
    template = raw.template.name;
    if (raw.template.source !== undefined) {
      const parsed = parseSource(raw.template.source, folder);
      if (typeof parsed === 'string') return fail(parsed);
      source = parsed;
    }
  } else {
    return fail('"template" must be a template name or { "name": …, "source": … }');
  }
  if (raw.container !== undefined && typeof raw.container !== 'string') return fail('"container" must be a string');
  const container = typeof raw.container === 'string' && raw.container.trim() ? raw.container : template;
  if (!template.trim()) return fail('"template" must not be empty');
  const hooks = parseHooks(raw.hooks);
  if ('error' in hooks) return fail(hooks.error);
  return { ok: true, config: { template, source, container, hooks } };
}

/**
 * The slipstream.json that applies to `dir`: the first one in it or a folder
 * above (as git finds .git), so the CLI finds the repository's file from any
 * folder inside it. The extension reads the one at its workspace folder's root.
 */
export function findWorkspaceConfig(dir: string): string | undefined {
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const file = path.join(at, WORKSPACE_CONFIG_FILE);
    if (fs.existsSync(file)) return file;
    if (path.dirname(at) === at) return undefined;
  }
}

/** Reads and parses the file `findWorkspaceConfig` found; the message names its path. */
export function readWorkspaceConfig(file: string): ParseResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, message: `${file}: cannot be read (${err instanceof Error ? err.message : String(err)})` };
  }
  return parseWorkspaceConfig(text, path.dirname(file), file);
}


function parseSource(raw: unknown, folder: string): SourceSpec | string {
  if (!isObject(raw) || typeof raw.kind !== 'string') return '"template.source" must be an object with a "kind"';
  const abs = (p: string) => path.resolve(folder, p);
  switch (raw.kind) {
    case 'empty':
      return { kind: 'empty' };
    case 'sql':
      if (!Array.isArray(raw.files) || raw.files.length === 0 || !raw.files.every((f) => typeof f === 'string')) {
        return 'a "sql" source needs "files": a non-empty list of paths';
      }
      return { kind: 'sql', files: (raw.files as string[]).map(abs) };
    case 'dump':
      return typeof raw.file === 'string' ? { kind: 'dump', file: abs(raw.file) } : 'a "dump" source needs "file"';
    case 'url':
      return typeof raw.url === 'string' ? { kind: 'url', url: raw.url } : 'a "url" source needs "url"';
    case 'command':
      if (typeof raw.command !== 'string') return 'a "command" source needs "command"';
      return { kind: 'command', command: raw.command, cwd: typeof raw.cwd === 'string' ? abs(raw.cwd) : folder };
    default:
      return `unknown source kind ${JSON.stringify(raw.kind)} (expected empty, sql, dump, url or command)`;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
