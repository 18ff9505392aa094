/**
 * The simulator's inbox: a page at `/` listing every call the simulator answered, the way
 * Mailpit shows e-mail, kept live with server-sent events. Local tooling, never deployed.
 *
 *   GET /                    the page (static HTML; script and styles from /__inbox/)
 *   GET /__inbox/entries     every entry so far, oldest first, as JSON
 *   GET /__inbox/events      server-sent events: `snapshot` on connect, then `entry`, `update`
 *                            (an entry again, its delivery reports changed) and `cleared`
 *
 * Clearing is the admin API's `DELETE /__admin/calls` (a DELETE needs a CORS pre-flight, which
 * the simulator never grants; the simulator also refuses cross-site admin and data requests and
 * foreign `Host` headers, so another site cannot clear or read it from a browser).
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';

import { type DeliveryUpdate, messageKey } from '../delivery-reports.js';
import type { RecordedCall } from '../types.js';
import { type Deliveries, type InboxEntry, toEntry, withDelivery } from './model.js';

export type InboxEvent =
  | { type: 'call'; call: RecordedCall; body: Buffer | undefined }
  | { type: 'delivery'; update: DeliveryUpdate }
  | { type: 'cleared' };

export type Subscribe = (listener: (event: InboxEvent) => void) => () => void;

export interface Inbox {
  handles(pathname: string): boolean;
  serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void;
  /** Ends every open event stream. */
  close(): void;
}

/** Older entries are dropped beyond this, so a long-running simulator stays small. */
export const MAX_ENTRIES = 2000;
const HEARTBEAT_MS = 15_000;

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url));

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** Keeps a map (in insertion order, as entries are) to the newest MAX_ENTRIES. */
function dropOldest(map: Map<string, unknown>): void {
  for (const key of map.keys()) {
    if (map.size <= MAX_ENTRIES) return;
    map.delete(key);
  }
}

export function createInbox(subscribe: Subscribe): Inbox {
  const files: Record<string, { type: string; body: Buffer }> = {
    '/': { type: 'text/html; charset=utf-8', body: asset('index.html') },
    '/__inbox/inbox.js': { type: 'text/javascript; charset=utf-8', body: asset('inbox.js') },
    '/__inbox/inbox.css': { type: 'text/css; charset=utf-8', body: asset('inbox.css') },
  };
  let entries: InboxEntry[] = [];
  /** Entries by messageKey, for their delivery reports. */
  const byKey = new Map<string, InboxEntry>();
  /** Reports for calls not answered yet (a send's first state comes before its answer). */
  const early = new Map<string, Deliveries>();
  const streams = new Set<http.ServerResponse>();

  const broadcast = (event: string, data: unknown) => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of streams) res.write(frame);
  };

  function addEntry(call: RecordedCall, body: Buffer | undefined): void {
    const key = messageKey(call);
    const entry = toEntry(call, body);
    const delivery = early.get(key);
    if (delivery) entry.delivery = delivery;
    early.delete(key);
    entries.push(entry);
    byKey.set(key, entry);
    if (entries.length > MAX_ENTRIES) entries = entries.slice(-MAX_ENTRIES);
    dropOldest(byKey);
    broadcast('entry', entry);
  }

  function addDelivery({ message, recipient, delivery }: DeliveryUpdate): void {
    const key = messageKey(message);
    const entry = byKey.get(key);
    if (entry) {
      entry.delivery = withDelivery(entry.delivery, recipient, delivery);
      broadcast('update', entry);
      return;
    }
    early.set(key, withDelivery(early.get(key), recipient, delivery));
    dropOldest(early);
  }

  subscribe((event) => {
    if (event.type === 'call') return addEntry(event.call, event.body);
    if (event.type === 'delivery') return addDelivery(event.update);
    entries = [];
    byKey.clear();
    early.clear();
    broadcast('cleared', {});
  });

  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  function openStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    // The whole state on every (re)connect, so a dropped stream never leaves the page stale.
    res.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify({ entries })}\n\n`);
    streams.add(res);
    req.on('close', () => streams.delete(res));
  }

  return {
    handles: (pathname) =>
      pathname === '/' || pathname === '/index.html' || pathname.startsWith('/__inbox/'),
    serve(req, res, pathname) {
      const send = (status: number, type: string, body: string | Buffer) => {
        res.writeHead(status, {
          ...SECURITY_HEADERS,
          'content-type': type,
          'content-length': Buffer.byteLength(body),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        send(405, 'application/json', JSON.stringify({ error: 'Use GET.' }));
        return;
      }
      if (pathname === '/__inbox/events') return openStream(req, res);
      if (pathname === '/__inbox/entries') {
        return send(200, 'application/json; charset=utf-8', JSON.stringify({ entries }));
      }
      const file = files[pathname === '/index.html' ? '/' : pathname];
      if (!file) return send(404, 'application/json', JSON.stringify({ error: 'Not found' }));
      send(200, file.type, file.body);
    },
    close() {
      clearInterval(heartbeat);
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}
