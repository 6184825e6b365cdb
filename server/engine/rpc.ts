import * as fs from 'fs';
import * as net from 'net';
import {
  createMessageConnection, SocketMessageReader, SocketMessageWriter, type CancellationToken, type MessageConnection,
} from 'vscode-jsonrpc/node';
import { ChangedNotification, workDoneProgress, type WorkDoneProgress } from '../protocol';
import { log, type Caller, type Engine, type Progress } from './engine';
import { toResponseError, EngineError } from './errors';
import { operations } from './operations';

/**
 * JSON-RPC over the engine's Unix socket (0600). Every connection gets every
 * operation, progress through `$/progress` when the request carries a
 * workDoneToken, cancellation, and the change notifications.
 */
/** The listening socket plus everything it has going, so shutdown can be orderly:
 *  stop accepting, cancel what runs, wait for it, then drop the connections. */
export interface RpcServer {
  close(): Promise<void>;
}

export async function serveSocket(engine: Engine, socketPath: string, caller: Caller): Promise<RpcServer> {
  await fs.promises.rm(socketPath, { force: true }); // we hold the home's lock, so any socket here is stale
  const sockets = new Set<net.Socket>();
  const inflight = new Map<Promise<unknown>, AbortController>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    attach(engine, socket, caller, inflight);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The umask makes the socket 0600 from its first moment; chmod alone would leave a window.
    const old = process.umask(0o177);
    server.listen(socketPath, () => { process.umask(old); resolve(); });
  });
  await fs.promises.chmod(socketPath, 0o600);
  return {
    async close() {
      server.close();
      for (const controller of inflight.values()) controller.abort();
      await Promise.race([Promise.allSettled([...inflight.keys()]), delay(60_000)]);
      for (const socket of sockets) socket.destroy();
    },
  };
}

function attach(engine: Engine, socket: net.Socket, caller: Caller, inflight: Map<Promise<unknown>, AbortController>): MessageConnection {
  const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
  for (const op of operations) {
    conn.onRequest(op.method, async (params: unknown, token: CancellationToken) => {
      const controller = abortController(token);
      const progress = workDone(conn, params, op.method);
      const work = op.handle({ engine, caller, progress, signal: controller.signal }, params ?? {});
      inflight.set(work, controller);
      try {
        return await work;
      } catch (err) {
        if (!(err instanceof EngineError)) log(`${op.method} failed: ${(err as Error)?.stack ?? err}`);
        return toResponseError(err);
      } finally {
        inflight.delete(work);
        progress.end();
      }
    });
  }
  const unsubscribe = engine.onChanged((p) => void conn.sendNotification(ChangedNotification.type, p).catch(() => undefined));
  conn.onClose(() => unsubscribe());
  conn.onError(() => socket.destroy());
  socket.on('error', () => conn.dispose());
  socket.on('close', () => conn.dispose());
  conn.listen();
  return conn;
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
