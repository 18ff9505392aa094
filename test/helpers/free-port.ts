import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('Could not read the port the OS picked.'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** The first port of the range the OS hands out to port-0 listeners and outgoing connections. */
function ephemeralStart(): number {
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    if (first > 0) return first;
  } catch {
    // not Linux: the IANA range macOS and Windows use
  }
  return 49152;
}

const STABLE_FIRST = 10_000;

/** Whether 127.0.0.1:`port` can be listened on now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct free ports below the OS's ephemeral range, for a server that stops and comes
 * back on the same ports (Azurite in the storage-outage tests): while it is down, no port the OS
 * hands out, to a listener on port 0 or to one of the run's many outgoing connections, can be
 * one of them. Picked at random, so two such servers rarely try the same one.
 */
export async function stablePorts(count: number): Promise<number[]> {
  const below = ephemeralStart();
  if (below - STABLE_FIRST < 1_000) return freePorts(count); // no room below it: as any other
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries >= 200) throw new Error(`No free port found between ${STABLE_FIRST} and ${below}.`);
    const port = STABLE_FIRST + Math.floor(Math.random() * (below - STABLE_FIRST));
    if (!ports.has(port) && (await canListen(port))) ports.add(port);
  }
  return [...ports];
}
