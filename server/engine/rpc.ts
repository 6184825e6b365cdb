import * as fs from 'fs';
import * as net from 'net';
import * as tls from 'tls';
import type { Duplex } from 'stream';
import {
  createMessageConnection, StreamMessageReader, StreamMessageWriter, ResponseError,
  type CancellationToken, type MessageConnection,
} from 'vscode-jsonrpc/node';
import { ChangedNotification, ErrorCodes, workDoneProgress, type ChangedParams, type ErrorData, type WorkDoneProgress } from '../protocol';
import { log, type Caller, type Engine, type Progress, type Session } from './engine';
import { toResponseError, EngineError } from './errors';
import { FrameGuard } from './frameGuard';
import { operations } from './operations';
import { tokenHolder } from './users';
import type { Operation } from './operations/operation';

/** A TCP client that has not authenticated by then is disconnected. */
const AUTH_TIMEOUT_MS = 10_000;

/**
 * JSON-RPC for the engine's clients: the Unix socket (0600), whose clients are
 * the engine's owner, and in team mode TCP or TLS, whose clients must present a
 * token first. Every connection gets every operation, progress through
 * `$/progress` when the request carries a workDoneToken, cancellation, and the
 * change notifications. Shutdown is orderly: stop accepting, cancel what runs,
 * wait for it, then drop the connections.
 */
/** How long a stopping engine waits for running operations (tests shorten it). */
const STOP_GRACE_MS = Number(process.env.SLIPSTREAM_STOP_GRACE_MS) || 60_000;

export class RpcServer {
  private readonly servers: net.Server[] = [];
  private readonly streams = new Set<Duplex>();
  private readonly inflight = new Map<Promise<unknown>, AbortController>();

  constructor(private readonly engine: Engine) {}

  async listenUnix(socketPath: string, owner: Caller): Promise<void> {
    await fs.promises.rm(socketPath, { force: true }); // we hold the home's lock, so any socket here is stale
    const server = net.createServer((socket) => this.accept(socket, { caller: owner }, false));
    const old = process.umask(0o177); // 0600 from its first moment; chmod alone would leave a window
    this.servers.push(server);
    try {
      await listen(server, { path: socketPath });
    } finally {
      process.umask(old);
    }
    await fs.promises.chmod(socketPath, 0o600);
  }

  /** Team mode: TCP, or TLS when a certificate and key are given. Callers authenticate with a token. */
  async listenTcp(host: string, port: number, tlsFiles?: { cert: string; key: string }): Promise<net.AddressInfo> {
    const onConnection = (socket: net.Socket) => this.accept(socket, {}, true);
    const server = tlsFiles
      ? tls.createServer({ cert: fs.readFileSync(tlsFiles.cert), key: fs.readFileSync(tlsFiles.key) }, onConnection)
      : net.createServer(onConnection);
    this.servers.push(server);
    await listen(server, { host, port });
    return server.address() as net.AddressInfo;
  }

  /** Requests still being answered. */
  get busy(): number {
    return this.inflight.size;
  }

  /** Stop listening, cancel what runs and give it STOP_GRACE_MS to finish or roll back. */
  async close(): Promise<void> {
    for (const server of this.servers) server.close();
    for (const controller of this.inflight.values()) controller.abort();
    await Promise.race([Promise.allSettled([...this.inflight.keys()]), delay(STOP_GRACE_MS)]);
    // Answers are queued by the JSON-RPC writer a few ticks after their handler returns
    // (the shutdown request's own among them): give them a moment, then end() to flush.
    // A ref'd timer: with the servers closed it may be all that keeps the process alive
    // until the databases are stopped.
    await new Promise((r) => setTimeout(r, 100));
    for (const stream of this.streams) {
      stream.end();
      setTimeout(() => stream.destroy(), 1000).unref();
    }
  }

  private accept(stream: net.Socket, session: Session, needsToken: boolean): void {
    this.streams.add(stream);
    stream.on('close', () => this.streams.delete(stream));
    stream.on('error', () => stream.destroy());
    if (needsToken) {
      const timer = setTimeout(() => { if (!session.caller) stream.destroy(); }, AUTH_TIMEOUT_MS);
      stream.on('close', () => clearTimeout(timer));
    }
    const guard = new FrameGuard();
    guard.on('error', (err) => { log(`closing a connection: ${err.message}`); stream.destroy(); });
    stream.pipe(guard);
    const conn = createMessageConnection(new StreamMessageReader(guard), new StreamMessageWriter(stream));
    for (const op of operations) conn.onRequest(op.method, (...args: unknown[]) => this.dispatch(op, conn, session, needsToken, args));
    const unsubscribe = this.engine.onChanged((p, owner) => {
      // Checked afresh like a request: a stale session must not hear the next holder of its name.
      const visible = visibleChange(this.engine, this.currentCaller(session, needsToken), p, owner);
      if (visible) void conn.sendNotification(ChangedNotification.type, visible).catch(() => undefined);
    });
    conn.onClose(() => unsubscribe());
    conn.onError(() => stream.destroy()); // malformed JSON or framing: the connection goes
    stream.on('close', () => conn.dispose());
    conn.listen();
  }

  /** vscode-jsonrpc passes (token) when params are left out, (params, token) for an object,
   *  and (...items, token) for params by position, which no operation takes. */
  private dispatch(op: Operation, conn: MessageConnection, session: Session, byToken: boolean, args: unknown[]): Promise<unknown> {
    const token = args[args.length - 1] as CancellationToken;
    const params = args.length === 1 ? {} : args[0];
    if (args.length > 2 || Array.isArray(params)) {
      return Promise.resolve(new ResponseError<ErrorData>(ErrorCodes.InvalidArgument, 'params must be a JSON object with named fields.', { code: 'InvalidArgument' }));
    }
    return this.handle(op, conn, session, byToken, params, token);
  }

  private async handle(op: Operation, conn: MessageConnection, session: Session, byToken: boolean,
    params: unknown, token: CancellationToken): Promise<unknown> {
    const caller = this.currentCaller(session, byToken);
    if (!caller && !op.public) {
      return new ResponseError<ErrorData>(ErrorCodes.Unauthorized,
        'authenticate first: this engine needs a token (--token or SLIPSTREAM_TOKEN).', { code: 'Unauthorized' });
    }
    const controller = abortController(token);
    const progress = workDone(conn, params, op.method);
    const ctx = { engine: this.engine, caller: caller ?? { name: '', admin: false }, session, progress, signal: controller.signal };
    const work = op.handle(ctx, params ?? {});
    this.inflight.set(work, controller);
    try {
      return await work;
    } catch (err) {
      if (!(err instanceof EngineError)) log(`${op.method} failed: ${(err as Error)?.stack ?? err}`);
      return toResponseError(err);
    } finally {
      this.inflight.delete(work);
      progress.end();
    }
  }

  /** A token's user may be removed (and the name re-added) while connected: from
   *  then on the session is anonymous. Checked on every request, against the store. */
  private currentCaller(session: Session, byToken: boolean): Caller | undefined {
    if (!byToken) return session.caller;
    const user = session.caller && session.tokenHash
      ? tokenHolder(this.engine.store, session.caller.name, session.tokenHash)
      : undefined;
    session.caller = user && { name: user.name, admin: user.admin };
    if (!user) session.tokenHash = undefined;
    return session.caller;
  }
}

/** What one user may hear of a change: all of it for their own containers (or an admin);
 *  of someone else's, only that bookmarks changed (a shared one may be in their tree),
 *  never the container, user or bookmark names. */
function visibleChange(engine: Engine, caller: Caller | undefined, p: ChangedParams, owner?: string): ChangedParams | undefined {
  if (!caller) return undefined;
  if (owner === undefined || engine.canSee(caller, owner)) return p;
  return p.what === 'bookmark' ? { what: 'bookmark' } : undefined;
}

function listen(server: net.Server, where: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => { server.off('error', reject); resolve(); });
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

function abortController(token: CancellationToken): AbortController {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  token.onCancellationRequested(() => controller.abort());
  return controller;
}

/** LSP-style work-done progress: begin on the first report, end when the request ends. */
function workDone(conn: MessageConnection, params: unknown, method: string): Progress & { end(): void } {
  const token = (params as { workDoneToken?: unknown } | null)?.workDoneToken;
  if (typeof token !== 'string' || token.length > 128) return { report: () => undefined, end: () => undefined };
  const title = method.replace('/', ' ');
  let begun = false;
  const send = (value: WorkDoneProgress) => void conn.sendProgress(workDoneProgress, token, value).catch(() => undefined);
  return {
    report(message, percentage) {
      if (!begun) { begun = true; send({ kind: 'begin', title, message, percentage, cancellable: true }); return; }
      send({ kind: 'report', message, percentage });
    },
    end() {
      if (begun) send({ kind: 'end' });
    },
  };
}
