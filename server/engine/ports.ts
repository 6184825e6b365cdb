import * as net from 'net';
import type { Engine } from './engine';
import { EngineError } from './errors';
import { reserve } from './reservations';

/**
 * Container ports come from this range unless the user names one. It lies below
 * Linux's ephemeral range (32768–60999 by default): a database is down for a moment
 * at every switch or restore, and a port inside that range can meanwhile be taken
 * as the local end of any outgoing connection, so the restart fails to bind.
 */
export const PORT_RANGE = { first: 25432, last: 26431 };

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

/** Ports handed out to container creates that have not recorded their container yet. */
const claimed = new Set<number>();

/** The create recorded its container (whose record now holds the port), or gave up. */
export function unclaimPort(port: number): void {
  claimed.delete(port);
}

/** A port for a new container: the one asked for, if free and not another container's,
 *  else the first free one in the range. It stays the container's for life. */
export async function allocatePort(engine: Engine, wanted?: number): Promise<number> {
  const home = engine.config.home;
  const usable = async (port: number) => {
    const taken = claimed.has(port) || engine.store.allContainers().some((c) => c.port === port);
    if (taken || !(await portFree(port)) || claimed.has(port) || !reserve('ports', port, home)) return false;
    claimed.add(port); // checked again after the await: another create may have claimed it meanwhile
    return true;
  };
  if (wanted !== undefined) {
    if (!(await usable(wanted))) {
      throw new EngineError('PortInUse', `port ${wanted} is already in use. Pick another with --port, or leave it out to get a free one.`);
    }
    return wanted;
  }
  for (let port = PORT_RANGE.first; port <= PORT_RANGE.last; port++) {
    if (await usable(port)) return port;
  }
  throw new EngineError('PortInUse', `no free port between ${PORT_RANGE.first} and ${PORT_RANGE.last}. Delete unused containers or pass --port.`);
}
