/**
 * The send queue in this process, on Azurite and the simulator: `POST /api/sms` with
 * `Prefer: respond-async`, the status routes, and every producer form and end state of a message
 * on `sms-outbox` (the handler run as the host runs it: test/helpers/outbox.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { sendSms } from '../functions/send-sms.js';
import { smsStatus, smsStatusByToken } from '../functions/sms-status.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { drainOutbox } from './helpers/outbox.js';
import { messageCount, takeMessages } from './helpers/queues.js';

const run = Math.random().toString(36).slice(2, 8);
const OUTBOX = `outbox-${run}`;
const POISON = `${OUTBOX}-poison`;
let env: AppEnv;
let account = 0;

beforeAll(async () => {
  env = await startAppEnv({
    SEND_QUEUE_NAME: OUTBOX,
    SEND_STATUS_TABLE_NAME: `status${run}`,
    SUPPRESSION_TABLE_NAME: `optouts${run}`,
    QUEUE_RETRY_BASE_SECONDS: '1',
    QUEUE_RETRY_MAX_SECONDS: '1',
  });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `outbox${run}${(account += 1)}`,
    SENDMODE_API_VERSION: undefined,
    SENDMODE_BASE_URL: env.simulator.url,
    DEFAULT_SENDER_ID: undefined,
  });
  for (const name of [OUTBOX, POISON]) {
    const queue = new QueueClient(env.azurite.connectionString, name);
    if (await queue.exists()) await queue.clearMessages();
  }
});

const ORIGIN = 'https://sms.example.net';
const valid = { messagetext: 'Your order has shipped', recipients: ['+353 87 123 4567'] };

function post(body: unknown, headers: Record<string, string> = {}) {
  return sendSms(
    new HttpRequest({
      method: 'POST',
      url: `${ORIGIN}/api/sms`,
      headers: { 'content-type': 'application/json', prefer: 'respond-async', ...headers },
      body: { string: JSON.stringify(body) },
    }),
    testContext('send-sms'),
  );
}

/** GET as a Logic Apps poller does: the URL as given, no headers. */
function follow(url: string) {
  const parsed = new URL(url);
  const [, , , id] = parsed.pathname.split('/');
  return smsStatusByToken(
    new HttpRequest({ method: 'GET', url, params: { id: decodeURIComponent(id ?? '') } }),
    testContext('sms-status'),
  );
}

function getById(id: string) {
  return smsStatus(
    new HttpRequest({
      method: 'GET',
      url: `${ORIGIN}/api/sms/${encodeURIComponent(id)}`,
      params: { id },
    }),
    testContext('sms-status'),
  );
}

const json = (response: HttpResponseInit) =>
  JSON.parse(String(response.body)) as Record<string, unknown>;
const header = (response: HttpResponseInit, name: string) =>
  (response.headers as Record<string, string> | undefined)?.[name];
const drain = (quietMs = 0) => drainOutbox(env.azurite.connectionString, OUTBOX, { quietMs });
const outboxDepth = () => messageCount(env.azurite.connectionString, OUTBOX);

async function drop(text: string) {
  const queue = new QueueClient(env.azurite.connectionString, OUTBOX);
  await queue.createIfNotExists();
  return (await queue.sendMessage(text)).messageId;
}

describe('POST /api/sms with Prefer: respond-async', () => {
  it('answers 202 at once with Location, Retry-After and the status; sends once when drained', async () => {
    const accepted = await post(valid);
    expect(accepted.status).toBe(202);
    const body = json(accepted);
    expect(body).toMatchObject({ id: expect.any(String), status: 'queued' });
    expect(Date.parse(String(body.expectedAt))).not.toBeNaN();
    const location = header(accepted, 'location') ?? '';
    expect(location).toBe(body.statusUrl);
    expect(location.startsWith(`${ORIGIN}/api/sms/`)).toBe(true);
    expect(location).not.toMatch(/code=/);
    expect(Number(header(accepted, 'retry-after'))).toBeGreaterThanOrEqual(1);
    expect(header(accepted, 'preference-applied')).toBe('respond-async');
    // Queued, not sent.
    expect(env.simulator.callsFor('send')).toHaveLength(0);
    const waiting = await follow(location);
    expect(waiting.status).toBe(202);
    expect(json(waiting)).toMatchObject({ id: body.id, status: 'queued' });
    expect(header(waiting, 'location')).toBe(location);

    await drain();
    expect(env.simulator.callsFor('send')).toHaveLength(1);
    const done = await follow(location);
    expect(done.status).toBe(200);
    const answer = json(done);
    expect(answer).toMatchObject({
      status: 'OK',
      statusCode: 0,
      id: body.id,
      message: { recipients: ['+353871234567'] },
    });
    expect(Date.parse(String(answer.sentAt))).not.toBeNaN();
    // The keyed route answers the same for the same id.
    expect(json(await getById(String(body.id)))).toEqual(answer);
  });

  it('a status URL with another token, or an unknown id, answers 404', async () => {
    const location = header(await post(valid), 'location') ?? '';
    const forged = location.replace(/token=[^&]+/, `token=${'A'.repeat(43)}`);
    expect((await follow(forged)).status).toBe(404);
    expect((await follow(location.replace(/token=[^&]+/, ''))).status).toBe(404);
    expect((await getById('no-such-send')).status).toBe(404);
  });

  it('refuses what a synchronous send would refuse, before anything is queued', async () => {
    expect((await post({ ...valid, recipients: ['not a number'] })).status).toBe(400);
    expect((await post({ messagetext: '' })).status).toBe(400);
    await env.configure({ SENDMODE_API_VERSION: 'v3', SENDMODE_BASE_URL: env.simulator.urlV3 });
    // v3 needs a sender id: refused now, not parked later.
    expect((await post(valid)).status).toBe(400);
    expect(await outboxDepth()).toBe(0);
  });

  it('an Idempotency-Key retry answers the same id and queues nothing more', async () => {
    const key = { 'idempotency-key': `k-${Math.random()}` };
    const first = await post(valid, key);
    const again = await post(valid, key);
    expect(again.status).toBe(202);
    expect(json(again).id).toBe(json(first).id);
    expect(header(again, 'idempotent-replayed')).toBe('true');
    expect(await outboxDepth()).toBe(1);
    expect((await post({ ...valid, messagetext: 'Another' }, key)).status).toBe(422);
  });

  it('without the preference, a send is synchronous as before', async () => {
    const response = await post(valid, { prefer: 'return=minimal' });
    expect(response.status).toBe(200);
    expect(header(response, 'preference-applied')).toBeUndefined();
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });
});

describe('messages on sms-outbox', () => {
  it('takes every producer form: plain, a JSON string, base64, wrapped, with and without id', async () => {
    const plainId = await drop(JSON.stringify({ ...valid, recipients: ['+353870000001'] }));
    await drop(JSON.stringify({ id: 'order-2', ...valid, recipients: ['+353870000002'] }));
    await drop(
      Buffer.from(
        JSON.stringify({ id: 'order-3', message: { ...valid, recipients: ['+353870000003'] } }),
      ).toString('base64'),
    );
    await drop(
      JSON.stringify({ id: 'order-4', message: { ...valid, recipients: ['+353870000004'] } }),
    );
    // Until empty: a send that waited to share a call comes back once the call is made.
    await drainOutbox(env.azurite.connectionString, OUTBOX, { untilEmpty: true });
    const sent = env.simulator
      .callsFor('send')
      .flatMap((c) => (c.payload as { recipients: string[] }).recipients)
      .sort();
    expect(sent).toEqual(['+353870000001', '+353870000002', '+353870000003', '+353870000004']);
    // Without an id, the Storage message id is its id.
    for (const id of [plainId, 'order-2', 'order-3', 'order-4']) {
      expect((await getById(id)).status).toBe(200);
    }
  });

  it('parks bad input in poison at once, with the reason, and records the failure', async () => {
    await drop(JSON.stringify({ id: 'bad-1', messagetext: 'x', recipients: ['nope'] }));
    await drop('not json at all');
    await drop(JSON.stringify({ id: 'x'.repeat(129), ...valid }));
    await drain();
    expect(env.simulator.callsFor('send')).toHaveLength(0);
    const parked = (await takeMessages(env.azurite.connectionString, POISON, 3, 3_000)).map(
      (m) => m.body as Record<string, unknown>,
    );
    expect(parked).toHaveLength(3);
    for (const p of parked)
      expect(p).toMatchObject({ reason: 'The message is not a valid request.', attempts: 1 });
    expect(JSON.stringify(parked)).toMatch(/recipients\/0/);
    expect(JSON.stringify(parked)).toMatch(/"field":"id"/);
    const failed = await getById('bad-1');
    expect(failed.status).toBe(400);
    expect(json(failed)).toMatchObject({ type: 'urn:sendmode-connector:problem:validation' });
  });

  it('checks opt-outs when the send goes out, not when it was queued', async () => {
    const accepted = json(await post({ ...valid, recipients: ['+353870000011', '+353870000012'] }));
    const alone = json(await post({ ...valid, recipients: ['+353870000012'] }));
    const { suppression } = await getServices();
    await suppression.apply({
      number: '+353870000012',
      action: 'opt-out',
      source: 'api',
      eventAt: Date.now(),
    });
    await drainOutbox(env.azurite.connectionString, OUTBOX, { untilEmpty: true });
    const calls = env.simulator.callsFor('send');
    expect(calls).toHaveLength(1);
    expect((calls[0]?.payload as { recipients: string[] }).recipients).toEqual(['+353870000011']);
    const partly = await follow(String(accepted.statusUrl));
    expect(partly.status).toBe(200);
    expect(json(partly).skippedRecipients).toEqual([
      { recipient: '+353870000012', reason: 'opted-out' },
    ]);
    // Everyone opted out: the synchronous answer (422), and nothing parked.
    const none = await follow(String(alone.statusUrl));
    expect(none.status).toBe(422);
    expect(await messageCount(env.azurite.connectionString, POISON)).toBe(0);
  });

  it('a duplicate drop of an id already sent is not sent again', async () => {
    const message = JSON.stringify({ id: 'once', ...valid });
    await drop(message);
    await drain();
    await drop(message);
    await drain();
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('a permanent rejection fails the send with the 502 a synchronous send answers, and parks it', async () => {
    env.simulator.injectFault({ kind: 'sendmode-error', operation: 'send', times: 1 });
    await drop(JSON.stringify({ id: 'rejected', ...valid }));
    await drain();
    const failed = await getById('rejected');
    expect(failed.status).toBe(502);
    expect(json(failed)).toMatchObject({ upstream: { status: 'INVALID_MOBILE_NUMBER' } });
    const parked = await takeMessages(env.azurite.connectionString, POISON, 1, 2_000);
    expect(parked[0]?.body).toMatchObject({
      reason: expect.stringMatching(/Sendmode rejected it/),
    });
  });

  it('a transient failure is retried with its reason in the status, then sent', async () => {
    env.simulator.injectFault({ kind: 'http-error', httpStatus: 503, operation: 'send', times: 1 });
    await drop(JSON.stringify({ id: 'flaky', ...valid }));
    await drain();
    const waiting = await getById('flaky');
    expect(waiting.status).toBe(202);
    expect(json(waiting)).toMatchObject({ status: 'queued', lastError: expect.any(String) });
    await drain(2_500);
    expect((await getById('flaky')).status).toBe(200);
    expect(env.simulator.callsFor('send').filter((c) => c.httpStatus === 200)).toHaveLength(1);
  });
});

describe('scheduled sends with v3', () => {
  beforeEach(async () => {
    await env.configure({
      SENDMODE_API_VERSION: 'v3',
      SENDMODE_BASE_URL: env.simulator.urlV3,
      DEFAULT_SENDER_ID: 'Acme',
    });
  });

  it('holds a queued send until its time (status scheduled), then sends it without scheduledate', async () => {
    const due = new Date(Date.now() + 3_000).toISOString();
    const accepted = json(await post({ ...valid, scheduledate: due }));
    await drain();
    expect(env.simulator.callsFor('send')).toHaveLength(0);
    const held = await follow(String(accepted.statusUrl));
    expect(held.status).toBe(202);
    expect(json(held)).toMatchObject({ status: 'scheduled', expectedAt: due });
    await drain(4_000);
    const calls = env.simulator.callsFor('send');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.arrivedAt).toBeGreaterThanOrEqual(Date.parse(due) - 1_000);
    expect(JSON.stringify(calls[0]?.payload)).not.toMatch(/schedul/i);
    expect((await follow(String(accepted.statusUrl))).status).toBe(200);
  });

  it('a synchronous send with scheduledate stays 501 and says to queue it', async () => {
    const response = await post(
      { ...valid, scheduledate: new Date(Date.now() + 60_000).toISOString() },
      { prefer: '' },
    );
    expect(response.status).toBe(501);
    expect(json(response).detail).toMatch(/respond-async/);
  });
});

describe('housekeeping', () => {
  it('the daily purge removes statuses past SEND_STATUS_TTL_SECONDS', async () => {
    const accepted = json(await post(valid));
    const services = await getServices();
    const later = Date.now() + services.settings.SEND_STATUS_TTL_SECONDS * 1000 + 1;
    expect((await services.purgeExpired(Date.now())).sendStatuses).toBe(0);
    expect((await services.purgeExpired(later)).sendStatuses).toBeGreaterThanOrEqual(1);
    expect((await getById(String(accepted.id))).status).toBe(404);
    await sleep(0);
  });
});
