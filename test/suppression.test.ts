/**
 * Suppression in send-sms: numbers that opted out (through the real opt-out webhook) are
 * removed before the upstream call and reported; when none remain nothing is sent and no limiter
 * slot is used. The simulator over HTTP, Azurite for the suppression table and the limiter.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { sendSms } from '../functions/send-sms.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

const OPTED_OUT = '+353871234567';
const OTHER = '+353861234567';
const THIRD = '+447400123456';

let env: AppEnv;
let accounts = 0;

beforeAll(async () => {
  // Its tests stop and restart Azurite: an Azurite of its own.
  env = await startAppEnv({}, { storage: 'private' });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  // A fresh account and suppression table per test: each starts with an empty limiter log
  // and an empty suppression list.
  accounts += 1;
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `supp${accounts}x${Date.now()}`,
    SUPPRESSION_TABLE_NAME: `optouts${accounts}x${Date.now()}`,
    RATE_LIMIT_MAX_CALLS: undefined,
    DEFAULT_COUNTRY_CODE: undefined,
  });
});

async function optOut(number: string): Promise<void> {
  const response = await optOutWebhook(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/optout',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify({ mobilenumber: number, optoutresponse: 'STOP' }) },
    }),
    testContext('opt-out-webhook'),
  );
  expect(response.status).toBe(200);
}

async function send(recipients: string[], context = testContext('send-sms')) {
  const response = await sendSms(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/sms',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify({ messagetext: 'Your order has shipped', recipients }) },
    }),
    context,
  );
  return { response, json: parse(response), logs: context.logs };
}

function parse(response: HttpResponseInit): Record<string, unknown> {
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

function sentRecipients(index = 0): unknown {
  return (env.simulator.callsFor('send')[index]?.payload as { recipients?: unknown } | undefined)
    ?.recipients;
}

describe('opted-out recipients in send-sms', () => {
  it('are removed before the upstream call and listed in skippedRecipients', async () => {
    await optOut(OPTED_OUT);
    const { response, json, logs } = await send([OTHER, OPTED_OUT, THIRD]);
    expect(response.status).toBe(200);
    expect(json).toMatchObject({ status: 'OK', statusCode: 0 });
    expect(json.skippedRecipients).toEqual([{ recipient: OPTED_OUT, reason: 'opted-out' }]);
    expect(env.simulator.callsFor('send')).toHaveLength(1);
    expect(sentRecipients()).toEqual([OTHER, THIRD]);
    expect(logs.join('\n')).not.toMatch(/871234567|861234567|7700900123/);
  });

  it('a send with nobody opted out has no skippedRecipients', async () => {
    await optOut(OPTED_OUT);
    const { response, json } = await send([OTHER]);
    expect(response.status).toBe(200);
    expect(json).not.toHaveProperty('skippedRecipients');
    expect(sentRecipients()).toEqual([OTHER]);
  });

  it('every recipient opted out → 422 naming each index with masked numbers, nothing sent, no limiter slot used', async () => {
    await optOut(OPTED_OUT);
    await optOut(OTHER);
    // A new account allowing one call a window: the 422 must not take it.
    await env.configure({ SENDMODE_ACCOUNT_NAME: `one${Date.now()}`, RATE_LIMIT_MAX_CALLS: '1' });
    const sendsBefore = env.simulator.callsFor('send').length;

    const { response, json, logs } = await send([OPTED_OUT, OTHER]);
    expect(response.status).toBe(422);
    expect((response.headers as Record<string, string>)['content-type']).toBe(
      'application/problem+json',
    );
    expect(json).toMatchObject({ status: 422 });
    expect(json.errors).toEqual([
      { field: 'recipients/0', message: '*********567 has opted out' },
      { field: 'recipients/1', message: '*********567 has opted out' },
    ]);
    const text = String(response.body);
    expect(text).not.toMatch(/871234567|861234567/);
    expect(logs.join('\n')).not.toMatch(/871234567|861234567/);
    expect(env.simulator.callsFor('send')).toHaveLength(sendsBefore);

    // The one slot is still free: a send to someone else goes through…
    const other = await send([THIRD]);
    expect(other.response.status).toBe(200);
    expect(sentRecipients(sendsBefore)).toEqual([THIRD]);
    // …and it was the only slot: the next metered call is refused by the limiter.
    expect((await send([THIRD])).response.status).toBe(429);
  });

  it.each([
    ['00353 87 123 4567', '+353871234567'], // checked, so in E.164
    ['353871234567', '353871234567'],
    ['+353 (87) 123-4567', '+353871234567'],
  ])('an opt-out of +353871234567 blocks a send to %s', async (written, normalised) => {
    await optOut(OPTED_OUT);
    const { response, json } = await send([written, OTHER]);
    expect(response.status).toBe(200);
    expect(json.skippedRecipients).toEqual([{ recipient: normalised, reason: 'opted-out' }]);
    expect(sentRecipients()).toEqual([OTHER]);
  });

  it('an opt-out written nationally, with the country code in the send, also matches once DEFAULT_COUNTRY_CODE is set', async () => {
    await env.configure({ DEFAULT_COUNTRY_CODE: '353' });
    await optOut('087 123 4567');
    const { json } = await send(['+353871234567', OTHER]);
    expect(json.skippedRecipients).toEqual([{ recipient: '+353871234567', reason: 'opted-out' }]);
    expect(sentRecipients()).toEqual([OTHER]);
  });

  it('a national number (0871234567) is blocked only with DEFAULT_COUNTRY_CODE=353', async () => {
    await optOut(OPTED_OUT);
    // Without a default country code, 087… cannot be known to be +353 87…: it is sent.
    const without = await send(['0871234567']);
    expect(without.response.status).toBe(200);
    expect(without.json).not.toHaveProperty('skippedRecipients');

    await env.configure({ DEFAULT_COUNTRY_CODE: '353' });
    const withCode = await send(['0871234567']);
    expect(withCode.response.status).toBe(422);
    expect(withCode.json.errors).toEqual([
      { field: 'recipients/0', message: '*********567 has opted out' },
    ]);
    // Read in Ireland, it is +353 87…, and named so (E.164).
    const mixed = await send(['0871234567', OTHER]);
    expect(mixed.json.skippedRecipients).toEqual([
      { recipient: '+353871234567', reason: 'opted-out' },
    ]);
    expect(env.simulator.callsFor('send').map((call) => call.payload)).toMatchObject([
      { recipients: ['0871234567'] },
      { recipients: [OTHER] },
    ]);
  });

  it('a number whose opt-out Sendmode has not taken yet is suppressed already', async () => {
    env.simulator.injectFault({ kind: 'http-error', httpStatus: 503, operation: 'optout' });
    const queued = await optOutWebhook(
      new HttpRequest({
        method: 'GET',
        url: 'http://localhost/api/optout',
        query: { from: OPTED_OUT, text: 'STOP' },
      }),
      testContext('opt-out-webhook'),
    );
    expect(queued.status).toBe(202);
    expect(env.simulator.optOuts()).toEqual([]);
    const { response } = await send([OPTED_OUT]);
    expect(response.status).toBe(422);
    expect(env.simulator.callsFor('send')).toHaveLength(0);
  });

  it('opt-outs stored under the keys of older versions still match their numbers, and a later opt-in under the new key wins', async () => {
    await env.configure({ DEFAULT_COUNTRY_CODE: '1' });
    const { suppression } = await getServices();
    // As older versions keyed a national number written without its trunk prefix: as written.
    await suppression.apply({ number: '2015550123', action: 'opt-out', source: 'api', eventAt: 1 });
    expect(await suppression.suppressed(['+12015550123'])).toEqual(new Set(['+12015550123']));
    const { json } = await send(['+1 201 555 0123', '+1 201 555 0199']);
    expect(json.skippedRecipients).toEqual([{ recipient: '+12015550123', reason: 'opted-out' }]);
    // Written now under its E.164 key, an opt-in is the newer word.
    await suppression.apply({
      number: '+12015550123',
      action: 'opt-in',
      source: 'api',
      eventAt: 2,
    });
    expect(await suppression.suppressed(['+12015550123'])).toEqual(new Set());
  });

  it('suppression storage down → 503, no upstream call', async () => {
    await optOut(OPTED_OUT);
    const callsBefore = env.simulator.calls().length;
    await env.azurite.stop();
    try {
      const { response, json } = await send([OTHER]);
      expect(response.status).toBe(503);
      expect(json).toMatchObject({
        status: 503,
        type: 'urn:sendmode-connector:problem:dependency-unavailable',
      });
      expect(String(response.body)).not.toMatch(/AccountKey|Eby8vdM02/);
      expect(env.simulator.calls()).toHaveLength(callsBefore);
    } finally {
      await env.azurite.start();
    }
  });

  it('1000 recipients with a few opted out: those are skipped, the rest sent in one call', async () => {
    env.simulator.setBalance(100_000);
    const recipients = Array.from(
      { length: 1000 },
      (_, i) => `+3538${'35679'[i % 5]}${String(10_000_000 + i).slice(1)}`,
    );
    expect(new Set(recipients).size).toBe(1000);
    const optedOut = [recipients[0]!, recipients[1]!, recipients[499]!, recipients[998]!];
    for (const number of optedOut) await optOut(number);

    const started = performance.now();
    const { response, json } = await send(recipients);
    const ms = performance.now() - started;
    console.log(
      `send-sms with 1000 recipients (${optedOut.length} opted out): ${ms.toFixed(0)} ms`,
    );
    expect(response.status).toBe(200);
    const skipped = json.skippedRecipients as { recipient: string; reason: string }[];
    expect(skipped.map((entry) => entry.recipient).sort()).toEqual([...optedOut].sort());
    expect(skipped.every((entry) => entry.reason === 'opted-out')).toBe(true);
    expect(env.simulator.callsFor('send')).toHaveLength(1);
    const sent = sentRecipients() as string[];
    expect(sent).toHaveLength(996);
    expect(sent).toEqual(recipients.filter((number) => !optedOut.includes(number)));
    expect(ms).toBeLessThan(10_000);
  });
});
