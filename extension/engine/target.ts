import * as path from 'path';
import { looksLikeEngineUrl, normalizeEngineUrl } from '../../server/common/address';

/**
 * Which engine the `slipstream.engine` setting names. A home directory means a
 * local engine reached over its Unix socket (and started when none answers); a
 * tcp:// or tls:// URL means a team engine, whose token lives in SecretStorage.
 */
export type EngineTarget =
  | { kind: 'local'; home: string }
  | { kind: 'remote'; url: string };

export function engineTarget(setting: string | undefined, homedir: string): EngineTarget {
  const value = (setting ?? '').trim();
  if (looksLikeEngineUrl(value)) return { kind: 'remote', url: normalizeEngineUrl(value) };
  if (value === '') return { kind: 'local', home: path.join(homedir, '.slipstream') };
  if (value === '~') return { kind: 'local', home: homedir };
  if (value.startsWith('~/')) return { kind: 'local', home: path.join(homedir, value.slice(2)) };
  return { kind: 'local', home: path.resolve(homedir, value) };
}

export function describeTarget(target: EngineTarget): string {
  return target.kind === 'local' ? `local engine at ${target.home}` : `team engine at ${target.url}`;
}

/** What bookmark links call an engine: a team engine's URL, a local engine's stable id. */
export function engineRef(target: EngineTarget, engineId: string | undefined): string | undefined {
  return target.kind === 'remote' ? target.url : engineId;
}

export function sameTarget(a: EngineTarget, b: EngineTarget): boolean {
  return a.kind === 'remote' ? b.kind === 'remote' && a.url === b.url : b.kind === 'local' && a.home === b.home;
}
