import { nameProblem, referenceProblem } from '../common/names';
import { EngineError } from './errors';

/**
 * Checks at the edge: every request's params are parsed here into typed
 * values, or refused with a clear error before anything changes. Code past
 * the parse trusts what it gets.
 */
export type Raw = Record<string, unknown>;

export function object(raw: unknown): Raw {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EngineError('InvalidArgument', 'params must be a JSON object.');
  }
  return raw as Raw;
}

export function str(o: Raw, key: string, max = 4096): string {
  const v = o[key];
  if (typeof v !== 'string') throw new EngineError('InvalidArgument', `"${key}" must be a string.`);
  if (v.length > max) throw new EngineError('InvalidArgument', `"${key}" is longer than ${max} characters.`);
  return v;
}

export function optStr(o: Raw, key: string, max = 4096): string | undefined {
  return o[key] === undefined || o[key] === null ? undefined : str(o, key, max);
}

export function optBool(o: Raw, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new EngineError('InvalidArgument', `"${key}" must be true or false.`);
  return v;
}

export function optInt(o: Raw, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new EngineError('InvalidArgument', `"${key}" must be a whole number from ${min} to ${max}.`);
  }
  return v;
}

export function optStrArray(o: Raw, key: string, maxItems = 64): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > maxItems || v.some((x) => typeof x !== 'string')) {
    throw new EngineError('InvalidArgument', `"${key}" must be a list of at most ${maxItems} strings.`);
  }
  return v as string[];
}

/** Names of templates, containers, branches, bookmarks, tags and users. Spaces are fine
 *  ("Bug 1234 data"); path-like, invisible and display-changing characters are not
 *  (the rules: server/common/names.ts). */
export function checkName(value: string, what: string): string {
  return refuse(value, what, nameProblem(value));
}

/** A name that refers to something that exists (or not): checked only as far as
 *  names always were, so that what an older engine stored can still be found. */
export function checkExistingName(value: string, what: string): string {
  return refuse(value, what, referenceProblem(value));
}

function refuse(value: string, what: string, bad: string | undefined): string {
  if (bad) throw new EngineError('InvalidName', `invalid ${what} name ${JSON.stringify(value)}: ${bad}.`);
  return value;
}

/** A name for something new: a container, branch, bookmark, template, tag or user. */
export function name(o: Raw, key: string, what: string): string {
  return checkName(str(o, key, 1024), what);
}

/** A name that refers to something that may exist. */
export function existingName(o: Raw, key: string, what: string): string {
  return checkExistingName(str(o, key, 1024), what);
}

/** A container as a request names it: NAME (the caller's own), or OWNER/NAME, which
 *  only admins may use to reach another user's container. */
export function containerRef(o: Raw, key: string): string {
  const value = str(o, key, 1024);
  const parts = value.split('/');
  if (parts.length === 2) return `${checkExistingName(parts[0], 'user')}/${checkExistingName(parts[1], 'container')}`;
  return checkExistingName(value, 'container');
}
