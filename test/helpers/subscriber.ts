/**
 * A webhook subscriber for end-to-end tests: an HTTP server on loopback that records every
 * delivery and answers `answer` (change it to make the subscriber fail), and the check of a
 * delivery's Standard Webhooks signature with the published `standardwebhooks` library.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Webhook } from 'standardwebhooks';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Subscriber {
  url: string;
  received: Received[];
  answer: number;
  close(): Promise<void>;
}

export async function startSubscriber(answer = 200): Promise<Subscriber> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(subscriber.answer).end();
    });
  });
  const subscriber: Subscriber = {
    url: '',
    received,
    answer,
    close: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  subscriber.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/flow`;
  return subscriber;
}

/** The delivery's payload, once its signature checks out (throws when it does not). */
export function verifyDelivery(secret: string, delivery: Received) {
  return new Webhook(secret).verify(delivery.body, {
    'webhook-id': String(delivery.headers['webhook-id']),
    'webhook-timestamp': String(delivery.headers['webhook-timestamp']),
    'webhook-signature': String(delivery.headers['webhook-signature']),
  }) as { type: string; timestamp: string; data: Record<string, unknown> };
}
