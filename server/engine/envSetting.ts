import { EngineError } from './errors';

/**
 * A whole-number setting from the engine's environment: `fallback` when unset or blank,
 * else at least `min`; anything else is refused with what the setting is for.
 */
export function wholeNumberSetting(name: string, raw: string | undefined,
  how: { fallback: number; min: number; kind: string; what: string }): number {
  if (raw === undefined || raw.trim() === '') return how.fallback;
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < how.min) {
    throw new EngineError('InvalidArgument', `${name} must be ${how.kind} (${how.what}), not "${raw}". Unset it for the default, ${how.fallback}.`);
  }
  return n;
}

/** One of a few words, from the engine's environment; unset or empty gives undefined (the default). */
export function choiceSetting<T extends string>(name: string, raw: string | undefined, choices: readonly T[], what: string): T | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = raw.trim() as T;
  if (!choices.includes(v)) {
    throw new EngineError('InvalidArgument', `${name} must be ${choices.join(', ')} (${what}), not "${raw}". Unset it for the default.`);
  }
  return v;
}
