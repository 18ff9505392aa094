/**
 * Webhook subscriptions in this process, on Azurite: subscribing and unsubscribing (every bad
 * input answered with a clear 4xx), the event queue's fan-out to the matching subscriptions only,
 * signed deliveries (checked with the `standardwebhooks` library), retries with a growing delay
 * and then the poison queue, 410 Gone, and `optout.changed` published once per applied change.
 * Callbacks are real HTTP servers on loopback; the queue is handed to the handler as the host
 * would hand it over.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { deliverEvents } from '../functions/deliver-events.js';
import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { subscriptionsCreate } from '../functions/subscriptions-create.js';
import { subscriptionsDelete } from '../functions/subscriptions-delete.js';
import { MAX_BODY_BYTES } from '../shared/http/http.js';
import { AuditTrail } from '../shared/opt-outs/audit-trail.js';
import { SuppressionList } from '../shared/opt-outs/suppression.js';
import { getServices } from '../shared/services.js';
import { createTableClient } from '../shared/storage/table-storage.js';
import { handleEventWork } from '../shared/subscriptions/delivery.js';
import { parseEventWork } from '../shared/subscriptions/event-messages.js';
import { MAX_SUBSCRIPTIONS } from '../shared/subscriptions/store.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { captureLog } from './helpers/capture-log.js';
import { decode, messageCount } from './helpers/queues.js';

const run = Math.random().toString(36).slice(2, 8);
const EVENTS = `events-${run}`;
const POISON = `${EVENTS}-poison`;
const SUBSCRIPTIONS = `subs${run}`;
const ORIGIN = 'https://sms.example.net';
const NUMBER = '+353 87 123 4567';
const CANONICAL = '353871234567';

let env: AppEnv;
let tables = 0;

beforeAll(async () => {
  env = await startAppEnv({
    EVENT_QUEUE_NAME: EVENTS,
    SUBSCRIPTION_TABLE_NAME: SUBSCRIPTIONS,
    QUEUE_RETRY_BASE_SECONDS: '1',
    QUEUE_RETRY_MAX_SECONDS: '2',
  });
}, 60_000);
afterAll(async () => env?.stop());
beforeEach(async () => {
  // An empty suppression list per test, no signatures required; the queues and table emptied.
  tables += 1;
  await env.configure({
    SUPPRESSION_TABLE_NAME: `optouts${run}${tables}`,
    OPT_OUT_AUDIT_TABLE_NAME: `audit${run}${tables}`,
    WEBHOOK_SIGNING_SECRET: undefined,
    WEBHOOK_SIGNING_SECRET_NAME: undefined,
  });
  for (const name of [EVENTS, POISON]) {
    const queue = new QueueClient(env.azurite.connectionString, name);
    if (await queue.exists()) await queue.clearMessages();
  }
  const table = TableClient.fromConnectionString(env.azurite.connectionString, SUBSCRIPTIONS, {
    allowInsecureConnection: true,
  });
  await table.createTable();
  for await (const row of table.listEntities()) {
    await table.deleteEntity(String(row.partitionKey), String(row.rowKey));
  }
});
afterEach(() => vi.unstubAllEnvs());

/* ------------------------------ helpers ------------------------------ */

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Callback {
  url: string;
  received: Received[];
  /** The status to answer next (and after). */
  answer: number;
}

const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
});

/** A subscriber on loopback that keeps every request and answers `answer`. */
async function startCallback(answer = 200): Promise<Callback> {
  const callback: Callback = { url: '', received: [], answer };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      callback.received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(callback.answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  servers.push(server);
  callback.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return callback;
}

function subscribeRequest(
  body: unknown,
  options: {
    event?: string;
    origin?: string;
    contentType?: string;
    raw?: string;
    headers?: Record<string, string>;
  } = {},
) {
  const path = options.event ? `subscriptions/${options.event}` : 'subscriptions';
  const context = testContext('subscriptions-create');
  const response = subscriptionsCreate(
    new HttpRequest({
      method: 'POST',
      url: `${options.origin ?? ORIGIN}/api/${path}`,
      headers: { 'content-type': options.contentType ?? 'application/json', ...options.headers },
      body: { string: options.raw ?? JSON.stringify(body) },
      ...(options.event ? { params: { event: options.event } } : {}),
    }),
    context,
  );
  return response.then((r) => ({ response: r, logs: context.logs }));
}

async function subscribe(body: unknown, options: Parameters<typeof subscribeRequest>[1] = {}) {
  return (await subscribeRequest(body, options)).response;
}

function unsubscribe(id: string) {
  return subscriptionsDelete(
    new HttpRequest({
      method: 'DELETE',
      url: `${ORIGIN}/api/subscriptions/${encodeURIComponent(id)}`,
      params: { id },
    }),
    testContext('subscriptions-delete'),
  );
}

const json = (response: HttpResponseInit) =>
  JSON.parse(String(response.body)) as Record<string, unknown>;
const header = (response: HttpResponseInit, name: string) =>
  (response.headers as Record<string, string> | undefined)?.[name];
const fields = (response: HttpResponseInit) =>
  (json(response).errors as { field: string; message: string }[]).map((e) => e.field);
const messages = (response: HttpResponseInit) =>
  (json(response).errors as { field: string; message: string }[]).map((e) => e.message).join(' | ');

interface Created {
  id: string;
  callbackUrl: string;
  events: string[];
  secret: string;
}

async function created(body: unknown, options: Parameters<typeof subscribeRequest>[1] = {}) {
  const response = await subscribe(body, options);
  expect(response.status, String(response.body)).toBe(201);
  return json(response) as unknown as Created;
}

/**
 * Hands the event queue's visible messages to the handler as the host would (its text, its id and
 * dequeue count; deleted after), round after round, until `done()` or the time-out.
 */
async function drainEvents(
  done: (logs: string[]) => Promise<boolean> | boolean,
  timeoutMs = 15_000,
) {
  const queue = new QueueClient(env.azurite.connectionString, EVENTS);
  await queue.createIfNotExists();
  const logs: string[] = [];
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const { receivedMessageItems } = await queue.receiveMessages({
      numberOfMessages: 32,
      visibilityTimeout: 30,
    });
    for (const item of receivedMessageItems) {
      const context = new InvocationContext({
        functionName: 'deliver-events',
        invocationId: `inv-${Math.random().toString(36).slice(2)}`,
        triggerMetadata: { id: item.messageId, dequeueCount: item.dequeueCount },
        logHandler: (level, ...args) => logs.push(`${level} ${args.join(' ')}`),
      });
      await deliverEvents(item.messageText, context);
      await queue.deleteMessage(item.messageId, item.popReceipt);
    }
    if (receivedMessageItems.length === 0) {
      if (await done(logs)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return logs;
}

/** The one-line JSON records the handler logged. */
const records = (logs: string[]) =>
  logs.flatMap((line) => {
    const start = line.indexOf('{');
    if (start < 0) return [];
    try {
      return [JSON.parse(line.slice(start)) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

async function poisoned(): Promise<Record<string, unknown>[]> {
  const queue = new QueueClient(env.azurite.connectionString, POISON);
  if (!(await queue.exists())) return [];
  const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((item) => decode(item.messageText) as Record<string, unknown>);
}

async function eventMessages(): Promise<Record<string, unknown>[]> {
  const queue = new QueueClient(env.azurite.connectionString, EVENTS);
  if (!(await queue.exists())) return [];
  const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((item) => decode(item.messageText) as Record<string, unknown>);
}

/** Verified with the Standard Webhooks reference library: throws when the signature is wrong. */
function verified(secret: string, delivery: Received): Record<string, unknown> {
  return new Webhook(secret).verify(delivery.body, {
    'webhook-id': String(delivery.headers['webhook-id']),
    'webhook-timestamp': String(delivery.headers['webhook-timestamp']),
    'webhook-signature': String(delivery.headers['webhook-signature']),
  }) as Record<string, unknown>;
}

const optOutData = {
  number: CANONICAL,
  maskedNumber: '*********567',
  action: 'opt-out',
  source: 'api',
  at: new Date().toISOString(),
} as const;

/* ------------------------------ subscribing ------------------------------ */

describe('POST /api/subscriptions', () => {
  it('answers 201 with the id, callback URL, events (all when left out) and a Standard Webhooks secret, and Location', async () => {
    const callback = await startCallback();
    const response = await subscribe({ callbackUrl: callback.url });
    expect(response.status).toBe(201);
    const body = json(response) as unknown as Created;
    expect(Object.keys(body).sort()).toEqual(['callbackUrl', 'events', 'id', 'secret']);
    expect(body.callbackUrl).toBe(callback.url);
    expect(body.events).toEqual(['optout.changed', 'sms.delivery']);
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    const key = Buffer.from(body.secret.slice('whsec_'.length), 'base64');
    expect(key.length).toBeGreaterThanOrEqual(24);
    expect(key.length).toBeLessThanOrEqual(32);
    expect(header(response, 'location')).toBe(`${ORIGIN}/api/subscriptions/${body.id}`);
    expect(header(response, 'cache-control')).toBe('no-store');
    // Each subscription gets its own secret.
    const other = await created({ callbackUrl: callback.url, events: ['sms.delivery'] });
    expect(other.secret).not.toBe(body.secret);
    expect(other.events).toEqual(['sms.delivery']);
  });

  it('lists events in the registry’s order, without duplicates', async () => {
    const callback = await startCallback();
    const body = await created({
      callbackUrl: callback.url,
      events: ['sms.delivery', 'optout.changed', 'sms.delivery'],
    });
    expect(body.events).toEqual(['optout.changed', 'sms.delivery']);
  });

  it('subscribes a trigger’s route to its one event, whatever the body lists', async () => {
    const callback = await startCallback();
    const body = await created(
      { callbackUrl: callback.url, events: ['sms.delivery'] },
      { event: 'optout-changed' },
    );
    expect(body.events).toEqual(['optout.changed']);
    expect(
      (await created({ callbackUrl: callback.url }, { event: 'sms-delivery' })).events,
    ).toEqual(['sms.delivery']);
    const unknown = await subscribe({ callbackUrl: callback.url }, { event: 'sms-sent' });
    expect(unknown.status).toBe(404);
  });

  it.each([
    ['malformed JSON', { raw: '{"callbackUrl": ' }, 'body', /not valid JSON/],
    ['an empty body', { raw: '' }, 'body', /empty/],
    ['an array', { raw: '[]' }, 'body', /JSON object/],
    ['a string', { raw: '"https://example.com"' }, 'body', /JSON object/],
    ['no callbackUrl', { raw: '{}' }, 'callbackUrl', /required/],
    ['a number as callbackUrl', { raw: '{"callbackUrl": 42}' }, 'callbackUrl', /string/],
  ])('answers 400 for %s', async (_name, options, field, message) => {
    const response = await subscribe(undefined, options);
    expect(response.status).toBe(400);
    expect(header(response, 'content-type')).toBe('application/problem+json');
    expect(fields(response)).toEqual([field]);
    expect(messages(response)).toMatch(message);
  });

  it('answers 415 for a body that is not JSON, and 413 for one over the limit', async () => {
    const form = await subscribe(undefined, {
      raw: 'callbackUrl=https://example.com',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(415);
    const big = await subscribe({
      callbackUrl: 'https://hooks.example.com/x',
      padding: 'x'.repeat(MAX_BODY_BYTES + 10),
    });
    expect(big.status).toBe(413);
  });

  it.each([
    ['plain http to another host', 'http://hooks.example.com/in', /must be https/],
    ['javascript:', 'javascript:alert(1)', /absolute https/],
    ['data:', 'data:text/plain,hi', /absolute https/],
    ['ftp:', 'ftp://hooks.example.com/in', /absolute https/],
    ['a relative URL', '/hooks/in', /absolute https/],
    ['a host-less URL', 'https://', /absolute https/],
    ['a user and password', 'https://user:p4ssw0rd@hooks.example.com/in', /user name or password/],
    ['a user alone', 'https://user@hooks.example.com/in', /user name or password/],
    ['a line break', 'https://hooks.exam\nple.com/in', /control characters/],
    ['a tab', 'https://hooks.example.com/\tin', /control characters/],
    ['a space', 'https://hooks.example.com/a b', /spaces/],
    ['a NUL', 'https://hooks.example.com/\u0000', /control characters/],
    ['a URL over 2,048 characters', `https://hooks.example.com/${'a'.repeat(2_030)}`, /2048/],
    ['the app’s own host', `${ORIGIN}/api/optout`, /this app itself/],
    ['the app’s own host in capitals, with a root dot', 'https://SMS.EXAMPLE.NET./x', /itself/],
  ])(
    'answers 400 for a callback URL with %s, naming callbackUrl and never quoting it',
    async (_name, url, message) => {
      const response = await subscribe({ callbackUrl: url });
      expect(response.status, String(response.body)).toBe(400);
      expect(fields(response)).toEqual(['callbackUrl']);
      expect(messages(response)).toMatch(message);
      expect(String(response.body)).not.toContain('p4ssw0rd');
      expect(String(response.body)).not.toContain('hooks.example.com');
    },
  );

  it('refuses WEBSITE_HOSTNAME and, on loopback, the request’s own port (any loopback name)', async () => {
    vi.stubEnv('WEBSITE_HOSTNAME', 'Sendmode-Prod.azurewebsites.net');
    const own = await subscribe({ callbackUrl: 'https://sendmode-prod.azurewebsites.net/api/x' });
    expect(own.status).toBe(400);
    expect(messages(own)).toMatch(/this app itself/);
    vi.unstubAllEnvs();
    const local = { origin: 'http://127.0.0.1:7071' };
    for (const url of [
      'http://127.0.0.1:7071/api/optout',
      'http://localhost:7071/x',
      'http://[::1]:7071/',
    ]) {
      const response = await subscribe({ callbackUrl: url }, local);
      expect(response.status, url).toBe(400);
      expect(messages(response)).toMatch(/this app itself/);
    }
    // Another port on the same machine is another program: a test's callback server.
    const callback = await startCallback();
    expect((await subscribe({ callbackUrl: callback.url }, local)).status).toBe(201);
    expect((await subscribe({ callbackUrl: 'https://hooks.example.com/in' }, local)).status).toBe(
      201,
    );
  });

  it('names an unknown event type, and refuses an empty, a wrong or a huge list with one clear error', async () => {
    const callbackUrl = 'https://hooks.example.com/in';
    const unknown = await subscribe({ callbackUrl, events: ['optout.changed', 'sms.sent'] });
    expect(unknown.status).toBe(400);
    expect(fields(unknown)).toEqual(['events/1']);
    expect(messages(unknown)).toContain('"sms.sent" is not a known event type');
    expect(messages(unknown)).toContain('optout.changed, sms.delivery');

    const empty = await subscribe({ callbackUrl, events: [] });
    expect(fields(empty)).toEqual(['events']);
    expect(messages(empty)).toMatch(/at least one/);

    const notAList = await subscribe({ callbackUrl, events: 'optout.changed' });
    expect(fields(notAList)).toEqual(['events']);

    const notStrings = await subscribe({ callbackUrl, events: [7, null] });
    expect(fields(notStrings)).toEqual(['events/0', 'events/1']);

    const huge = await subscribe({ callbackUrl, events: Array.from({ length: 5_000 }, () => 'x') });
    expect(huge.status).toBe(400);
    expect(fields(huge)).toEqual(['events']);
    expect(messages(huge)).toMatch(/at most 20/);

    // A hostile value is not echoed back.
    const hostile = await subscribe({
      callbackUrl,
      events: ['<script>\u0007', 'y'.repeat(500)],
    });
    expect(hostile.status).toBe(400);
    expect(fields(hostile)).toEqual(['events/0', 'events/1']);
    expect(String(hostile.body)).not.toContain('<script>');
    expect(String(hostile.body)).not.toContain('yyyy');
  });

  it(`keeps at most ${MAX_SUBSCRIPTIONS} subscriptions: 422 beyond, until one is deleted`, async () => {
    const callbackUrl = 'https://hooks.example.com/in';
    const ids: string[] = [];
    for (let i = 0; i < MAX_SUBSCRIPTIONS; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, () => created({ callbackUrl, events: ['sms.delivery'] })),
      );
      ids.push(...batch.map((b) => b.id));
    }
    const over = await subscribe({ callbackUrl });
    expect(over.status).toBe(422);
    expect(json(over).detail).toMatch(/100 subscriptions/);
    expect((await unsubscribe(ids[0]!)).status).toBe(204);
    expect((await subscribe({ callbackUrl })).status).toBe(201);
  });
});

describe('DELETE /api/subscriptions/{id}', () => {
  it('answers 204, then 404; 404 for an unknown or malformed id', async () => {
    const { id } = await created({ callbackUrl: 'https://hooks.example.com/in' });
    expect((await unsubscribe(id)).status).toBe(204);
    expect(await (await getServices()).subscriptions.get(id)).toBeUndefined();
    const again = await unsubscribe(id);
    expect(again.status).toBe(404);
    expect(header(again, 'content-type')).toBe('application/problem+json');
    expect((await unsubscribe('6f1c2b8e-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await unsubscribe("x' or PartitionKey ne '")).status).toBe(404);
  });
});

/* ------------------------------ delivering ------------------------------ */

describe('the event queue', () => {
  it('fans an event out to the matching subscriptions only, each delivery signed with its own secret', async () => {
    const [a, b, other] = await Promise.all([startCallback(), startCallback(), startCallback()]);
    const subA = await created({ callbackUrl: a.url, events: ['optout.changed'] });
    const subB = await created({ callbackUrl: `${b.url}?sig=abc`, events: ['optout.changed'] });
    await created({ callbackUrl: other.url, events: ['sms.delivery'] });

    const { events } = await getServices();
    const event = await events.publish('optout.changed', optOutData);
    // ONE message, whoever subscribes.
    const queued = await eventMessages();
    expect(queued).toEqual([{ kind: 'event', event }]);

    const logs = await drainEvents(() => a.received.length + b.received.length >= 2);
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(1);
    expect(other.received).toHaveLength(0);
    expect(b.received[0]!.path).toBe('/hook?sig=abc');
    for (const [callback, subscription] of [
      [a, subA],
      [b, subB],
    ] as const) {
      const delivery = callback.received[0]!;
      expect(verified(subscription.secret, delivery)).toEqual({
        type: 'optout.changed',
        timestamp: event.timestamp,
        data: optOutData,
      });
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(delivery.headers['webhook-id']).toBe(event.id);
      const seconds = Number(delivery.headers['webhook-timestamp']);
      expect(Math.abs(seconds - Date.now() / 1000)).toBeLessThan(30);
    }
    // Another subscription's secret does not verify it.
    expect(() => verified(subB.secret, a.received[0]!)).toThrow();
    const lines = records(logs);
    expect(lines).toContainEqual(
      expect.objectContaining({ kind: 'event', eventId: event.id, deliveries: 2, outcome: 'done' }),
    );
    expect(lines.filter((l) => l.result === 'delivered')).toHaveLength(2);
  });

  it('retries a failing callback with a growing delay, the same webhook-id each time, then parks it with the reason', async () => {
    const failing = await startCallback(500);
    const subscription = await created({ callbackUrl: failing.url, events: ['sms.delivery'] });
    const { events } = await getServices();
    const event = await events.publish('sms.delivery', {
      id: 'send-1',
      recipient: '+353871234567',
      status: 'delivered',
      at: new Date().toISOString(),
    });
    const logs = await drainEvents(async () => (await poisoned()).length > 0, 30_000);
    // host.json's maxDequeueCount: 5 attempts.
    expect(failing.received).toHaveLength(5);
    expect(new Set(failing.received.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([event.id]),
    );
    for (const delivery of failing.received) verified(subscription.secret, delivery);
    const deliveries = records(logs).filter((l) => l.kind === 'delivery');
    expect(deliveries.map((l) => l.outcome)).toEqual([
      'retry',
      'retry',
      'retry',
      'retry',
      'poison',
    ]);
    // QUEUE_RETRY_BASE_SECONDS=1 doubling, up to QUEUE_RETRY_MAX_SECONDS=2.
    expect(deliveries.slice(0, 4).map((l) => l.delaySeconds)).toEqual([1, 2, 2, 2]);
    expect(deliveries.map((l) => l.attempt)).toEqual([1, 2, 3, 4, 5]);
    const [parked] = await poisoned();
    expect(parked).toMatchObject({
      reason: 'Failed 5 times; last: The callback answered HTTP 500.',
      attempts: 5,
      message: { kind: 'delivery', subscriptionId: subscription.id, event: { id: event.id } },
    });
    // Still subscribed: a failing subscriber is not dropped.
    expect(await (await getServices()).subscriptions.get(subscription.id)).toBeDefined();
  }, 40_000);

  it('retries a callback that cannot be reached, saying why', async () => {
    const gone = await startCallback();
    const url = gone.url;
    await new Promise((done) => servers.pop()!.close(done));
    await created({ callbackUrl: url, events: ['optout.changed'] });
    await (await getServices()).events.publish('optout.changed', optOutData);
    const logs = await drainEvents(
      (sofar) => records(sofar).some((l) => l.kind === 'delivery'),
      5_000,
    );
    const first = records(logs).find((l) => l.kind === 'delivery');
    expect(first).toMatchObject({ outcome: 'retry', attempt: 1, error: 'upstream-unavailable' });
    const [envelope] = await new Promise<Record<string, unknown>[]>((done) =>
      setTimeout(() => done(eventMessages()), 1_200),
    );
    expect(envelope?.lastError).toBe('The callback could not be reached (ECONNREFUSED).');
  });

  it('deletes the subscription when its callback answers 410 Gone', async () => {
    const leaving = await startCallback(410);
    const subscription = await created({ callbackUrl: leaving.url, events: ['optout.changed'] });
    const { events, subscriptions } = await getServices();
    await events.publish('optout.changed', optOutData);
    const logs = await drainEvents(() => leaving.received.length >= 1);
    await drainEvents(() => true);
    expect(leaving.received).toHaveLength(1);
    expect(await subscriptions.get(subscription.id)).toBeUndefined();
    expect(records(logs)).toContainEqual(
      expect.objectContaining({ result: 'unsubscribed', outcome: 'done', httpStatus: 410 }),
    );
    // The next event finds nobody.
    await events.publish('optout.changed', optOutData);
    await drainEvents(async () => (await messageCount(env.azurite.connectionString, EVENTS)) === 0);
    expect(leaving.received).toHaveLength(1);
    expect(await poisoned()).toEqual([]);
  });

  it('drops a delivery whose subscription was deleted meanwhile, as done, and logs it', async () => {
    const callback = await startCallback();
    const subscription = await created({ callbackUrl: callback.url, events: ['optout.changed'] });
    const { subscriptions } = await getServices();
    const work = parseEventWork({
      kind: 'delivery',
      subscriptionId: subscription.id,
      event: { id: 'evt_1', type: 'optout.changed', timestamp: optOutData.at, data: optOutData },
    });
    await subscriptions.delete(subscription.id);
    const log = captureLog();
    const fieldsLogged: Record<string, unknown> = {};
    await handleEventWork(
      work,
      { subscriptions, enqueue: async () => undefined, log },
      fieldsLogged,
    );
    expect(fieldsLogged).toMatchObject({
      result: 'subscription-gone',
      subscriptionId: subscription.id,
    });
    expect(callback.received).toHaveLength(0);
  });

  it('parks a message that is not an event or a delivery at once, with the reason', async () => {
    const queue = new QueueClient(env.azurite.connectionString, EVENTS);
    await queue.createIfNotExists();
    await queue.sendMessage(
      JSON.stringify({ kind: 'event', event: { id: 'evt_x', type: 'sms.sent' } }),
    );
    await queue.sendMessage(
      JSON.stringify({
        kind: 'event',
        event: { id: 'evt_y', type: 'optout.changed', timestamp: 't', data: { number: 1 } },
      }),
    );
    await drainEvents(async () => (await poisoned()).length >= 2);
    const parked = await poisoned();
    expect(parked).toHaveLength(2);
    for (const message of parked) {
      expect(message).toMatchObject({ reason: 'The message is not a valid request.', attempts: 1 });
    }
    expect(parked.flatMap((m) => (m.errors as { field: string }[]).map((e) => e.field))).toEqual(
      expect.arrayContaining(['event/type', 'event/data/number', 'event/data/action']),
    );
  });
});

/* ------------------------------ optout.changed ------------------------------ */

describe('optout.changed', () => {
  async function postOptOut(body: Record<string, unknown>) {
    const context = testContext('opt-out-webhook');
    const response = await optOutWebhook(
      new HttpRequest({
        method: 'POST',
        url: `${ORIGIN}/api/optout`,
        headers: { 'content-type': 'application/json' },
        body: { string: JSON.stringify(body) },
      }),
      context,
    );
    return { response, logs: context.logs };
  }

  it('is published exactly once for an opt-out the webhook applied, with the canonical and masked number', async () => {
    const before = Date.now();
    const { response } = await postOptOut({ mobilenumber: NUMBER, optoutresponse: 'STOP' });
    expect(response.status).toBe(200);
    const queued = await eventMessages();
    expect(queued).toHaveLength(1);
    const { event } = queued[0] as { event: Record<string, unknown> };
    expect(event).toMatchObject({
      id: expect.stringMatching(/^evt_[0-9a-f]{32}$/),
      type: 'optout.changed',
      data: { number: CANONICAL, maskedNumber: '*********567', action: 'opt-out', source: 'api' },
    });
    const at = Date.parse((event.data as { at: string }).at);
    expect(at).toBeGreaterThanOrEqual(before - 1_000);
    expect(at).toBeLessThanOrEqual(Date.now());
    // A reply that is no keyword changes nothing, and publishes nothing.
    await postOptOut({ mobilenumber: NUMBER, optoutresponse: 'thanks' });
    expect(await eventMessages()).toHaveLength(1);
  });

  it('publishes nothing for a superseded change, and the opt-in and removal that are applied', async () => {
    const { suppression } = await getServices();
    const now = Date.now();
    const change = { number: NUMBER, source: 'api' as const };
    expect((await suppression.apply({ ...change, action: 'opt-out', eventAt: now })).applied).toBe(
      true,
    );
    // Earlier than the opt-out applied: superseded.
    expect(
      (await suppression.apply({ ...change, action: 'opt-in', eventAt: now - 60_000 })).applied,
    ).toBe(false);
    expect(
      (await eventMessages()).map((m) => (m.event as { data: { action: string } }).data.action),
    ).toEqual(['opt-out']);
    await suppression.apply({ ...change, action: 'opt-in', eventAt: now + 1_000 });
    await suppression.apply({ ...change, action: 'opt-out', eventAt: now + 2_000 });
    await suppression.apply(
      { ...change, source: 'manual', action: 'removal', eventAt: now + 3_000, reason: 'test' },
      { mustBeSuppressed: true },
    );
    const data = (await eventMessages()).map(
      (m) => (m.event as { data: Record<string, unknown> }).data,
    );
    expect(data.map((d) => [d.action, d.source])).toEqual([
      ['opt-out', 'api'],
      ['opt-in', 'api'],
      ['opt-out', 'api'],
      ['removal', 'manual'],
    ]);
    expect(data.map((d) => d.at)).toEqual(
      [now, now + 1_000, now + 2_000, now + 3_000].map((t) => new Date(t).toISOString()),
    );
  });

  it('passes a failed publish on to the caller; applying the change again publishes it', async () => {
    const { settings } = await getServices();
    const table = await createTableClient(settings, `failing${run}`);
    const audit = await createTableClient(settings, `failingaudit${run}`);
    const published: string[] = [];
    let fail = true;
    const list = new SuppressionList(table, new AuditTrail(audit), undefined, async (change) => {
      if (fail) throw new Error('queue down');
      published.push(`${change.action} ${change.number}`);
    });
    const change = { number: '+353861234567', source: 'api' as const, action: 'opt-out' as const };
    const eventAt = Date.now();
    await expect(list.apply({ ...change, eventAt })).rejects.toThrow('queue down');
    fail = false;
    // The caller's retry: the same change again (an opt-out at the same instant still applies).
    expect((await list.apply({ ...change, eventAt })).applied).toBe(true);
    expect(published).toEqual(['opt-out 353861234567']);
    expect((await list.suppressed(['+353861234567'])).size).toBe(1);
  });

  it('reaches a subscriber end to end: opt-out → queue → fan-out → signed delivery', async () => {
    const callback = await startCallback();
    const subscription = await created({ callbackUrl: callback.url }, { event: 'optout-changed' });
    await postOptOut({ mobilenumber: NUMBER, optoutresponse: 'STOP' });
    await drainEvents(() => callback.received.length >= 1);
    expect(callback.received).toHaveLength(1);
    expect(verified(subscription.secret, callback.received[0]!)).toMatchObject({
      type: 'optout.changed',
      data: { number: CANONICAL, action: 'opt-out' },
    });
  });
});

/* ------------------------------ logs ------------------------------ */

describe('logs', () => {
  it('never hold a secret, a callback URL’s path or query, or a full number', async () => {
    const failing = await startCallback(500);
    const callbackUrl = `${failing.url}/private-path?sig=CALLBACK-SIG-123`;
    const { response, logs } = await subscribeRequest({ callbackUrl, events: ['optout.changed'] });
    const { secret, id } = json(response) as unknown as Created;
    const { logs: optOutLogs } = await postOptOut();
    const queueLogs = await drainEvents(() => failing.received.length >= 2, 10_000);
    // A delivery with a captured logger, straight through the shared code, too.
    const log = captureLog();
    const { subscriptions } = await getServices();
    const logged: Record<string, unknown> = {};
    await handleEventWork(
      parseEventWork({
        kind: 'delivery',
        subscriptionId: id,
        event: { id: 'evt_2', type: 'optout.changed', timestamp: optOutData.at, data: optOutData },
      }),
      { subscriptions, enqueue: async () => undefined, log },
      logged,
    ).catch(() => undefined);
    const everything = [
      ...logs,
      ...optOutLogs,
      ...queueLogs,
      log.text(),
      JSON.stringify(logged),
    ].join('\n');
    expect(records(queueLogs).some((l) => l.callbackHost === new URL(failing.url).host)).toBe(true);
    expect(everything).toContain(id);
    for (const secretText of [
      secret,
      secret.slice('whsec_'.length),
      'CALLBACK-SIG-123',
      'private-path',
      CANONICAL,
      '871234567',
    ]) {
      expect(everything, secretText).not.toContain(secretText);
    }
    // The signature headers are not logged either.
    for (const delivery of failing.received) {
      expect(everything).not.toContain(String(delivery.headers['webhook-signature']).slice(3));
    }

    async function postOptOut() {
      const context = testContext('opt-out-webhook');
      await optOutWebhook(
        new HttpRequest({
          method: 'POST',
          url: `${ORIGIN}/api/optout`,
          headers: { 'content-type': 'application/json' },
          body: { string: JSON.stringify({ mobilenumber: NUMBER, optoutresponse: 'STOP' }) },
        }),
        context,
      );
      return { logs: context.logs };
    }
  });
});
