/**
 * The engine client shared by the CLI, the VS Code extension and the tests.
 * It connects to the engine's Unix socket, speaks the typed protocol, and turns
 * every failure into a `ClientError` with a stable code. It never prints.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as tls from 'tls';
import { randomUUID } from 'crypto';
import {
  CancellationReceiverStrategy,
  CancellationSenderStrategy,
  CancellationTokenSource,
  ConnectionError,
  ErrorCodes as RpcErrorCodes,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
  createMessageConnection,
  type CancellationId,
  type Disposable,
  type MessageConnection,
  type RequestParam,
  type RequestType,
} from 'vscode-jsonrpc/node';
import {
  AuthenticateRequest,
  ChangedNotification,
  ErrorCodes,
  isErrorCodeName,
  workDoneProgress,
  type ChangedParams,
  type ErrorCodeName,
  type ErrorData,
  type WorkDoneProgress,
} from '../protocol';
import { formatEngineUrl, formatHostPort, isParseError, parseEngineUrl, type EngineUrl } from './address';
import { homeFiles } from './home';

/** Codes that only a client can produce: they describe the link, not an engine answer.
 *  They live here, not in protocol.ts, because the engine never sends them. */
export const ClientErrorCodes = ['EngineNotRunning', 'ConnectionFailed', 'ConnectionLost'] as const;
export type ClientErrorCodeName = (typeof ClientErrorCodes)[number];
export type ClientErrorCode = ErrorCodeName | ClientErrorCodeName;

export class ClientError extends Error {
  constructor(readonly code: ClientErrorCode, message: string) {
    super(message);
    this.name = 'ClientError';
  }
}

/**
 * Did a request fail with one of `codes`? The one guard the CLI and the extension
 * use on what they catch (`unknown`): every failure of the client is a ClientError
 * with a stable code, and anything else (a bug, a thrown string) has none.
 * Typed, so a misspelt code is a compile error, not a branch never taken.
 */
export function hasErrorCode<C extends ClientErrorCode>(err: unknown, ...codes: readonly C[]): err is ClientError & { readonly code: C } {
  return err instanceof ClientError && (codes as readonly ClientErrorCode[]).includes(err.code);
}

export interface RequestOptions {
  /** When given, the request carries a fresh workDoneToken and every `$/progress` for it lands here. */
  onProgress?: (progress: WorkDoneProgress) => void;
  /** Aborting sends `$/cancelRequest` and rejects at once with code 'Cancelled'. */
  signal?: AbortSignal;
}

export interface EngineClient {
  readonly home: string;
  request<P extends object, R>(type: RequestType<P, R, ErrorData>, params: P, options?: RequestOptions): Promise<R>;
  onChanged(handler: (params: ChangedParams) => void): Disposable;
  /** Fires once when the engine goes away (or `close()` is called). */
  onClose(handler: () => void): Disposable;
  /** Flushes pending cancellations, then closes the socket. Never rejects. */
  close(): Promise<void>;
}

export function engineNotRunningMessage(home: string): string {
  return `no engine is running for ${home}; start one with: slipstream engine start`;
}

/** Where the engine is: the local one of `home`, or a team engine at `engine`
 *  (tcp://HOST:PORT or tls://HOST:PORT) reached with `token`. */
export interface ConnectOptions {
  home: string;
  engine?: string;
  token?: string;
  /** A CA certificate file for a tls:// engine whose certificate is self-signed. */
  tlsCa?: string;
}

/** How long a team engine has to answer engine/authenticate (or a tls:// one to finish its
 *  handshake) before the client gives up and says what may be wrong. */
export const ANSWER_TIMEOUT_MS = 10_000;

export async function connectEngine(opts: ConnectOptions): Promise<EngineClient> {
  if (!opts.engine) return new SocketEngineClient(await openSocket(opts.home), opts.home, homeFiles(opts.home).log);
  const url = parseEngineUrl(opts.engine);
  if (isParseError(url)) throw new ClientError('ConnectionFailed', url.error);
  if (!opts.token) {
    throw new ClientError('Unauthorized', `the engine at ${opts.engine} needs a token: pass --token T or set SLIPSTREAM_TOKEN.`);
  }
  const socket = await openTcp(url, opts.tlsCa);
  const firstBytes = url.secure ? undefined : watchFirstBytes(socket);
  const client = new SocketEngineClient(socket, opts.home, opts.engine);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.request(AuthenticateRequest.type, { token: opts.token }),
      // A TLS record where a JSON-RPC answer belongs never parses: the request would wait for ever.
      ...(firstBytes ? [firstBytes.tlsRecord.then(() => { throw speaksTls(url); })] : []),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(noAnswer(url)), ANSWER_TIMEOUT_MS); }),
    ]);
  } catch (err) {
    await client.close();
    throw firstBytes && isTlsSuspect(err, firstBytes.first()) ? speaksTls(url) : err;
  } finally {
    clearTimeout(timer);
  }
  return client;
}

/** What the server sent first on a plain TCP connection (undefined: nothing yet), and a
 *  promise that resolves (only) when that is a TLS record. */
function watchFirstBytes(socket: net.Socket): { first: () => Buffer | undefined; tlsRecord: Promise<void> } {
  let first: Buffer | undefined;
  let seen: () => void = () => undefined;
  const tlsRecord = new Promise<void>((resolve) => { seen = resolve; });
  socket.prependOnceListener('data', (chunk: Buffer) => {
    first = chunk;
    if (isTlsRecord(chunk)) seen();
  });
  return { first: () => first, tlsRecord };
}

/** A TLS record starts with its content type (0x14-0x17: change cipher spec, alert,
 *  handshake, application data) and the major version 3. No JSON-RPC header does. */
function isTlsRecord(first: Buffer | undefined): boolean {
  return first !== undefined && first.length >= 2 && first[0] >= 0x14 && first[0] <= 0x17 && first[1] === 0x03;
}

/**
 * A plain client on a TLS port: the TLS server takes our JSON-RPC for a broken
 * handshake and hangs up without a byte (Node), or answers with a TLS record
 * (an alert, from other servers and proxies). An engine always answers
 * engine/authenticate, so losing the connection before any byte, or getting a
 * TLS record, means TLS.
 */
function isTlsSuspect(err: unknown, first: Buffer | undefined): boolean {
  return isTlsRecord(first) || (first === undefined && hasErrorCode(err, 'ConnectionLost'));
}

function speaksTls(url: EngineUrl): ClientError {
  const hostPort = formatHostPort(url);
  return new ClientError('ConnectionFailed',
    `the engine at tcp://${hostPort} seems to speak TLS: use tls://${hostPort} (and --tls-ca FILE if its certificate is self-signed).`);
}

/** Connected, but no answer: a server that waits for something else (a TLS server that
 *  keeps the socket open, another protocol), or an engine too busy to answer. */
function noAnswer(url: EngineUrl): ClientError {
  const hostPort = formatHostPort(url);
  const seconds = ANSWER_TIMEOUT_MS / 1000;
  return new ClientError('ConnectionFailed', url.secure
    ? `the engine at tls://${hostPort} did not answer within ${seconds} s. Check that a Slipstream engine listens on ${hostPort} (engine status on its host), then try again.`
    : `the engine at tcp://${hostPort} did not answer within ${seconds} s. If it speaks TLS, use tls://${hostPort} (and --tls-ca FILE if its certificate is self-signed); `
      + `otherwise check that a Slipstream engine listens on ${hostPort} (engine status on its host).`);
}

const HANDSHAKE_TIMEOUT = 'SLIPSTREAM_TLS_HANDSHAKE_TIMEOUT';

function openTcp(url: EngineUrl, tlsCa?: string): Promise<net.Socket> {
  const where = formatEngineUrl(url);
  return new Promise((resolve, reject) => {
    const socket = url.secure
      ? tls.connect({ host: url.host, port: url.port, servername: net.isIP(url.host) ? undefined : url.host,
        ...(tlsCa ? { ca: fs.readFileSync(tlsCa) } : {}) })
      : net.createConnection({ host: url.host, port: url.port });
    // A plain engine never answers a TLS client's hello: it waits for a JSON-RPC header.
    const handshake = url.secure ? setTimeout(() => socket.destroy(Object.assign(
      new Error(`no handshake within ${ANSWER_TIMEOUT_MS / 1000} s`), { code: HANDSHAKE_TIMEOUT })), ANSWER_TIMEOUT_MS) : undefined;
    socket.once(url.secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(handshake);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(handshake);
      socket.destroy();
      const refused = err.code === 'ECONNREFUSED';
      if (url.secure && (err.code === 'ECONNRESET' || err.code === HANDSHAKE_TIMEOUT || /wrong version number|packet length too long/.test(err.message))) {
        reject(new ClientError('ConnectionFailed', `the engine at ${where} did not complete a TLS handshake (${err.message}). `
          + `If it is a plain team engine (started without --tls-cert), use tcp://${formatHostPort(url)}.`));
        return;
      }
      reject(new ClientError(refused ? 'EngineNotRunning' : 'ConnectionFailed',
        refused ? `no engine answers at ${where}` : `cannot connect to the engine at ${where}: ${err.message}`));
    });
  });
}

function openSocket(home: string): Promise<net.Socket> {
  const path = homeFiles(home).socket;
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(connectError(err, home, path));
    });
  });
}

function connectError(err: NodeJS.ErrnoException, home: string, path: string): ClientError {
  // ENOENT: no socket file; ECONNREFUSED: a stale socket left by an engine that died.
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new ClientError('EngineNotRunning', engineNotRunningMessage(home));
  }
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new ClientError('ConnectionFailed', `cannot connect to the engine at ${path}: permission denied (the socket belongs to another user)`);
  }
  return new ClientError('ConnectionFailed', `cannot connect to the engine at ${path}: ${err.message}`);
}

class SocketEngineClient implements EngineClient {
  private readonly connection: MessageConnection;
  private readonly changedHandlers = new Set<(params: ChangedParams) => void>();
  private readonly closeHandlers = new Set<() => void>();
  /** Cancellation notices still being written; close() waits for them so Ctrl-C reaches the engine. */
  private readonly pendingCancels = new Set<Promise<void>>();
  private closed = false;

  /** `where` names the engine in "connection lost" messages: its log, or its URL. */
  constructor(socket: net.Socket, readonly home: string, private readonly where: string) {
    this.connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket), undefined, {
      cancellationStrategy: { receiver: CancellationReceiverStrategy.Message, sender: this.trackingCancelSender() },
    });
    // One registration fans out to many handlers: vscode-jsonrpc keeps only one handler per method.
    this.connection.onNotification(ChangedNotification.type, (params) => {
      for (const handler of [...this.changedHandlers]) handler(params);
    });
    // vscode-jsonrpc leaves pending requests hanging when the peer closes; disposing rejects them.
    this.connection.onClose(() => this.markClosed());
    this.connection.onError(() => undefined);
    this.connection.listen();
  }

  async request<P extends object, R>(type: RequestType<P, R, ErrorData>, params: P, options: RequestOptions = {}): Promise<R> {
    const { signal, onProgress } = options;
    if (signal?.aborted) throw cancelledError();
    if (this.closed) throw connectionLost(this.where);
    const cleanup: Disposable[] = [];
    let sent: P = params;
    if (onProgress) {
      const workDoneToken = randomUUID();
      cleanup.push(this.connection.onProgress(workDoneProgress, workDoneToken, onProgress));
      sent = { ...params, workDoneToken };
    }
    try {
      return await this.sendCancellable(type, sent, signal);
    } catch (err) {
      throw toClientError(err, this.where);
    } finally {
      for (const d of cleanup) d.dispose();
    }
  }

  onChanged(handler: (params: ChangedParams) => void): Disposable {
    this.changedHandlers.add(handler);
    return { dispose: () => this.changedHandlers.delete(handler) };
  }

  onClose(handler: () => void): Disposable {
    this.closeHandlers.add(handler);
    return { dispose: () => this.closeHandlers.delete(handler) };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pendingCancels]);
    this.markClosed();
  }

  /** Settles with the engine's answer, or rejects as soon as the signal aborts
   *  (the engine is told through `$/cancelRequest` and rolls back on its own). */
  private sendCancellable<P, R>(type: RequestType<P, R, ErrorData>, params: P, signal?: AbortSignal): Promise<R> {
    const source = new CancellationTokenSource();
    // RequestParam<P> is a conditional type TS cannot resolve for a generic P; P is what it allows.
    const answer = this.connection.sendRequest(type, params as RequestParam<P>, source.token);
    if (!signal) return answer.finally(() => source.dispose());
    return new Promise<R>((resolve, reject) => {
      const onAbort = () => {
        source.cancel();
        reject(cancelledError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      answer.then(resolve, reject).finally(() => {
        signal.removeEventListener('abort', onAbort);
        source.dispose();
      });
    });
  }

  private trackingCancelSender(): CancellationSenderStrategy {
    return {
      sendCancellation: (conn: MessageConnection, id: CancellationId) => {
        const written = CancellationSenderStrategy.Message.sendCancellation(conn, id);
        const settled = written.catch(() => undefined);
        this.pendingCancels.add(settled);
        void settled.then(() => this.pendingCancels.delete(settled));
        return written;
      },
      cleanup: () => undefined,
    };
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.connection.dispose(); // rejects pending requests and destroys the socket
    for (const handler of [...this.closeHandlers]) handler();
    this.closeHandlers.clear();
    this.changedHandlers.clear();
  }
}

function cancelledError(): ClientError {
  return new ClientError('Cancelled', 'cancelled');
}

function connectionLost(where: string): ClientError {
  return new ClientError('ConnectionLost', `the connection to the engine was lost (it may have stopped; see ${where})`);
}

const codeByNumber = new Map<number, ErrorCodeName>(
  (Object.keys(ErrorCodes) as ErrorCodeName[]).map((name) => [ErrorCodes[name], name]),
);

/** JSON-RPC codes vscode-jsonrpc uses when the socket, not the engine, failed. */
const linkFailures = new Set<number>([
  RpcErrorCodes.PendingResponseRejected,
  RpcErrorCodes.ConnectionInactive,
  RpcErrorCodes.MessageWriteError,
  RpcErrorCodes.MessageReadError,
]);

/** The engine puts the stable name in `data.code`; the number is the fallback. */
export function toClientError(err: unknown, where: string): ClientError {
  if (err instanceof ClientError) return err;
  if (err instanceof ConnectionError) return connectionLost(where);
  if (err instanceof ResponseError) {
    const data: unknown = err.data;
    const named = typeof data === 'object' && data !== null ? (data as { code?: unknown }).code : undefined;
    if (isErrorCodeName(named)) return new ClientError(named, err.message);
    const byNumber = codeByNumber.get(err.code);
    if (byNumber) return new ClientError(byNumber, err.message);
    if (linkFailures.has(err.code)) return connectionLost(where);
    if (err.code === RpcErrorCodes.InvalidParams) return new ClientError('InvalidArgument', err.message);
    return new ClientError('Internal', err.message);
  }
  return new ClientError('Internal', err instanceof Error ? err.message : String(err));
}
