import * as net from 'net';
import type { Engine } from './engine';
import { EngineError } from './errors';

/** Container ports come from this range unless the user names one. */
export const PORT_RANGE = { first: 54320, last: 54999 };

export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Any free port, for a short-lived template build. */
export function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A port for a new container: the one asked for, if free and not another container's,
 *  else the first free one in the range. It stays the container's for life. */
export async function allocatePort(engine: Engine, wanted?: number): Promise<number> {
  const taken = new Set(engine.store.all(engine.store.containers).map((c) => c.port));
  if (wanted !== undefined) {
    if (taken.has(wanted) || !(await portFree(wanted))) {
      throw new EngineError('PortInUse', `port ${wanted} is already in use. Pick another with --port, or leave it out to get a free one.`);
    }
    return wanted;
  }
  for (let port = PORT_RANGE.first; port <= PORT_RANGE.last; port++) {
    if (!taken.has(port) && (await portFree(port))) return port;
  }
  throw new EngineError('PortInUse', `no free port between ${PORT_RANGE.first} and ${PORT_RANGE.last}. Delete unused containers or pass --port.`);
}
