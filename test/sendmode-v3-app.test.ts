/**
 * The app with SENDMODE_API_VERSION=v3, as the Functions host calls it: real HttpRequest and
 * InvocationContext objects, the simulator's 3.0 side over HTTP, Azurite for the limiter, the
 * suppression list and the queues. Sends reach /3.0/send and /3.0/send/bulk in the documented
 * shape; what 3.0 does not offer answers 501 (HTTP) or goes to poison (queues), costing no
 * limiter slot; opt-outs are still recorded here. The same send checks also run under v2.
 */
import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { checkCredits } from '../functions/check-credits.js';
import { enqueueCustomers } from '../functions/enqueue-customers.js';
import { health } from '../functions/health.js';
import { importCustomer } from '../functions/import-customer.js';
import { optOutSync } from '../functions/opt-out-sync.js';
import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { sendSms } from '../functions/send-sms.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { takeMessages } from './helpers/queues.js';

let env: AppEnv;
let account = 0;

beforeAll(async () => {
  env = await startAppEnv();
});
afterAll(async () => env?.stop());

/** Fresh limiter partition, simulator state and queues; the given generation and settings. */
async function useVersion(version: 'v2' | 'v3', settings: Record<string, string | undefined> = {}) {
  env.resetSimulator();
  await env.configure({
    SENDMODE_API_VERSION: version,
    SENDMODE_BASE_URL: version === 'v3' ? env.simulator.urlV3 : env.simulator.url,
    SENDMODE_ACCOUNT_NAME: `v3app${(account += 1)}`,
    RATE_LIMIT_MAX_CALLS: '100',
    DEFAULT_SENDER_ID: undefined,
    DEFAULT_COUNTRY_CODE: undefined,
    WEBHOOK_SIGNING_SECRET: undefined,
    WEBHOOK_SIGNING_SECRET_NAME: undefined,
    QUEUE_RETRY_BASE_SECONDS: '1',
    ...settings,
  });
  for (const queue of ['customer-imports-poison', 'optout-sync', 'optout-sync-poison']) {
    await takeMessages(env.azurite.connectionString, queue, 1000, 0);
  }
}

function parse(response: HttpResponseInit): Record<string, unknown> {
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

async function send(body: unknown) {
  const request = new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/sms',
    headers: { 'content-type': 'application/json' },
    body: { string: JSON.stringify(body) },
  });
  const response = await sendSms(request, testContext('send-sms'));
  return { status: response.status, json: parse(response) };
}

async function credits() {
  const request = new HttpRequest({ method: 'GET', url: 'http://localhost/api/credits' });
  const response = await checkCredits(request, testContext('check-credits'));
  return { status: response.status, json: parse(response), headers: response.headers };
}

function queueContext(functionName: string) {
  return new InvocationContext({
    functionName,
    invocationId: `inv-${Math.random()}`,
    triggerMetadata: { dequeueCount: 1 },
  });
}

async function poisoned(queue: string) {
  const [message] = await takeMessages(env.azurite.connectionString, queue, 1, 3_000);
  return message?.body as Record<string, unknown> | undefined;
}

describe.each(['v2', 'v3'] as const)('sends under %s answer in the same shape', (version) => {
  beforeEach(() => useVersion(version));

  it('one recipient', async () => {
    const { status, json } = await send({
      messagetext: 'Your order has shipped',
      recipients: ['+353 87 123 4567'],
      senderid: 'Acme',
      customerid: 'order-1',
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({
      status: 'OK',
      statusCode: 0,
      acceptedDateTime: expect.any(String),
      message: { senderid: 'Acme', customerid: 'order-1', recipients: ['+353871234567'] },
    });
    expect(env.simulator.calls().map((c) => c.apiVersion)).toEqual([version]);
  });

  it('several recipients: one upstream call, one limiter slot', async () => {
    await useVersion(version, { RATE_LIMIT_MAX_CALLS: '1' });
    const recipients = ['+353871234567', '+353861234567', '+447400123456'];
    const first = await send({ messagetext: 'Hi all', recipients, senderid: 'Acme' });
    expect(first.status).toBe(200);
    expect((first.json.message as { recipients: string[] }).recipients).toEqual(recipients);
    expect(env.simulator.callsFor('send')).toHaveLength(1);
    // The one slot is used: the next send waits for it, whatever its size.
    expect(
      (await send({ messagetext: 'x', recipients: ['+353871234567'], senderid: 'Acme' })).status,
    ).toBe(429);
  });
});

describe('SENDMODE_API_VERSION=v3', () => {
  beforeEach(() => useVersion('v3'));

  it('one recipient reaches POST /3.0/send in the documented shape', async () => {
    await send({
      messagetext: 'Hello',
      recipients: ['+353 87 123 4567'],
      senderid: 'Acme',
      customerid: 'order-9',
    });
    const [call] = env.simulator.calls();
    expect(call).toMatchObject({ path: '/3.0/send', authorized: true, isSuccessful: true });
    expect(call?.payload).toEqual({
      sender_id: 'Acme',
      message: 'Hello',
      mobile_number: '+353871234567',
      customer_id: 'order-9',
    });
  });

  it('several recipients reach POST /3.0/send/bulk with mobile_numbers', async () => {
    await send({
      messagetext: 'Hi',
      recipients: ['+353871234567', '+353861234567'],
      senderid: 'Acme',
    });
    const [call] = env.simulator.calls();
    expect(call?.path).toBe('/3.0/send/bulk');
    expect(call?.payload).toEqual({
      sender_id: 'Acme',
      message: 'Hi',
      mobile_numbers: ['+353871234567', '+353861234567'],
    });
  });

  it('without a senderid or DEFAULT_SENDER_ID: 400 naming senderid, and no call', async () => {
    const { status, json } = await send({ messagetext: 'Hi', recipients: ['+353871234567'] });
    expect(status).toBe(400);
    expect(json.errors).toEqual([
      { field: 'senderid', message: expect.stringContaining('DEFAULT_SENDER_ID') },
    ]);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('DEFAULT_SENDER_ID is used when the request names none; a request’s own wins', async () => {
    await useVersion('v3', { DEFAULT_SENDER_ID: 'AcmeLtd' });
    expect((await send({ messagetext: 'a', recipients: ['+353871234567'] })).status).toBe(200);
    expect(
      (await send({ messagetext: 'b', recipients: ['+353871234567'], senderid: 'Other' })).status,
    ).toBe(200);
    expect(
      env.simulator.calls().map((c) => (c.payload as { sender_id: string }).sender_id),
    ).toEqual(['AcmeLtd', 'Other']);
  });

  it('a 16-digit senderid (valid for v2) is 400 naming senderid', async () => {
    const { status, json } = await send({
      messagetext: 'Hi',
      recipients: ['+353871234567'],
      senderid: '1234567890123456',
    });
    expect(status).toBe(400);
    expect(json.errors).toEqual([{ field: 'senderid', message: expect.stringMatching(/15/) }]);
  });

  it('a national number is 400 naming it unless DEFAULT_COUNTRY_CODE makes it international', async () => {
    const refused = await send({
      messagetext: 'Hi',
      recipients: ['087 123 4567'],
      senderid: 'Acme',
    });
    expect(refused.status).toBe(400);
    expect(refused.json.errors).toEqual([
      { field: 'recipients/0', message: expect.stringContaining('international') },
    ]);
    expect(JSON.stringify(refused.json)).not.toContain('871234567');

    await useVersion('v3', { DEFAULT_COUNTRY_CODE: '353' });
    const sent = await send({ messagetext: 'Hi', recipients: ['087 123 4567'], senderid: 'Acme' });
    expect(sent.status).toBe(200);
    expect((env.simulator.calls()[0]?.payload as { mobile_number: string }).mobile_number).toBe(
      '+353871234567',
    );
  });

  it('scheduledate is 501 naming it (3.0 has no known scheduling), and no call', async () => {
    const { status, json } = await send({
      messagetext: 'Hi',
      recipients: ['+353871234567'],
      senderid: 'Acme',
      scheduledate: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(status).toBe(501);
    expect(json).toMatchObject({ type: 'urn:sendmode-connector:problem:not-offered' });
    expect(json.errors).toEqual([{ field: 'scheduledate', message: expect.any(String) }]);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('a Sendmode rejection is 502 with upstream; a 5xx is 502 with Retry-After', async () => {
    env.simulator.injectFault({ kind: 'sendmode-error', status: 'Blocked', times: 1 });
    const rejected = await send({
      messagetext: 'Hi',
      recipients: ['+353871234567'],
      senderid: 'Acme',
    });
    expect(rejected.status).toBe(502);
    expect(rejected.json.upstream).toMatchObject({ status: 'NOT_SUCCESSFUL', error: 'Blocked' });
  });

  it('credits: 501 saying the generation does not offer it, no call and no limiter slot', async () => {
    await useVersion('v3', { RATE_LIMIT_MAX_CALLS: '1' });
    for (let i = 0; i < 3; i += 1) {
      const { status, json, headers } = await credits();
      expect(status).toBe(501);
      expect(json).toMatchObject({
        type: 'urn:sendmode-connector:problem:not-offered',
        title: 'Not offered by the configured Sendmode API',
        status: 501,
      });
      expect(json.detail).toMatch(/v3 .*SENDMODE_API_VERSION=v3.*credit balance/);
      expect((headers as Record<string, string>)['retry-after']).toBeUndefined();
    }
    expect(env.simulator.calls()).toHaveLength(0);
    // The single slot is still free.
    expect(
      (await send({ messagetext: 'x', recipients: ['+353871234567'], senderid: 'Acme' })).status,
    ).toBe(200);
  });

  it('POST /api/customers: 501, and nothing queued that could only end in poison', async () => {
    const request = new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/customers',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify({ group: 'vip', mobilenumber: '+353871234567' }) },
    });
    const response = await enqueueCustomers(request, testContext('enqueue-customers'));
    expect(response.status).toBe(501);
    expect(parse(response).detail).toMatch(/v3 .*importing customers; nothing was sent/);
    expect(
      await takeMessages(env.azurite.connectionString, 'customer-imports', 1, 300),
    ).toHaveLength(0);
  });

  it('an import message goes to poison at once with the reason, and no call', async () => {
    const message = { group: 'vip', mobilenumber: '+353871234567' };
    await importCustomer(message, queueContext('import-customer'));
    const parked = await poisoned('customer-imports-poison');
    expect(parked).toMatchObject({ attempts: 1, message });
    expect(parked?.reason).toMatch(
      /^The configured Sendmode API generation, v3 .* importing customers/,
    );
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('an opt-out is recorded here, answered as documented (200 opted-out) and says Sendmode’s list was not offered', async () => {
    const request = new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/optout',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify({ mobilenumber: '+353871234567', optoutresponse: 'STOP' }) },
    });
    const response = await optOutWebhook(request, testContext('opt-out-webhook'));
    expect(response.status).toBe(200);
    expect(parse(response)).toMatchObject({
      status: 'opted-out',
      sendmodeOptOutList: 'not-offered',
      note: expect.stringContaining('SENDMODE_API_VERSION=v3'),
    });
    expect(env.simulator.calls()).toHaveLength(0);
    // Nothing is queued to retry forever.
    expect(await takeMessages(env.azurite.connectionString, 'optout-sync', 1, 300)).toHaveLength(0);
    // The suppression list holds it: the number is never texted.
    const blocked = await send({
      messagetext: 'x',
      recipients: ['+353871234567'],
      senderid: 'Acme',
    });
    expect(blocked.status).toBe(422);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('an opt-out sync message (queued under v2) goes to poison with the reason', async () => {
    const message = { mobilenumber: '+353861234567' };
    await optOutSync(message, queueContext('opt-out-sync'));
    const parked = await poisoned('optout-sync-poison');
    expect(parked?.reason).toMatch(/v3 .*opt-out list/);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('health reports the API generation', async () => {
    const response = await health(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }),
      testContext('health'),
    );
    expect(parse(response).sendmodeApi).toEqual({ version: 'v3', name: 'v3 (Engage, 3.0)' });
    await useVersion('v2');
    const v2 = await health(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }),
      testContext('health'),
    );
    expect(parse(v2).sendmodeApi).toEqual({ version: 'v2', name: 'v2 (REST v2)' });
  });
});
