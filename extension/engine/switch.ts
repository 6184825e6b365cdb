/**
 * Connecting a window to another team engine: check first, then change.
 * Used by "Set Engine Token…" and by opening a link to a team engine. A wrong
 * address, a refused token or an engine that does not answer ends with a
 * clear error, and the setting, the stored token and the connection stay as
 * they were. No `vscode`.
 */
import { normalizeEngineUrl } from '../../server/common/address';
import { connectEngine, type EngineClient } from '../../server/common/client';
import { EngineStatusRequest, type EngineStatus } from '../../server/protocol';
import type { EngineConnection } from './connection';

export interface SwitchStore {
  /** Keeps the token (VS Code's SecretStorage). */
  saveToken(url: string, token: string): Promise<void>;
  /** Makes `slipstream.engine` name the engine, so the next window uses it too. */
  saveSetting(url: string): Promise<void>;
  tlsCa?: string;
}

export async function connectToTeamEngine(connection: EngineConnection, rawUrl: string, token: string, store: SwitchStore): Promise<EngineStatus> {
  const url = normalizeEngineUrl(rawUrl);
  let probe: EngineClient | undefined;
  let status: EngineStatus;
  try {
    probe = await connectEngine({ home: '', engine: url, token: token.trim(), tlsCa: store.tlsCa || undefined });
    status = await probe.request(EngineStatusRequest.type, {});
  } catch (err) {
    throw new Error(`Could not connect to the team engine at ${url}: ${err instanceof Error ? err.message : String(err)} Nothing was changed.`);
  } finally {
    await probe?.close();
  }
  await store.saveToken(url, token.trim());
  await store.saveSetting(url);
  if (!(await connection.retarget({ kind: 'remote', url }))) {
    const reason = connection.state.kind === 'disconnected' ? connection.state.reason : 'it did not answer';
    throw new Error(`The team engine at ${url} answered, then the connection failed: ${reason}`);
  }
  return status;
}
