/** Idempotent sends on real Table Storage (Azurite) and the simulator. */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { sendSms } from '../functions/send-sms.js';
import { fingerprintOf } from '../shared/http/idempotency-key.js';
import { IN_FLIGHT_STALE_MS } from '../shared/http/idempotency-limits.js';
import { parseSendSms } from '../shared/schemas/send-sms.js';
import { type AppEnv, startAppEnv, TEST_API_KEY, testContext } from './helpers/app-env.js';

let env: AppEnv;
let keyCounter = 0;
const freshKey = () => `order-${Date.now()}-${(keyCounter += 1)}`;

beforeAll(async () => {
  // Its tests stop and restart Azurite: an Azurite of its own.
  env = await startAppEnv({}, { storage: 'private' });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  // A fresh account per test: each starts with an empty limiter log.
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `idem${(keyCounter += 1)}`,
    RATE_LIMIT_MAX_CALLS: '100',
    RATE_LIMIT_WINDOW_SECONDS: '60',
    RATE_LIMIT_SAFETY_MARGIN_MS: '0',
    IDEMPOTENCY_TTL_SECONDS: undefined,
  });
});

const sms = { messagetext: 'Your code is 1234', recipients: ['0871234567'] };

function send(body: unknown, key?: string): Promise<HttpResponseInit> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  return sendSms(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/sms',
      headers,
      body: { string: JSON.stringify(body) },
    }),
    testContext('send-sms'),
  );
}

const header = (response: HttpResponseInit, name: string) =>
  (response.headers as Record<string, string> | undefined)?.[name];

describe('Idempotency-Key', () => {
  it('replays the first outcome for the same key and body, without a second send or a limiter slot', async () => {
    await env.configure({ RATE_LIMIT_MAX_CALLS: '1' });
    const key = freshKey();
    const first = await send(sms, key);
    expect(first.status).toBe(200);
    expect(header(first, 'idempotent-replayed')).toBeUndefined();

    const again = await send(sms, key);
    expect(again.status).toBe(200); // the only slot is used: a metered call would be 429
    expect(header(again, 'idempotent-replayed')).toBe('true');
    expect(again.body).toBe(first.body);
    expect(env.simulator.callsFor('send')).toHaveLength(1);

    // Another key is a new message and meets the limit.
    expect((await send(sms, freshKey())).status).toBe(429);
  });

  it('treats the same request written differently (separators, wrapping, key order) as the same body', async () => {
    const key = freshKey();
    expect((await send(sms, key)).status).toBe(200);
    const reworded = { message: { recipients: ['087 123 4567'], messagetext: sms.messagetext } };
    const again = await send(reworded, key);
    expect(header(again, 'idempotent-replayed')).toBe('true');
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('replays an upstream rejection too: it reached Sendmode', async () => {
    const key = freshKey();
    env.simulator.setApiKeys(['other']);
    const first = await send(sms, key);
    expect(first.status).toBe(502);
    env.simulator.setApiKeys([TEST_API_KEY]);
    const again = await send(sms, key);
    expect(again.status).toBe(502);
    expect(header(again, 'idempotent-replayed')).toBe('true');
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('the same key with a different body → 422, nothing sent', async () => {
    const key = freshKey();
    await send(sms, key);
    const other = await send({ ...sms, messagetext: 'Different text' }, key);
    expect(other.status).toBe(422);
    expect(JSON.parse(String(other.body))).toMatchObject({
      status: 422,
      errors: [{ field: 'Idempotency-Key' }],
    });
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('the same key while the first is still in flight → 409 with Retry-After', async () => {
    const key = freshKey();
    env.simulator.injectFault({ kind: 'latency', latencyMs: 800, times: 1, operation: 'send' });
    const first = send(sms, key);
    await sleep(300);
    const second = await send(sms, key);
    expect(second.status).toBe(409);
    expect(header(second, 'retry-after')).toMatch(/^\d+$/);
    expect((await first).status).toBe(200);
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('a claim abandoned in flight (its process died) is taken over after 10 minutes', async () => {
    const key = freshKey();
    const rowKey = createHash('sha256').update(key).digest('hex');
    const table = TableClient.fromConnectionString(env.azurite.connectionString, 'idempotency', {
      allowInsecureConnection: true,
    });
    await table.createTable();
    await table.createEntity({
      partitionKey: rowKey.slice(0, 2),
      rowKey,
      fingerprint: fingerprintOf(parseSendSms(sms)),
      state: 'in-flight',
      claimedAt: Date.now() - IN_FLIGHT_STALE_MS - 60_000,
      expiresAt: Date.now() + 3_600_000,
    });
    const response = await send(sms, key);
    expect(response.status).toBe(200);
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('expires after IDEMPOTENCY_TTL_SECONDS: the key then sends again', async () => {
    await env.configure({ IDEMPOTENCY_TTL_SECONDS: '900' }); // the shortest allowed
    const key = freshKey();
    expect((await send(sms, key)).status).toBe(200);
    const rowKey = createHash('sha256').update(key).digest('hex');
    const table = TableClient.fromConnectionString(env.azurite.connectionString, 'idempotency', {
      allowInsecureConnection: true,
    });
    const stored = await table.getEntity<{ claimedAt: number; expiresAt: number }>(
      rowKey.slice(0, 2),
      rowKey,
    );
    expect(stored.expiresAt - stored.claimedAt).toBe(900_000);
    // As if the 15 minutes had passed.
    await table.updateEntity(
      { partitionKey: rowKey.slice(0, 2), rowKey, expiresAt: Date.now() - 1 },
      'Merge',
    );
    const later = await send(sms, key);
    expect(later.status).toBe(200);
    expect(header(later, 'idempotent-replayed')).toBeUndefined();
    expect(env.simulator.callsFor('send')).toHaveLength(2);
  });

  it('does not store validation failures', async () => {
    const key = freshKey();
    expect((await send({ ...sms, recipients: ['nope'] }, key)).status).toBe(400);
    expect((await send(sms, key)).status).toBe(200);
  });

  it('releases the key when the call never reached Sendmode (limit reached), so a retry sends', async () => {
    await env.configure({ RATE_LIMIT_MAX_CALLS: '1', RATE_LIMIT_WINDOW_SECONDS: '1' });
    expect((await send(sms)).status).toBe(200);
    const key = freshKey();
    const limited = await send(sms, key);
    expect(limited.status).toBe(429);
    await sleep(Number(header(limited, 'retry-after')) * 1000);
    const retried = await send(sms, key);
    expect(retried.status).toBe(200);
    expect(header(retried, 'idempotent-replayed')).toBeUndefined();
    expect(env.simulator.callsFor('send')).toHaveLength(2);
  });

  it('stores a time-out after sending (the SMS may have gone): the retry replays the 504', async () => {
    await env.configure({ SENDMODE_HEADERS_TIMEOUT_MS: '300' });
    // undici checks time-outs on a coarse (about 0.5 s) timer: answer well after it fires.
    env.simulator.injectFault({ kind: 'latency', latencyMs: 2_000, times: 1, operation: 'send' });
    const key = freshKey();
    expect((await send(sms, key)).status).toBe(504);
    const again = await send(sms, key);
    expect(again.status).toBe(504);
    expect(header(again, 'idempotent-replayed')).toBe('true');
    expect(env.simulator.callsFor('send')).toHaveLength(1);
    await env.configure({ SENDMODE_HEADERS_TIMEOUT_MS: undefined });
  });

  it('does not store a refused connection (Sendmode never saw it): the retry sends', async () => {
    await env.configure({ SENDMODE_BASE_URL: 'http://127.0.0.1:9/v2' });
    const key = freshKey();
    expect((await send(sms, key)).status).toBe(502);
    await env.configure({ SENDMODE_BASE_URL: env.simulator.url });
    const retried = await send(sms, key);
    expect(retried.status).toBe(200);
    expect(header(retried, 'idempotent-replayed')).toBeUndefined();
  });

  it.each([
    ['too long', 'k'.repeat(256)],
    ['empty', ''],
    ['non-ASCII', 'clé-unique'],
  ])('an unusable key (%s) → 400 naming the header', async (_name, key) => {
    const response = await send(sms, key);
    expect(response.status).toBe(400);
    expect(JSON.parse(String(response.body)).errors).toEqual([
      expect.objectContaining({ field: 'Idempotency-Key' }),
    ]);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('accepts keys with characters Table Storage forbids in row keys', async () => {
    const key = 'a/b\\c#d?e ' + 'x'.repeat(240);
    expect((await send(sms, key)).status).toBe(200);
    expect(header(await send(sms, key), 'idempotent-replayed')).toBe('true');
  });

  it('storage down → 503 and nothing sent', async () => {
    await env.azurite.stop();
    try {
      const response = await send(sms, freshKey());
      expect(response.status).toBe(503);
      expect(env.simulator.calls()).toHaveLength(0);
    } finally {
      await env.azurite.start();
    }
  });
});
