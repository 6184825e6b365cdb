/**
 * The extension's one link to the engine. It connects to the engine the
 * settings name, starts a local one when none answers (first connect only: an
 * engine someone stopped on purpose stays stopped until the user asks), and
 * after the engine goes away keeps trying quietly, so an engine restart is
 * picked up by itself. Every request and notification is logged, which is
 * what the output channel shows. No `vscode` here: tests drive it against a
 * real engine.
 */
import type { RequestType } from 'vscode-jsonrpc';
import { ClientError, connectEngine, hasErrorCode, type EngineClient, type RequestOptions } from '../../server/common/client';
import {
  EngineStatusRequest,
  PROTOCOL_VERSION,
  type ChangedParams,
  type EngineStatus,
  type ErrorData,
} from '../../server/protocol';
import { Disposable, toDisposable } from '../util/disposable';
import { Emitter } from '../util/event';
import { describeTarget, type EngineTarget } from './target';

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'starting' }
  | { kind: 'connected'; status: EngineStatus }
  | { kind: 'disconnected'; reason: string };

/** What commands and views need from the engine: requests that fail with a ClientError. */
export interface Requester {
  request<P extends object, R>(type: RequestType<P, R, ErrorData>, params: P, options?: RequestOptions): Promise<R>;
}

export interface ConnectionOptions {
  target: EngineTarget;
  /** Starts a local engine; when absent, the connection never starts one. */
  start?: (home: string) => Promise<unknown>;
  log?: (line: string) => void;
  /** The token of a team engine (VS Code's SecretStorage in the extension); undefined when none is stored. */
  token?: (url: string) => Promise<string | undefined>;
  /** A CA certificate file for a tls:// engine with a self-signed certificate. */
  tlsCa?: string;
  /** Delays between reconnect attempts after the engine went away; the last one repeats. */
  retryMs?: number[];
}

export class EngineConnection extends Disposable implements Requester {
  private client: EngineClient | undefined;
  private current: ConnectionState = { kind: 'disconnected', reason: 'not connected yet' };
  private retryTimer: NodeJS.Timeout | undefined;
  private retryIndex = 0;
  private connecting: Promise<boolean> | undefined;
  /** True while the background retry loop probes: those probes must not flicker the state. */
  private retrying = false;
  /** Set when the engine refused our token: retrying cannot help until the token or the target changes. */
  private refused = false;
  private currentTarget: EngineTarget;
  private readonly stateEmitter = this.register(new Emitter<ConnectionState>());
  private readonly changedEmitter = this.register(new Emitter<ChangedParams>());

  /** Fires on every state change; `connected` also after a reconnect, so views reload. */
  readonly onDidChangeState = this.stateEmitter.event;
  /** The engine's change notifications, across reconnects. */
  readonly onChanged = this.changedEmitter.event;

  constructor(private readonly options: ConnectionOptions) {
    super();
    this.currentTarget = options.target;
    this.register(toDisposable(() => this.stopRetrying()));
    this.register(toDisposable(() => { void this.client?.close(); this.client = undefined; }));
  }

  get state(): ConnectionState {
    return this.current;
  }

  get target(): EngineTarget {
    return this.currentTarget;
  }

  /**
   * Points this connection at another engine (or the same one with a new token):
   * closes the current link, then connects. Views reload from the state changes.
   */
  async retarget(target: EngineTarget): Promise<boolean> {
    this.stopRetrying();
    await this.connecting?.catch(() => undefined);
    const old = this.client;
    this.client = undefined;
    this.currentTarget = target;
    this.refused = false;
    if (old) await old.close();
    this.log(`now using the ${describeTarget(target)}`);
    return this.reconnect({ allowStart: target.kind === 'local' });
  }

  /** The engine's status while connected (its user, engine id, driver). */
  get status(): EngineStatus | undefined {
    return this.current.kind === 'connected' ? this.current.status : undefined;
  }

  /** Connects; with `allowStart`, starts a local engine when none answers. Resolves to whether it is connected. */
  connect(opts: { allowStart?: boolean } = {}): Promise<boolean> {
    if (this.client) return Promise.resolve(true);
    this.connecting ??= this.doConnect(opts.allowStart ?? false).finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  async request<P extends object, R>(type: RequestType<P, R, ErrorData>, params: P, options?: RequestOptions): Promise<R> {
    const client = this.client ?? (await this.connect().then(() => this.client));
    if (!client) throw new ClientError('EngineNotRunning', this.downMessage());
    const started = Date.now();
    this.log(`→ ${type.method} ${JSON.stringify(redact(params))}`);
    try {
      const result = await client.request(type, params, options);
      this.log(`← ${type.method} ok (${Date.now() - started} ms)`);
      return result;
    } catch (err) {
      const e = err instanceof ClientError ? err : new ClientError('Internal', err instanceof Error ? err.message : String(err));
      this.log(`← ${type.method} failed (${Date.now() - started} ms): ${e.code}: ${e.message}`);
      throw e;
    }
  }

  private downMessage(): string {
    const reason = this.current.kind === 'disconnected' ? this.current.reason : 'not connected';
    return `Slipstream is not connected to its engine (${reason}). Use "Slipstream: Start Engine" or check the Slipstream output.`;
  }

  private async doConnect(allowStart: boolean): Promise<boolean> {
    const target = this.currentTarget;
    if (!this.retrying) this.setState({ kind: 'connecting' });
    if (target.kind === 'remote') return this.connectRemote(target.url);
    try {
      await this.attach(await connectEngine({ home: target.home }));
      return true;
    } catch (err) {
      const notRunning = hasErrorCode(err, 'EngineNotRunning');
      if (notRunning && allowStart && this.options.start) return this.startAndAttach(target.home);
      if (!this.retrying) this.setState({ kind: 'disconnected', reason: errorText(err) });
      return false;
    }
  }

  private async connectRemote(url: string): Promise<boolean> {
    const token = await this.options.token?.(url);
    if (!token) {
      this.refused = true;
      this.setState({ kind: 'disconnected', reason: `no token for the team engine at ${url}: run "Slipstream: Set Engine Token…"` });
      return false;
    }
    try {
      const client = await connectEngine({ home: '', engine: url, token, tlsCa: this.options.tlsCa || undefined });
      if (this.currentTarget.kind !== 'remote' || this.currentTarget.url !== url) {
        await client.close();
        return false;
      }
      await this.attach(client);
      return true;
    } catch (err) {
      this.refused = hasErrorCode(err, 'Unauthorized', 'Forbidden');
      const reason = this.refused
        ? `the team engine at ${url} refused the token (${errorText(err)}); run "Slipstream: Set Engine Token…"`
        : errorText(err);
      if (!this.retrying || this.refused) this.setState({ kind: 'disconnected', reason });
      return false;
    }
  }

  private async startAndAttach(home: string): Promise<boolean> {
    this.setState({ kind: 'starting' });
    this.log(`no engine answers for ${home}; starting one`);
    try {
      await this.options.start!(home);
      await this.attach(await connectEngine({ home }));
      return true;
    } catch (err) {
      // Another window may have won the race to start it: its engine is as good as ours.
      try {
        await this.attach(await connectEngine({ home }));
        return true;
      } catch {
        this.setState({ kind: 'disconnected', reason: errorText(err) });
        return false;
      }
    }
  }

  private async attach(client: EngineClient): Promise<void> {
    let status: EngineStatus;
    try {
      status = await client.request(EngineStatusRequest.type, {});
    } catch (err) {
      await client.close();
      throw err;
    }
    if (this.isDisposed) {
      await client.close();
      return;
    }
    if (status.protocol !== PROTOCOL_VERSION) {
      this.log(`warning: the engine speaks protocol ${status.protocol}, this extension ${PROTOCOL_VERSION}`);
    }
    this.client = client;
    this.stopRetrying();
    client.onChanged((params) => {
      this.log(`⇠ changed ${params.what}${params.container ? ` in ${params.container}` : ''}${params.event ? `: ${params.event.kind} on ${params.event.branch}` : ''}`);
      this.changedEmitter.fire(params);
    });
    client.onClose(() => this.lost(client));
    this.log(`connected to the ${describeTarget(this.currentTarget)} (engine ${status.engineId}, pid ${status.pid}, ${status.driver} driver, user ${status.user})`);
    this.setState({ kind: 'connected', status });
  }

  private lost(client: EngineClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    if (this.isDisposed) return;
    this.log('the engine connection closed; reconnecting when it answers again');
    this.setState({ kind: 'disconnected', reason: 'the engine stopped' });
    this.retryIndex = 0;
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.isDisposed || this.retryTimer) return;
    const delays = this.options.retryMs ?? [250, 500, 1000, 2000];
    const ms = delays[Math.min(this.retryIndex++, delays.length - 1)];
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retrying = true;
      void this.connect().then((ok) => {
        this.retrying = false;
        if (!ok && !this.refused) this.scheduleRetry();
      });
    }, ms);
    this.retryTimer.unref?.();
  }

  /** Connect now (starting a local engine when none answers), instead of waiting for the next retry. */
  async reconnect(opts: { allowStart?: boolean } = { allowStart: true }): Promise<boolean> {
    this.stopRetrying();
    const ok = await this.connect(opts);
    if (!ok && !this.refused) this.scheduleRetry();
    return ok;
  }

  private stopRetrying(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private setState(state: ConnectionState): void {
    const same = state.kind === this.current.kind && state.kind !== 'connected'
      && (state.kind !== 'disconnected' || (this.current.kind === 'disconnected' && this.current.reason === state.reason));
    this.current = state;
    if (!same) this.stateEmitter.fire(state);
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Params are logged; nothing secret is sent today, but tokens and passwords must never reach a log. */
function redact(params: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = /password|token|secret/i.test(k) && k !== 'workDoneToken' ? '***' : v;
  return out;
}
