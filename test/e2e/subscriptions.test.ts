/**
 * Webhook subscriptions end to end: the app built as deployed on a local host, Azurite and the
 * simulator (test/helpers/hosts-env.ts), and subscribers as HTTP servers on loopback. A flow's
 * trigger subscribes, each opt-out posted to the opt-out webhook reaches it once, signed (checked
 * with the `standardwebhooks` library); a failing subscriber is retried, then its delivery parked
 * in the poison queue; `410 Gone` unsubscribes; a bad callback URL is refused with `400`.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { until } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import type { HostProcess } from '../helpers/processes.js';
import {
  startSubscriber as startServer,
  type Subscriber,
  verifyDelivery as verify,
} from '../helpers/subscriber.js';

const run = randomBytes(3).toString('hex');
const EVENTS = `events-${run}`;

let env: HostsEnv;
let host: HostProcess;
const servers: Subscriber[] = [];

beforeAll(async () => {
  env = await startHostsEnv(1, {
    EVENT_QUEUE_NAME: EVENTS,
    SUBSCRIPTION_TABLE_NAME: `subs${run}`,
    OPT_OUT_AUDIT_TABLE_NAME: `audit${run}`,
    // Retries a second apart, and the queue polled often: a parked delivery within seconds.
    QUEUE_RETRY_BASE_SECONDS: '1',
    QUEUE_RETRY_MAX_SECONDS: '1',
    AzureFunctionsJobHost__extensions__queues__maxPollingInterval: '00:00:00.200',
  });
  host = env.hosts[0]!;
}, 180_000);
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await env?.stop();
});

async function subscribe(path: string, body: unknown) {
  const res = await fetch(`${host.url}/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    location: res.headers.get('location'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

/** An unsigned opt-out (the hosts run without WEBHOOK_SIGNING_SECRET), retried on a 5xx. */
async function optOut(number: string, route = 'optout'): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${host.url}/api/${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mobilenumber: number, optoutresponse: 'STOP' }),
    });
    if (res.status < 500 || attempt >= 5) return res.status;
    await sleep(200);
  }
}

/** On a time-out: what the host printed last. */
const hostTail = () => host.output().slice(-3000);

async function startSubscriber(answer = 200): Promise<Subscriber> {
  const subscriber = await startServer(answer);
  servers.push(subscriber);
  return subscriber;
}

describe('webhook subscriptions on a running host', () => {
  it('a trigger receives one signed delivery per opt-out, until it is deleted through Location', async () => {
    const flow = await startSubscriber();
    const created = await subscribe('subscriptions/optout-changed', { callbackUrl: flow.url });
    expect(created.status).toBe(201);
    expect(created.body.events).toEqual(['optout.changed']);
    expect(created.location).toBe(`${host.url}/api/subscriptions/${String(created.body.id)}`);
    const secret = String(created.body.secret);

    const numbers = ['+353871110001', '+353871110002', '+353871110003'];
    // The last through the connector's Optout Customer (POST /api/optouts), as a flow sends it.
    for (const [i, number] of numbers.entries()) {
      expect(await optOut(number, i === 2 ? 'optouts' : 'optout')).toBeLessThan(300);
    }
    await until('three deliveries', () => flow.received.length >= numbers.length, {
      timeoutMs: 30_000,
      detail: hostTail,
    });
    await sleep(1_000); // nothing more comes
    expect(flow.received).toHaveLength(numbers.length);
    const bodies = flow.received.map((delivery) => verify(secret, delivery));
    expect(bodies.map((b) => b.data.number).sort()).toEqual(numbers.map((n) => n.slice(1)).sort());
    for (const body of bodies) {
      expect(body).toMatchObject({
        type: 'optout.changed',
        data: {
          action: 'opt-out',
          source: 'api',
          maskedNumber: expect.stringMatching(/^\*+\d{3}$/),
        },
      });
    }
    expect(new Set(flow.received.map((d) => d.headers['webhook-id'])).size).toBe(numbers.length);

    // Turning the flow off: the platform DELETEs the Location.
    expect((await fetch(created.location!, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(created.location!, { method: 'DELETE' })).status).toBe(404);
    expect(await optOut('+353871110004')).toBeLessThan(300);
    await sleep(2_000);
    expect(flow.received).toHaveLength(numbers.length);
  }, 60_000);

  it('a failing subscriber is retried, then its delivery is parked in the poison queue with the reason', async () => {
    const failing = await startSubscriber(503);
    const created = await subscribe('subscriptions', {
      callbackUrl: failing.url,
      events: ['optout.changed'],
    });
    expect(created.status).toBe(201);
    expect(await optOut('+353871110010')).toBeLessThan(300);
    const poison = new QueueClient(env.azurite.connectionString, `${EVENTS}-poison`);
    let parked: Record<string, unknown> | undefined;
    await until(
      'the parked delivery',
      async () => {
        if (!(await poison.exists())) return false;
        const { peekedMessageItems } = await poison.peekMessages();
        const text = peekedMessageItems[0]?.messageText;
        parked = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
        return parked !== undefined;
      },
      { timeoutMs: 40_000, detail: hostTail },
    );
    expect(parked).toMatchObject({
      reason: 'Failed 5 times; last: The callback answered HTTP 503.',
      attempts: 5,
      message: { kind: 'delivery', subscriptionId: created.body.id },
    });
    expect(failing.received).toHaveLength(5);
    const ids = new Set(failing.received.map((d) => d.headers['webhook-id']));
    expect(ids.size).toBe(1);
    for (const delivery of failing.received) verify(String(created.body.secret), delivery);
    expect(await fetch(created.location!, { method: 'DELETE' })).toMatchObject({ status: 204 });
  }, 60_000);

  it('a subscriber answering 410 Gone is unsubscribed', async () => {
    const leaving = await startSubscriber(410);
    const created = await subscribe('subscriptions/optout-changed', { callbackUrl: leaving.url });
    expect(created.status).toBe(201);
    expect(await optOut('+353871110020')).toBeLessThan(300);
    await until('the delivery answered 410', () => leaving.received.length >= 1, {
      timeoutMs: 30_000,
      detail: hostTail,
    });
    await until(
      'the subscription to be deleted',
      async () => (await fetch(created.location!, { method: 'DELETE' })).status === 404,
      { timeoutMs: 10_000, detail: hostTail },
    );
    expect(await optOut('+353871110021')).toBeLessThan(300);
    await sleep(2_000);
    expect(leaving.received).toHaveLength(1);
  }, 60_000);

  it('refuses a bad callback URL with 400 naming callbackUrl', async () => {
    for (const callbackUrl of [
      'http://hooks.example.com/flow',
      'javascript:alert(1)',
      'https://user:secret@hooks.example.com/flow',
      `${host.url}/api/optout`,
    ]) {
      const refused = await subscribe('subscriptions', { callbackUrl });
      expect(refused.status, callbackUrl).toBe(400);
      expect(refused.body.errors).toEqual([{ field: 'callbackUrl', message: expect.any(String) }]);
    }
    const unknown = await subscribe('subscriptions', {
      callbackUrl: 'https://hooks.example.com/flow',
      events: ['sms.sent'],
    });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toContain('sms.sent');
    // The app logged none of it in full.
    expect(host.output()).not.toContain('user:secret');
  });
});
