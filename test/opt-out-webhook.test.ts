/**
 * The opt-out webhook (POST and GET /api/optout) and the opt-out sync queue, as the Functions
 * host calls them: real HttpRequest and InvocationContext objects, the simulator over HTTP,
 * Azurite for the suppression table, the webhook-id table and the queues.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { optOutSync } from '../functions/opt-out-sync.js';
import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { sendSms } from '../functions/send-sms.js';
import { signWebhook } from '../shared/opt-outs/webhook-signature.js';
import type { FaultSpec } from '../tools/sendmode-simulator/types.js';
import { type KeyVaultFake, startKeyVaultFake, useFakeManagedIdentity } from './fakes/key-vault.js';
import { type AppEnv, startAppEnv, TEST_API_KEY, testContext } from './helpers/app-env.js';
import { decode } from './helpers/queues.js';

const NUMBER = '+353871234567';
/** The suppression table's key for NUMBER: international digits, no `+`. */
const CANONICAL = '353871234567';
/** The part of the number that must never appear in a log line. */
const UNMASKED = /871234567/;

const SYNC_QUEUE = 'optout-sync';
const POISON_QUEUE = 'optout-sync-poison';
const SECRET = `whsec_${Buffer.from('opt-out-webhook-test-signing-key').toString('base64')}`;

let env: AppEnv;
let accounts = 0;

beforeAll(async () => {
  // Its tests stop and restart Azurite: an Azurite of its own.
  env = await startAppEnv(
    {
      SENDMODE_HEADERS_TIMEOUT_MS: '400',
      QUEUE_RETRY_BASE_SECONDS: '1',
      QUEUE_RETRY_MAX_SECONDS: '1',
    },
    { storage: 'private' },
  );
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  // A fresh account per test: each starts with an empty limiter log.
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `optout${(accounts += 1)}x${Date.now()}`,
    SENDMODE_API_KEY: TEST_API_KEY,
    KEY_VAULT_URI: undefined,
    RATE_LIMIT_MAX_CALLS: undefined,
    WEBHOOK_SIGNING_SECRET: undefined,
    WEBHOOK_SIGNING_SECRET_NAME: undefined,
    OPT_OUT_KEYWORDS: undefined,
    DEFAULT_COUNTRY_CODE: undefined,
  });
  await clearSuppression();
  await Promise.all([clearQueue(SYNC_QUEUE), clearQueue(POISON_QUEUE)]);
});

/* --------------------------------------- helpers --------------------------------------- */

interface Delivery {
  method?: 'GET' | 'POST';
  body?: string;
  contentType?: string;
  query?: Record<string, string>;
  /** A raw query string (`?a=b`), as a sender writes it; used when `query` is not given. */
  search?: string;
  headers?: Record<string, string>;
}

function webhookRequest(delivery: Delivery) {
  const { method = 'POST', body, contentType, query, search = '', headers = {} } = delivery;
  return new HttpRequest({
    method,
    url: `http://localhost/api/optout${search}`,
    headers: { ...(contentType ? { 'content-type': contentType } : {}), ...headers },
    ...(query ? { query } : {}),
    ...(body !== undefined ? { body: { string: body } } : {}),
  });
}

async function deliver(delivery: Delivery) {
  const context = testContext('opt-out-webhook');
  const response = await optOutWebhook(webhookRequest(delivery), context);
  return { response, json: parse(response), logs: context.logs };
}

const json = (value: unknown, headers: Record<string, string> = {}): Delivery => ({
  body: JSON.stringify(value),
  contentType: 'application/json',
  headers,
});

function parse(response: HttpResponseInit): Record<string, unknown> {
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

function header(response: HttpResponseInit, name: string): string | undefined {
  return (response.headers as Record<string, string> | undefined)?.[name];
}

/** Standard Webhooks headers for `body`; each part can be spoiled by the test. */
function signedHeaders(
  body: string,
  options: { id?: string; timestamp?: number; secret?: string } = {},
): Record<string, string> {
  const id = options.id ?? `msg_${randomUUID()}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(options.secret ?? SECRET, id, timestamp, body),
  };
}

function suppressionTable(): TableClient {
  return TableClient.fromConnectionString(env.azurite.connectionString, 'optouts', {
    allowInsecureConnection: true,
  });
}

const statusOf = (error: unknown) => (error as { statusCode?: number }).statusCode;

/** The suppression row for a canonical number, or undefined. */
async function suppressionRow(canonical: string): Promise<Record<string, unknown> | undefined> {
  try {
    return await suppressionTable().getEntity<Record<string, unknown>>('optout', canonical);
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

async function suppressionRows(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  try {
    for await (const row of suppressionTable().listEntities<Record<string, unknown>>()) {
      rows.push(row);
    }
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  return rows;
}

async function clearSuppression(): Promise<void> {
  const table = suppressionTable();
  for (const row of await suppressionRows()) {
    await table.deleteEntity(String(row.partitionKey), String(row.rowKey));
  }
}

const queueClient = (name: string) => new QueueClient(env.azurite.connectionString, name);

async function clearQueue(name: string): Promise<void> {
  const queue = queueClient(name);
  if (await queue.exists()) await queue.clearMessages();
}

/** Messages in the queue, visible or not (Azurite counts both). */
async function messageCount(name: string): Promise<number> {
  const queue = queueClient(name);
  if (!(await queue.exists())) return 0;
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

/** Visible messages, decoded, without removing them; waits up to `waitMs` for `atLeast` of them. */
async function peek(name: string, atLeast = 0, waitMs = 0): Promise<unknown[]> {
  const queue = queueClient(name);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const items = (await queue.exists())
      ? (await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems
      : [];
    if (items.length >= atLeast || Date.now() >= deadline) {
      return items.map((item) => decode(item.messageText));
    }
    await sleep(200);
  }
}

/** Receives and deletes one visible message (as the host does when a handler succeeds). */
async function take(name: string, waitMs = 0): Promise<unknown> {
  const queue = queueClient(name);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 1 });
    const item = receivedMessageItems[0];
    if (item) {
      await queue.deleteMessage(item.messageId, item.popReceipt);
      return decode(item.messageText);
    }
    if (Date.now() >= deadline) throw new Error(`No message on ${name} within ${waitMs} ms`);
    await sleep(200);
  }
}

/** A context as the host gives a queue trigger, with the dequeue count it reports. */
function queueContext(dequeueCount = 1) {
  return Object.assign(testContext('opt-out-sync'), { triggerMetadata: { dequeueCount } });
}

function expectNoFullNumber(logs: string[]): void {
  expect(logs.length).toBeGreaterThan(0);
  expect(logs.join('\n')).not.toMatch(UNMASKED);
}

/** The structured line the handler logged. */
function logLine(logs: string[]): Record<string, unknown> {
  const line = logs.find((entry) => entry.includes('"operation"'));
  expect(line).toBeDefined();
  return JSON.parse(line!.slice(line!.indexOf('{'))) as Record<string, unknown>;
}

async function expectOptedOutOnce(): Promise<void> {
  expect(env.simulator.optOuts()).toEqual([{ mobilenumber: NUMBER, count: 1 }]);
  expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'synced' });
}

async function expectNothingDone(): Promise<void> {
  expect(env.simulator.calls()).toHaveLength(0);
  expect(await suppressionRows()).toHaveLength(0);
  expect(await messageCount(SYNC_QUEUE)).toBe(0);
}

/* ---------------------------------------- forms ---------------------------------------- */

describe('webhook forms and aliases', () => {
  const encoded = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const cases: [string, Delivery][] = [
    ['bare JSON', json({ mobilenumber: NUMBER, optoutresponse: 'STOP' })],
    [
      'JSON wrapped in message',
      json({ message: { mobilenumber: NUMBER, optoutresponse: 'STOP' } }),
    ],
    [
      'JSON with a charset parameter',
      { ...json({ mobilenumber: NUMBER }), contentType: 'application/json; charset=utf-8' },
    ],
    [
      'form-encoded',
      {
        body: encoded({ mobilenumber: NUMBER, optoutresponse: 'STOP' }),
        contentType: 'application/x-www-form-urlencoded',
      },
    ],
    [
      'query string on GET',
      { method: 'GET', query: { mobilenumber: NUMBER, optoutresponse: 'STOP' } },
    ],
    ['query string on POST with an empty body', { query: { msisdn: NUMBER, text: 'STOP' } }],
    [
      'query string on POST with an empty JSON-typed body',
      { query: { from: NUMBER }, body: '', contentType: 'application/json' },
    ],
    ['number alias mobile', json({ mobile: NUMBER, optoutresponse: 'STOP' })],
    ['number alias msisdn', json({ msisdn: NUMBER, optoutresponse: 'STOP' })],
    ['number alias from', json({ from: NUMBER, optoutresponse: 'STOP' })],
    ['number alias number', json({ number: NUMBER, optoutresponse: 'STOP' })],
    ['number alias in another case (MSISDN)', json({ MSISDN: NUMBER, Text: 'STOP' })],
    ['reply alias message (a string)', json({ from: NUMBER, message: 'STOP' })],
    ['reply alias text', json({ msisdn: NUMBER, text: 'STOP' })],
    ['reply alias body', json({ number: NUMBER, body: 'STOP' })],
    ['number as written by a person', json({ mobile: '+353 (87) 123-4567', text: 'Stop' })],
    ['no reply text at all (an explicit opt-out)', json({ mobilenumber: NUMBER })],
    ['only returnedresponse', json({ mobilenumber: NUMBER, returnedresponse: 'Customer asked' })],
  ];

  it.each(cases)('%s → 200 opted-out, exactly one opt-out in Sendmode', async (_name, delivery) => {
    const { response, json: body, logs } = await deliver(delivery);
    expect(response.status).toBe(200);
    expect(body).toEqual({ status: 'opted-out' });
    await expectOptedOutOnce();
    const [call] = env.simulator.callsFor('optout');
    expect((call?.payload as { mobilenumber?: unknown }).mobilenumber).toBe(NUMBER);
    expect(await messageCount(SYNC_QUEUE)).toBe(0);
    expectNoFullNumber(logs);
    expect(logLine(logs)).toMatchObject({
      operation: 'opt-out-webhook',
      status: 200,
      outcome: 'success',
      result: 'opted-out',
      recipient: '*********567',
    });
  });

  it('passes the reply text on to Sendmode and keeps it on the suppression row', async () => {
    const { response } = await deliver(
      json({ message: { from: NUMBER, text: 'STOP', returnedresponse: 'Opted out by reply' } }),
    );
    expect(response.status).toBe(200);
    expect(env.simulator.callsFor('optout')[0]?.payload).toEqual({
      mobilenumber: NUMBER,
      optoutresponse: 'STOP',
      returnedresponse: 'Opted out by reply',
    });
    expect(await suppressionRow(CANONICAL)).toMatchObject({
      optoutresponse: 'STOP',
      returnedresponse: 'Opted out by reply',
    });
  });

  it('a JSON number is taken as its digits', async () => {
    const { response } = await deliver(json({ mobilenumber: 353871234567, text: 'STOP' }));
    expect(response.status).toBe(200);
    expect(env.simulator.optOuts()).toEqual([{ mobilenumber: CANONICAL, count: 1 }]);
    expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'synced' });
  });

  it('the body overrides the query string', async () => {
    const { response } = await deliver({
      ...json({ mobilenumber: NUMBER }),
      query: { mobilenumber: '+353861111111' },
    });
    expect(response.status).toBe(200);
    expect(env.simulator.optOuts()).toEqual([{ mobilenumber: NUMBER, count: 1 }]);
  });
});

/* ---------------------------------- repeats and keywords ---------------------------------- */

describe('repeats and keywords', () => {
  it('a repeated opt-out → already-opted-out, with no second upstream call', async () => {
    const first = await deliver(json({ mobilenumber: NUMBER, optoutresponse: 'STOP' }));
    expect(first.json).toEqual({ status: 'opted-out' });
    const again = await deliver(json({ mobilenumber: NUMBER, optoutresponse: 'STOP' }));
    expect(again.response.status).toBe(200);
    expect(again.json).toEqual({ status: 'already-opted-out' });
    expect(env.simulator.callsFor('optout')).toHaveLength(1);
    await expectOptedOutOnce();
  });

  it('the same number written another way (00353 …, no +) is the same opt-out', async () => {
    await deliver(json({ mobilenumber: NUMBER }));
    for (const written of ['00353 87 123 4567', '353871234567']) {
      const again = await deliver({ method: 'GET', query: { from: written, text: 'STOP' } });
      expect(again.json).toEqual({ status: 'already-opted-out' });
    }
    expect(env.simulator.callsFor('optout')).toHaveLength(1);
    expect(await suppressionRows()).toHaveLength(1);
  });

  it.each(['STOP', 'stop please', 'Unsubscribe', ' STOP. ', 'Opt-out', 'quit'])(
    'reply %j → opted out',
    async (reply) => {
      const { response, json: body } = await deliver(json({ from: NUMBER, text: reply }));
      expect(response.status).toBe(200);
      expect(body).toEqual({ status: 'opted-out' });
      await expectOptedOutOnce();
    },
  );

  it.each(['hello', "don't stop", 'STOPPED', ''])(
    'reply %j → 200 ignored: no suppression row, no upstream call',
    async (reply) => {
      const { response, json: body, logs } = await deliver(json({ from: NUMBER, text: reply }));
      expect(response.status).toBe(200);
      expect(body).toMatchObject({ status: 'ignored' });
      await expectNothingDone();
      expectNoFullNumber(logs);
    },
  );

  it('OPT_OUT_KEYWORDS replaces the defaults', async () => {
    await env.configure({ OPT_OUT_KEYWORDS: 'HALT, Remove' });
    const stop = await deliver(json({ from: NUMBER, text: 'STOP' }));
    expect(stop.json).toMatchObject({ status: 'ignored' });
    await expectNothingDone();

    const halt = await deliver(json({ from: NUMBER, text: 'halt now' }));
    expect(halt.json).toEqual({ status: 'opted-out' });
    const remove = await deliver(json({ from: '+353861234567', text: 'REMOVE' }));
    expect(remove.json).toEqual({ status: 'opted-out' });
    expect(env.simulator.callsFor('optout')).toHaveLength(2);
  });
});

/* -------------------------------------- signatures -------------------------------------- */

describe('signatures (WEBHOOK_SIGNING_SECRET set)', () => {
  const body = JSON.stringify({ mobilenumber: NUMBER, optoutresponse: 'STOP' });
  const signed = (headers: Record<string, string>, text = body): Delivery => ({
    body: text,
    contentType: 'application/json',
    headers,
  });

  beforeEach(async () => {
    await env.configure({ WEBHOOK_SIGNING_SECRET: SECRET });
  });

  async function expectRejected(delivery: Delivery): Promise<void> {
    const { response, json: problem } = await deliver(delivery);
    expect(response.status).toBe(401);
    expect(header(response, 'content-type')).toBe('application/problem+json');
    expect(problem).toMatchObject({
      status: 401,
      type: 'urn:sendmode-connector:problem:unauthorized',
    });
    expect(String(response.body)).not.toContain(SECRET);
    await expectNothingDone();
  }

  it('a valid signature → 200 opted-out', async () => {
    const { response, json: answer } = await deliver(signed(signedHeaders(body)));
    expect(response.status).toBe(200);
    expect(answer).toEqual({ status: 'opted-out' });
    await expectOptedOutOnce();
  });

  it('a GET, even validly signed (over its empty body) → 405 saying why, nothing done', async () => {
    const { response, json: problem } = await deliver({
      method: 'GET',
      query: { from: NUMBER, text: 'STOP' },
      headers: signedHeaders(''),
    });
    expect(response.status).toBe(405);
    expect(header(response, 'allow')).toBe('POST');
    expect(problem).toMatchObject({ type: 'urn:sendmode-connector:problem:method-not-allowed' });
    expect(String(problem.detail)).toMatch(/signature covers the body only/);
    await expectNothingDone();
  });

  it('the query string is not read: a signed STOP with an unsigned ?text=START opts out', async () => {
    const stop = JSON.stringify({ mobilenumber: NUMBER });
    const { response, json: answer } = await deliver({
      ...signed(signedHeaders(stop), stop),
      query: { text: 'START', mobilenumber: '+353870000001' },
    });
    expect(response.status).toBe(200);
    expect(answer).toEqual({ status: 'opted-out' });
    await expectOptedOutOnce();
  });

  it('a signed body without the number, which only the query string gives → 400', async () => {
    const empty = JSON.stringify({ optoutresponse: 'STOP' });
    const { response } = await deliver({
      ...signed(signedHeaders(empty), empty),
      query: { mobilenumber: NUMBER },
    });
    expect(response.status).toBe(400);
    await expectNothingDone();
  });

  it('no signature at all → 401', async () => {
    await expectRejected(signed({}));
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])(
    'without %s → 401',
    async (name) => {
      const headers = signedHeaders(body);
      delete headers[name];
      await expectRejected(signed(headers));
    },
  );

  it('signed with the wrong secret → 401', async () => {
    await expectRejected(
      signed(signedHeaders(body, { secret: 'whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==' })),
    );
  });

  it('a tampered body → 401', async () => {
    const tampered = JSON.stringify({ mobilenumber: '+353861234567', optoutresponse: 'STOP' });
    await expectRejected(signed(signedHeaders(body), tampered));
  });

  it('a tampered webhook-id → 401', async () => {
    const headers = signedHeaders(body);
    headers['webhook-id'] = `${headers['webhook-id']}x`;
    await expectRejected(signed(headers));
  });

  it('expired (6 minutes old) → 401', async () => {
    const old = Math.floor(Date.now() / 1000) - 360;
    await expectRejected(signed(signedHeaders(body, { timestamp: old })));
  });

  it('from the future (6 minutes ahead) → 401', async () => {
    const ahead = Math.floor(Date.now() / 1000) + 360;
    await expectRejected(signed(signedHeaders(body, { timestamp: ahead })));
  });

  it('4 minutes old is within the tolerance → 200', async () => {
    const recent = Math.floor(Date.now() / 1000) - 240;
    const { response } = await deliver(signed(signedHeaders(body, { timestamp: recent })));
    expect(response.status).toBe(200);
  });

  it('a replayed webhook-id after success → 401, even freshly signed; no second call', async () => {
    const id = `msg_${randomUUID()}`;
    const headers = signedHeaders(body, { id });
    expect((await deliver(signed(headers))).response.status).toBe(200);

    const exact = await deliver(signed(headers));
    expect(exact.response.status).toBe(401);
    expect(exact.json.detail).toMatch(/already handled/);

    const other = JSON.stringify({ mobilenumber: '+353861234567', optoutresponse: 'STOP' });
    const resigned = await deliver(signed(signedHeaders(other, { id }), other));
    expect(resigned.response.status).toBe(401);
    expect(env.simulator.callsFor('optout')).toHaveLength(1);
    expect(await suppressionRows()).toHaveLength(1);
  });

  it('an ignored (non-keyword) delivery is remembered too: its replay → 401', async () => {
    const hello = JSON.stringify({ from: NUMBER, text: 'hello' });
    const headers = signedHeaders(hello);
    expect((await deliver(signed(headers, hello))).json).toMatchObject({ status: 'ignored' });
    expect((await deliver(signed(headers, hello))).response.status).toBe(401);
  });

  it('a webhook-id whose first delivery failed (storage down → 503) is accepted on retry', async () => {
    const headers = signedHeaders(body);
    await env.azurite.stop();
    try {
      const failed = await deliver(signed(headers));
      expect(failed.response.status).toBe(503);
      expect(env.simulator.calls()).toHaveLength(0);
    } finally {
      await env.azurite.start();
    }
    const retried = await deliver(signed(headers));
    expect(retried.response.status).toBe(200);
    expect(retried.json).toEqual({ status: 'opted-out' });
    await expectOptedOutOnce();
    // …and now it is remembered.
    expect((await deliver(signed(headers))).response.status).toBe(401);
  });

  it('the same signed delivery twice at once → handled once: one 200, the replay 401', async () => {
    // Replay protection must hold for a copy racing the original, not only for a later one.
    env.simulator.injectFault({ kind: 'latency', latencyMs: 200, operation: 'optout' });
    const headers = signedHeaders(body);
    const answers = await Promise.all([deliver(signed(headers)), deliver(signed(headers))]);
    expect(env.simulator.callsFor('optout')).toHaveLength(1);
    expect(answers.map((answer) => answer.response.status).sort()).toEqual([200, 401]);
  });

  it('a delivery refused as invalid (400) does not use up its webhook-id', async () => {
    // A 400 did nothing, so the sender's retry of the same id (a fixed body, signed anew) is taken.
    const id = `msg_${randomUUID()}`;
    const broken = JSON.stringify({ optoutresponse: 'STOP' });
    const first = await deliver(signed(signedHeaders(broken, { id }), broken));
    expect(first.response.status).toBe(400);
    const fixed = await deliver(signed(signedHeaders(body, { id })));
    expect(fixed.response.status).toBe(200);
  });
});

describe('signing secret from Key Vault (WEBHOOK_SIGNING_SECRET_NAME)', () => {
  let vault: KeyVaultFake;
  let restore: () => void;

  beforeAll(async () => {
    vault = await startKeyVaultFake({
      'sendmode-api-key': TEST_API_KEY,
      'webhook-signing': SECRET,
    });
    restore = useFakeManagedIdentity(vault);
  });
  afterAll(async () => {
    restore?.();
    await vault?.close();
  });

  it('verifies with the vault secret; a local WEBHOOK_SIGNING_SECRET is not used', async () => {
    await env.configure({
      KEY_VAULT_URI: vault.url,
      SENDMODE_API_KEY: undefined,
      WEBHOOK_SIGNING_SECRET_NAME: 'webhook-signing',
      WEBHOOK_SIGNING_SECRET: 'a-local-secret-that-must-not-count',
    });
    const body = JSON.stringify({ mobilenumber: NUMBER });
    const local = await deliver({
      body,
      contentType: 'application/json',
      headers: signedHeaders(body, { secret: 'a-local-secret-that-must-not-count' }),
    });
    expect(local.response.status).toBe(401);
    expect(env.simulator.calls()).toHaveLength(0);

    const good = await deliver({
      body,
      contentType: 'application/json',
      headers: signedHeaders(body),
    });
    expect(good.response.status).toBe(200);
    await expectOptedOutOnce();
    expect(vault.secretRequests()).toBeGreaterThan(0);
  });

  it('a secret rotated in the vault works at once; a flood of bad signatures reads the vault no more', async () => {
    await env.configure({
      KEY_VAULT_URI: vault.url,
      SENDMODE_API_KEY: undefined,
      WEBHOOK_SIGNING_SECRET_NAME: 'webhook-signing',
    });
    const stop = (number: string, secret: string) => {
      const body = JSON.stringify({ mobilenumber: number });
      return deliver({
        body,
        contentType: 'application/json',
        headers: signedHeaders(body, { secret }),
      });
    };
    expect((await stop('+353870000011', SECRET)).response.status).toBe(200);
    const rotated = `whsec_${Buffer.from('the-rotated-signing-key-of-this-test').toString('base64')}`;
    vault.setSecret('webhook-signing', rotated);
    try {
      // The cached secret fails; read once more from the vault, the new one passes.
      expect((await stop('+353870000012', rotated)).response.status).toBe(200);
      const before = vault.secretRequests();
      const flood = await Promise.all(
        Array.from({ length: 20 }, () => stop('+353870000013', 'whsec_bm90LXRoZS1zZWNyZXQ=')),
      );
      expect(flood.map((answer) => answer.response.status)).toEqual(Array(20).fill(401));
      expect(vault.secretRequests() - before).toBe(0);
    } finally {
      vault.setSecret('webhook-signing', SECRET);
    }
  });
});

/* -------------------------------------- durability -------------------------------------- */

describe('durability while Sendmode is failing', () => {
  const stop = json({ mobilenumber: NUMBER, optoutresponse: 'STOP' });
  const faults: [string, FaultSpec][] = [
    ['HTTP 503', { kind: 'http-error', httpStatus: 503, operation: 'optout' }],
    ['HTTP 429 from Sendmode', { kind: 'rate-limit', retryAfterSeconds: 1, operation: 'optout' }],
    [
      'no answer within SENDMODE_HEADERS_TIMEOUT_MS',
      { kind: 'latency', latencyMs: 1_500, operation: 'optout' },
    ],
    ['SYSTEM_ERROR', { kind: 'system-error', operation: 'optout' }],
  ];

  it.each(faults)(
    '%s → 202 queued, suppressed at once; synced once Sendmode recovers; synced only once',
    async (_name, fault) => {
      env.simulator.injectFault(fault);
      const { response, json: body, logs } = await deliver(stop);
      expect(response.status).toBe(202);
      expect(body).toEqual({ status: 'queued' });
      expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'pending' });
      expect(env.simulator.optOuts()).toEqual([]);
      expectNoFullNumber(logs);

      const [message] = await peek(SYNC_QUEUE, 1);
      expect(await messageCount(SYNC_QUEUE)).toBe(1);
      expect(message).toEqual({ mobilenumber: NUMBER, optoutresponse: 'STOP' });

      // While pending, the number is already suppressed for sends.
      const blocked = await sendSms(
        new HttpRequest({
          method: 'POST',
          url: 'http://localhost/api/sms',
          headers: { 'content-type': 'application/json' },
          body: { string: JSON.stringify({ messagetext: 'Hi', recipients: [NUMBER] }) },
        }),
        testContext('send-sms'),
      );
      expect(blocked.status).toBe(422);

      env.simulator.clearFaults();
      const callsBefore = env.simulator.callsFor('optout').length;
      const context = queueContext(1);
      await optOutSync(await take(SYNC_QUEUE), context);
      await expectOptedOutOnce();
      expect(env.simulator.callsFor('optout')).toHaveLength(callsBefore + 1);
      expect(await messageCount(SYNC_QUEUE)).toBe(0);
      expect(await messageCount(POISON_QUEUE)).toBe(0);
      expectNoFullNumber(context.logs);
      expect(logLine(context.logs)).toMatchObject({ operation: 'opt-out-sync', outcome: 'done' });

      // At-least-once delivery: the same message again makes no second upstream call.
      await optOutSync(message, queueContext(2));
      expect(env.simulator.callsFor('optout')).toHaveLength(callsBefore + 1);
      expect(await messageCount(SYNC_QUEUE)).toBe(0);
      // And the webhook repeated now says so.
      expect((await deliver(stop)).json).toEqual({ status: 'already-opted-out' });
      expect(env.simulator.callsFor('optout')).toHaveLength(callsBefore + 1);
    },
  );

  it('the shared limit exhausted → 202 queued without calling Sendmode', async () => {
    await env.configure({ RATE_LIMIT_MAX_CALLS: '1' });
    expect((await deliver(json({ mobilenumber: '+353861234567' }))).response.status).toBe(200);
    const { response, json: body } = await deliver(stop);
    expect(response.status).toBe(202);
    expect(body).toEqual({ status: 'queued' });
    expect(env.simulator.callsFor('optout')).toHaveLength(1);
    expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'pending' });
    expect(await peek(SYNC_QUEUE, 1)).toEqual([{ mobilenumber: NUMBER, optoutresponse: 'STOP' }]);
  });

  it('Sendmode refusing the API key → 202 queued (the operator fixes the key), and the sync retries rather than parks', async () => {
    env.simulator.setApiKeys(['a-rotated-key']);
    const { response, json: body } = await deliver(stop);
    expect(response.status).toBe(202);
    expect(body).toEqual({ status: 'queued' });
    expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'pending' });
    const message = await take(SYNC_QUEUE);

    const context = queueContext(1);
    await optOutSync(message, context);
    expect(logLine(context.logs)).toMatchObject({ outcome: 'retry' });
    expect(await messageCount(POISON_QUEUE)).toBe(0);
    expect(await messageCount(SYNC_QUEUE)).toBe(1);

    env.simulator.setApiKeys([TEST_API_KEY]);
    await optOutSync(message, queueContext(1));
    await expectOptedOutOnce();
  });

  it('the sync message as plain JSON text (not yet parsed by the host) works too', async () => {
    env.simulator.injectFault({ kind: 'http-error', httpStatus: 503, operation: 'optout' });
    await deliver(stop);
    env.simulator.clearFaults();
    const message = await take(SYNC_QUEUE);
    await optOutSync(JSON.stringify(message), queueContext(1));
    await expectOptedOutOnce();
  });

  it('sync while Sendmode still fails → re-enqueued with an attempt count, not thrown; then synced', async () => {
    env.simulator.injectFault({ kind: 'http-error', httpStatus: 503, operation: 'optout' });
    await deliver(stop);
    const message = await take(SYNC_QUEUE);

    const context = queueContext(1);
    await expect(optOutSync(message, context)).resolves.toBeUndefined();
    expect(logLine(context.logs)).toMatchObject({ outcome: 'retry', attempt: 1 });
    expect(await messageCount(SYNC_QUEUE)).toBe(1);
    expect(await messageCount(POISON_QUEUE)).toBe(0);
    expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'pending' });

    // QUEUE_RETRY_BASE_SECONDS=1: the retry becomes visible after about a second.
    const retry = await take(SYNC_QUEUE, 5_000);
    expect(retry).toMatchObject({
      kind: 'sendmode-connector/retry',
      attempts: 1,
      deferrals: 0,
      lastError: expect.any(String),
      payload: { mobilenumber: NUMBER, optoutresponse: 'STOP' },
    });
    expect(JSON.stringify(retry)).not.toContain(TEST_API_KEY);

    // Still failing: the attempt count grows; opt-outs are never parked for being transient.
    const second = queueContext(1);
    await optOutSync(retry, second);
    expect(logLine(second.logs)).toMatchObject({ outcome: 'retry', attempt: 2 });
    expect(await take(SYNC_QUEUE, 5_000)).toMatchObject({ attempts: 2 });

    env.simulator.clearFaults();
    await optOutSync(retry, queueContext(1));
    await expectOptedOutOnce();
    expect(await messageCount(SYNC_QUEUE)).toBe(0);
    expect(await messageCount(POISON_QUEUE)).toBe(0);
  });

  it('sync meeting the shared limit → deferred (no attempt used), not called upstream', async () => {
    env.simulator.injectFault({
      kind: 'http-error',
      httpStatus: 503,
      operation: 'optout',
      times: 1,
    });
    await deliver(stop);
    const message = await take(SYNC_QUEUE);
    // A new account with one call a window, used up by another opt-out.
    await env.configure({
      SENDMODE_ACCOUNT_NAME: `deferred${Date.now()}`,
      RATE_LIMIT_MAX_CALLS: '1',
    });
    expect((await deliver(json({ mobilenumber: '+353861234567' }))).response.status).toBe(200);
    const calls = env.simulator.callsFor('optout').length;

    const context = queueContext(1);
    await optOutSync(message, context);
    expect(logLine(context.logs)).toMatchObject({ outcome: 'defer', deferrals: 0 });
    expect(env.simulator.callsFor('optout')).toHaveLength(calls);
    expect(await messageCount(SYNC_QUEUE)).toBe(1);
    expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'pending' });
  });
});

/* ---------------------------------- permanent rejection ---------------------------------- */

describe('permanent rejection by Sendmode', () => {
  const rejection: FaultSpec = {
    kind: 'sendmode-error',
    status: 'INVALID_MOBILE_NUMBER',
    statusCode: 11,
    operation: 'optout',
  };

  it('on the webhook → 502 with the upstream status; the number stays suppressed', async () => {
    env.simulator.injectFault(rejection);
    const {
      response,
      json: problem,
      logs,
    } = await deliver(json({ mobilenumber: NUMBER, optoutresponse: 'STOP' }));
    expect(response.status).toBe(502);
    expect(header(response, 'content-type')).toBe('application/problem+json');
    expect(problem).toMatchObject({
      status: 502,
      upstream: { status: 'INVALID_MOBILE_NUMBER', statusCode: 11 },
    });
    expect(logLine(logs)).toMatchObject({ upstreamStatusCode: 11 });
    expectNoFullNumber(logs);
    expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'rejected' });
    expect(await messageCount(SYNC_QUEUE)).toBe(0);

    env.simulator.clearFaults();
    const send = await sendSms(
      new HttpRequest({
        method: 'POST',
        url: 'http://localhost/api/sms',
        headers: { 'content-type': 'application/json' },
        body: {
          string: JSON.stringify({ messagetext: 'Hi', recipients: [NUMBER, '+353861234567'] }),
        },
      }),
      testContext('send-sms'),
    );
    expect(send.status).toBe(200);
    expect(parse(send).skippedRecipients).toEqual([{ recipient: NUMBER, reason: 'opted-out' }]);
    expect(env.simulator.callsFor('send')[0]?.payload).toMatchObject({
      recipients: ['+353861234567'],
    });
  });

  it('on the sync queue → parked in optout-sync-poison with the reason and upstream status', async () => {
    env.simulator.injectFault({
      kind: 'http-error',
      httpStatus: 503,
      operation: 'optout',
      times: 1,
    });
    await deliver(json({ mobilenumber: NUMBER, optoutresponse: 'STOP' }));
    const message = await take(SYNC_QUEUE);

    env.simulator.injectFault(rejection);
    const context = queueContext(1);
    await expect(optOutSync(message, context)).resolves.toBeUndefined();
    expect(logLine(context.logs)).toMatchObject({ outcome: 'poison' });
    expectNoFullNumber(context.logs);

    expect(await messageCount(SYNC_QUEUE)).toBe(0);
    const poison = await peek(POISON_QUEUE, 1);
    expect(poison).toHaveLength(1);
    expect(poison[0]).toMatchObject({
      reason: expect.stringMatching(/Sendmode rejected/),
      upstream: { status: 'INVALID_MOBILE_NUMBER', statusCode: 11 },
      attempts: 1,
      failedAt: expect.any(String),
      message: { mobilenumber: NUMBER, optoutresponse: 'STOP' },
    });
    expect(await suppressionRow(CANONICAL)).toMatchObject({ state: 'rejected' });
  });

  it('an invalid message on the sync queue → parked with each bad field', async () => {
    await optOutSync({ optoutresponse: 'STOP' }, queueContext(1));
    const [poison] = await peek(POISON_QUEUE, 1);
    expect(poison).toMatchObject({
      reason: expect.any(String),
      errors: [{ field: 'mobilenumber' }],
      message: { optoutresponse: 'STOP' },
    });
    expect(env.simulator.calls()).toHaveLength(0);
  });
});

/* --------------------------------- malformed and hostile --------------------------------- */

describe('malformed and hostile deliveries', () => {
  it('no number → 400 naming mobilenumber', async () => {
    const { response, json: problem } = await deliver(json({ optoutresponse: 'STOP' }));
    expect(response.status).toBe(400);
    expect(header(response, 'content-type')).toBe('application/problem+json');
    expect(problem.errors).toEqual([{ field: 'mobilenumber', message: expect.any(String) }]);
    await expectNothingDone();
  });

  it('GET with no query at all → 400 naming mobilenumber', async () => {
    const { response, json: problem } = await deliver({ method: 'GET' });
    expect(response.status).toBe(400);
    expect(problem.errors).toEqual([{ field: 'mobilenumber', message: expect.any(String) }]);
    await expectNothingDone();
  });

  it.each([
    ['not a number', { msisdn: 'call me maybe' }, 'msisdn'],
    ['too short', { mobile: '12345' }, 'mobile'],
    ['an object', { mobilenumber: { value: NUMBER } }, 'mobilenumber'],
    ['reply text not a string', { mobilenumber: NUMBER, text: ['STOP'] }, 'text'],
  ])('number or reply %s → 400 naming the field as sent', async (_name, body, field) => {
    const { response, json: problem } = await deliver(json(body));
    expect(response.status).toBe(400);
    expect(problem.errors).toEqual([expect.objectContaining({ field })]);
    expect(String(response.body)).not.toMatch(UNMASKED);
    await expectNothingDone();
  });

  it('malformed JSON → 400 naming the body, without echoing it', async () => {
    const {
      response,
      json: problem,
      logs,
    } = await deliver({
      body: `{"mobilenumber": "${NUMBER}", "optoutresponse": "STOP"`,
      contentType: 'application/json',
    });
    expect(response.status).toBe(400);
    expect(problem.errors).toEqual([{ field: 'body', message: 'is not valid JSON' }]);
    expect(String(response.body)).not.toMatch(UNMASKED);
    expectNoFullNumber(logs);
    await expectNothingDone();
  });

  it.each([
    ['an array', JSON.stringify([{ mobilenumber: NUMBER }])],
    ['a string', JSON.stringify(NUMBER)],
    ['null', 'null'],
  ])('a JSON body that is %s → 400', async (_name, body) => {
    const { response } = await deliver({ body, contentType: 'application/json' });
    expect(response.status).toBe(400);
    await expectNothingDone();
  });

  it('text/plain → 415', async () => {
    const { response } = await deliver({ body: `${NUMBER} STOP`, contentType: 'text/plain' });
    expect(response.status).toBe(415);
    expect(header(response, 'content-type')).toBe('application/problem+json');
    await expectNothingDone();
  });

  it('a body without a content type → 415', async () => {
    const { response } = await deliver({ body: JSON.stringify({ mobilenumber: NUMBER }) });
    expect(response.status).toBe(415);
    await expectNothingDone();
  });

  it('a body over 64 KiB → 413', async () => {
    const big = JSON.stringify({ mobilenumber: NUMBER, returnedresponse: 'x'.repeat(70_000) });
    const { response } = await deliver({ body: big, contentType: 'application/json' });
    expect(response.status).toBe(413);
    const form = `mobilenumber=${encodeURIComponent(NUMBER)}&text=${'x'.repeat(70_000)}`;
    const formResponse = await deliver({
      body: form,
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(formResponse.response.status).toBe(413);
    await expectNothingDone();
  });

  it('an over-long reply text → 400, not truncated into a keyword', async () => {
    const { response, json: problem } = await deliver(
      json({ mobilenumber: NUMBER, text: `STOP ${'x'.repeat(2_000)}` }),
    );
    expect(response.status).toBe(400);
    expect(problem.errors).toEqual([expect.objectContaining({ field: 'text' })]);
    await expectNothingDone();
  });

  it('__proto__ and constructor keys are handled without a crash or pollution', async () => {
    const hostile =
      `{"__proto__": {"mobilenumber": "+353861234567", "polluted": true},` +
      ` "constructor": {"prototype": {"polluted": true}},` +
      ` "mobilenumber": "${NUMBER}", "optoutresponse": "STOP"}`;
    const { response, json: body } = await deliver({
      body: hostile,
      contentType: 'application/json',
    });
    expect(response.status).toBe(200);
    expect(body).toEqual({ status: 'opted-out' });
    expect(env.simulator.optOuts()).toEqual([{ mobilenumber: NUMBER, count: 1 }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).mobilenumber).toBeUndefined();
  });

  it('a number only under __proto__ → 400, not taken', async () => {
    const hostile = '{"__proto__": {"mobilenumber": "+353861234567"}, "text": "STOP"}';
    const wrapped = '{"message": {"__proto__": {"from": "+353861234567"}, "constructor": "STOP"}}';
    for (const body of [hostile, wrapped]) {
      const { response } = await deliver({ body, contentType: 'application/json' });
      expect(response.status).toBe(400);
    }
    const form = await deliver({
      body: '__proto__=%2B353861234567&constructor=STOP&toString=1',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(form.response.status).toBe(400);
    const query = await deliver({
      method: 'GET',
      search: '?__proto__=%2B353861234567&hasOwnProperty=x&valueOf=STOP',
    });
    expect(query.response.status).toBe(400);
    await expectNothingDone();
    expect(({} as Record<string, unknown>).mobilenumber).toBeUndefined();
  });

  it('form fields named __proto__ next to a real number work', async () => {
    const { response } = await deliver({
      body: `__proto__=x&constructor=y&from=${encodeURIComponent(NUMBER)}&text=STOP`,
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(response.status).toBe(200);
    await expectOptedOutOnce();
  });

  it('storage down → 503 with Retry-After, and zero upstream calls', async () => {
    await env.azurite.stop();
    try {
      const {
        response,
        json: problem,
        logs,
      } = await deliver(json({ mobilenumber: NUMBER, optoutresponse: 'STOP' }));
      expect(response.status).toBe(503);
      expect(header(response, 'retry-after')).toMatch(/^\d+$/);
      expect(problem).toMatchObject({ status: 503 });
      expect(String(response.body)).not.toMatch(/AccountKey|Eby8vdM02/);
      expect(env.simulator.calls()).toHaveLength(0);
      expectNoFullNumber(logs);
    } finally {
      await env.azurite.start();
    }
  });
});
