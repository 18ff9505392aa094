/**
 * Guards for local tools (the local host and the Sendmode simulator) on a developer's laptop.
 *
 * - DNS rebinding: a web page can point its own name at 127.0.0.1 and then call a local server
 *   as "same origin". The browser still sends that name in `Host`, so only requests naming this
 *   machine (`localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`, any port) are answered. When the
 *   tool was bound to another interface on purpose, IP addresses and the bound name are accepted
 *   too (a rebinding attack needs a DNS name, never an IP).
 * - Cross-site requests: admin routes answer only same-origin pages and non-browser clients.
 */
import type http from 'node:http';
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `host`, `host:port`, `[v6]` or `[v6]:port`; anything else is refused unparsed. */
const HOST_HEADER = /^(?:([a-z0-9.-]+)|\[([0-9a-f:.]+)\])(?::\d{1,5})?$/i;

/** A name or address that can only mean this machine. */
export function isLoopback(name: string): boolean {
  const host = name
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** Whether a server bound to `bind` should answer a request with this `Host` header. */
export function hostAllowed(header: string | undefined, bind: string): boolean {
  // No Host at all is an HTTP/1.0 client, not a browser (browsers always send one).
  if (header === undefined) return true;
  const match = HOST_HEADER.exec(header.trim());
  if (!match) return false;
  const name = (match[1] ?? match[2] ?? '').toLowerCase();
  if (isLoopback(name)) return true;
  if (isLoopback(bind)) return false;
  return isIP(name) !== 0 || name === bind.toLowerCase();
}

/** A browser request from another page (or a sandboxed one), which admin routes refuse. */
export function isCrossSite(req: http.IncomingMessage): boolean {
  // `same-site` is another origin too (another port on localhost is the same site).
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== (req.headers.host ?? '').toLowerCase();
  } catch {
    return true; // `null` (sandboxed frames, file: pages) or garbage
  }
}

const REFUSED_HOST =
  'Refused: the Host header does not name this machine (localhost, 127.0.0.1 or [::1]). ' +
  'This local tool answers only requests for itself, so a web page cannot reach it through ' +
  'DNS rebinding.\n';

/** Answers 421 and returns true when the request's `Host` is not one this server answers. */
export function refuseForeignHost(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bind: string,
): boolean {
  if (hostAllowed(req.headers.host, bind)) return false;
  req.resume();
  res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(REFUSED_HOST);
  return true;
}

/** The stderr warning for a bind address other than loopback, or undefined for loopback. */
export function bindWarning(bind: string, consequence: string): string | undefined {
  if (isLoopback(bind)) return undefined;
  return `Warning: listening on ${bind}, not only on this machine: ${consequence}.`;
}

/** Answers 403 and returns true for a cross-site browser request (see isCrossSite). */
export function refuseCrossSite(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (!isCrossSite(req)) return false;
  req.resume();
  res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end('Refused: a request from another site. Admin routes answer only their own pages.\n');
  return true;
}
