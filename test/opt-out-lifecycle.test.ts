/**
 * The opt-out lifecycle, as the Functions host calls it: opting back in (START after STOP), the
 * order of events (doubt favours the opt-out), the audit trail, the operator routes
 * (look-up, paged list, CSV export, removal) and deliveries signed by the published Standard
 * Webhooks and Svix libraries. Real HttpRequest / InvocationContext objects, the simulator over
 * HTTP, Azurite for every table.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { parse as parseCsv } from 'csv-parse/sync';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { optOutsGet } from '../functions/opt-outs-get.js';
import { optOutsList } from '../functions/opt-outs-list.js';
import { optOutsRemove } from '../functions/opt-outs-remove.js';
import { sendSms } from '../functions/send-sms.js';
import { csvField } from '../shared/csv-safe.js';
import { signWebhook } from '../shared/opt-outs/webhook-signature.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, TEST_API_KEY, testContext } from './helpers/app-env.js';

const NUMBER = '+353871234567';
const CANONICAL = '353871234567';
const UNMASKED = /871234567/;
const SECRET = `whsec_${Buffer.from('opt-out-lifecycle-test-signing-key').toString('base64')}`;

let env: AppEnv;
let run = 0;

beforeAll(async () => {
  env = await startAppEnv();
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  run += 1;
  const suffix = `${run}x${Date.now()}`;
  // Fresh tables and limiter partition per test.
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `life${suffix}`,
    SUPPRESSION_TABLE_NAME: `optouts${suffix}`,
    OPT_OUT_AUDIT_TABLE_NAME: `audit${suffix}`,
    RATE_LIMIT_MAX_CALLS: '1000',
    WEBHOOK_SIGNING_SECRET: undefined,
    OPT_OUT_KEYWORDS: undefined,
    OPT_IN_KEYWORDS: undefined,
    DEFAULT_COUNTRY_CODE: undefined,
    APP_SERVICE_AUTH_ENABLED: undefined,
  });
});

/* --------------------------------------- helpers --------------------------------------- */

type Json = Record<string, unknown>;

function parse(response: HttpResponseInit): Json {
  return JSON.parse(String(response.body)) as Json;
}

async function reply(
  text: string | undefined,
  options: { number?: string; headers?: Record<string, string>; body?: string } = {},
) {
  const body =
    options.body ??
    JSON.stringify({
      mobilenumber: options.number ?? NUMBER,
      ...(text !== undefined ? { optoutresponse: text } : {}),
    });
  const context = testContext('opt-out-webhook');
  const response = await optOutWebhook(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/optout',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: { string: body },
    }),
    context,
  );
  return { response, json: parse(response), logs: context.logs };
}

/** Standard Webhooks headers made by this project's signer, at `timestamp` (seconds). */
function signed(
  body: string,
  timestamp = Math.floor(Date.now() / 1000),
  id = `msg_${randomUUID()}`,
) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(SECRET, id, timestamp, body),
  };
}

const bodyFor = (text: string, number = NUMBER) =>
  JSON.stringify({ mobilenumber: number, optoutresponse: text });

async function signedReply(text: string, timestamp: number, number = NUMBER) {
  const body = bodyFor(text, number);
  return reply(undefined, { body, headers: signed(body, timestamp) });
}

async function send(recipients: string[]) {
  const response = await sendSms(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/sms',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify({ messagetext: 'Back in stock', recipients }) },
    }),
    testContext('send-sms'),
  );
  return { response, json: parse(response) };
}

async function lookUp(number: string) {
  const context = testContext('opt-outs-get');
  const response = await optOutsGet(
    new HttpRequest({
      method: 'GET',
      url: `http://localhost/api/optouts/${encodeURIComponent(number)}`,
      params: { number },
    }),
    context,
  );
  return { response, json: parse(response), logs: context.logs };
}

async function list(query: Record<string, string> = {}) {
  const search = new URLSearchParams(query).toString();
  const context = testContext('opt-outs-list');
  const response = await optOutsList(
    new HttpRequest({ method: 'GET', url: `http://localhost/api/optouts?${search}` }),
    context,
  );
  return { response, logs: context.logs };
}

async function remove(
  number: string,
  options: {
    query?: string;
    body?: string;
    contentType?: string;
    headers?: Record<string, string>;
  } = {},
) {
  const context = testContext('opt-outs-remove');
  const response = await optOutsRemove(
    new HttpRequest({
      method: 'DELETE',
      url: `http://localhost/api/optouts/${encodeURIComponent(number)}${options.query ?? ''}`,
      params: { number },
      headers: {
        ...(options.contentType ? { 'content-type': options.contentType } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: { string: options.body } } : {}),
    }),
    context,
  );
  return { response, json: parse(response), logs: context.logs };
}

const optOutCalls = () => env.simulator.callsFor('optout').length;

async function trailOf(number = NUMBER): Promise<Json[]> {
  const { json } = await lookUp(number);
  return json.trail as Json[];
}

/* ------------------------------------ keyword tables ------------------------------------ */

describe('keywords', () => {
  it.each([
    ['STOP', 'opted-out'],
    [' stop. ', 'opted-out'],
    ['Unsubscribe me', 'opted-out'],
    ['opt-out', 'opted-out'],
    ['START', 'opted-in'],
    ['start', 'opted-in'],
    [' Unstop! ', 'opted-in'],
    ['Subscribe please', 'opted-in'],
    ['yes', 'opted-in'],
    ['ＳＴＡＲＴ', 'opted-in'], // full-width letters, as NFKC folds them
    ['STARTED', 'ignored'],
    ['restart', 'ignored'],
    ["don't start", 'ignored'],
    ['YESTERDAY', 'ignored'],
    ['', 'ignored'],
    ['🙂 yes', 'opted-in'],
  ])('%j → %s', async (text, status) => {
    const { response, json } = await reply(text);
    expect(response.status).toBe(200);
    expect(json.status).toBe(status);
    const { json: entry } = await lookUp(NUMBER);
    expect(entry.suppressed).toBe(status === 'opted-out');
    // Ignored replies leave no trace; keywords are recorded in their compared form.
    expect((entry.trail as Json[]).length).toBe(status === 'ignored' ? 0 : 1);
  });

  it('OPT_IN_KEYWORDS replaces the defaults, by the same matching rule', async () => {
    await env.configure({ OPT_IN_KEYWORDS: 'join; Rejoin' });
    expect((await reply('START')).json.status).toBe('ignored');
    expect((await reply('Join!')).json.status).toBe('opted-in');
    expect((await reply('rejoin now')).json.status).toBe('opted-in');
  });

  it('a word on both lists opts out: an opt-out is never lost to a misconfiguration', async () => {
    await env.configure({ OPT_IN_KEYWORDS: 'START,STOP' });
    expect((await reply('STOP')).json.status).toBe('opted-out');
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
  });

  it('an opt-in answer says Sendmode’s own list is unchanged, and calls Sendmode not at all', async () => {
    await reply('STOP');
    const before = env.simulator.calls().length;
    const { json } = await reply('START');
    expect(json).toMatchObject({ status: 'opted-in', sendmodeOptOutList: 'unchanged' });
    expect(String(json.note)).toMatch(/no call to opt a number back in/);
    expect(env.simulator.calls()).toHaveLength(before);
  });
});

/* ------------------------------------ START after STOP ------------------------------------ */

describe('START after STOP', () => {
  it('lets the number be texted again, and both events are in its trail', async () => {
    expect((await reply('STOP')).json.status).toBe('opted-out');
    const blocked = await send([NUMBER]);
    expect(blocked.response.status).toBe(422);

    expect((await reply('START')).json.status).toBe('opted-in');
    const sent = await send([NUMBER]);
    expect(sent.response.status).toBe(200);
    expect(sent.json.skippedRecipients).toBeUndefined();
    expect(env.simulator.callsFor('send')).toHaveLength(1);

    const trail = await trailOf();
    expect(trail.map((e) => [e.action, e.keyword, e.applied])).toEqual([
      ['opt-out', 'STOP', true],
      ['opt-in', 'START', true],
    ]);
  });

  it('STOP again after START suppresses it again and tells Sendmode again', async () => {
    await reply('STOP');
    await reply('START');
    expect(optOutCalls()).toBe(1);
    expect((await reply('STOP')).json.status).toBe('opted-out');
    expect(optOutCalls()).toBe(2);
    expect((await send([NUMBER])).response.status).toBe(422);
    const { json } = await lookUp(NUMBER);
    expect(json).toMatchObject({ suppressed: true, sendmodeSync: 'synced' });
    expect((json.trail as Json[]).map((e) => e.action)).toEqual(['opt-out', 'opt-in', 'opt-out']);
  });

  it('numbers match in canonical form: STOP from +353…, START from 00353…', async () => {
    await reply('STOP', { number: '+353 87 123 4567' });
    await reply('START', { number: '00353871234567' });
    expect((await lookUp('353871234567')).json.suppressed).toBe(false);
  });
});

/* ----------------------------------------- order ----------------------------------------- */

describe('the order of events', () => {
  beforeEach(async () => {
    await env.configure({ WEBHOOK_SIGNING_SECRET: SECRET });
  });
  const now = () => Math.floor(Date.now() / 1000);

  it('a START signed before a STOP but delivered after it changes nothing', async () => {
    const t = now();
    expect((await signedReply('STOP', t)).json.status).toBe('opted-out');
    expect((await signedReply('START', t - 10)).json.status).toBe('superseded');
    const { json } = await lookUp(NUMBER);
    expect(json.suppressed).toBe(true);
    expect((json.trail as Json[]).map((e) => [e.action, e.applied])).toEqual([
      ['opt-in', false],
      ['opt-out', true],
    ]);
  });

  it('a STOP that first reaches the app after a START stands, even signed before it', async () => {
    // Doubt favours the opt-out: its latest possible time (arrival) is after the START's.
    const t = now();
    expect((await signedReply('START', t)).json.status).toBe('opted-in');
    expect((await signedReply('STOP', t - 10)).json.status).toBe('opted-out');
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
    expect(optOutCalls()).toBe(1);
    expect((await trailOf()).map((e) => [e.action, e.applied])).toEqual([
      ['opt-in', true],
      ['opt-out', true],
    ]);
  });

  it('a START clearly later than the STOP on both clocks wins', async () => {
    const t = now();
    await signedReply('STOP', t - 5);
    await sleep(5);
    expect((await signedReply('START', t + 2)).json.status).toBe('opted-in');
    expect((await lookUp(NUMBER)).json.suppressed).toBe(false);
  });

  it('STOP and START signed in the same second: the opt-out wins, in either order', async () => {
    const t = now();
    await signedReply('STOP', t, '+353870000001');
    expect((await signedReply('START', t, '+353870000001')).json.status).toBe('superseded');
    await signedReply('START', t, '+353870000002');
    expect((await signedReply('STOP', t, '+353870000002')).json.status).toBe('opted-out');
    expect((await lookUp('+353870000001')).json.suppressed).toBe(true);
    expect((await lookUp('+353870000002')).json.suppressed).toBe(true);
  });

  it('concurrent STOP and START for one number: each decided once, and the opt-out stands', async () => {
    // Arriving together, neither is clearly later: whichever is written first, the STOP stands.
    const t = now();
    const numbers = Array.from(
      { length: 12 },
      (_, i) => `+3538700001${String(i).padStart(2, '0')}`,
    );
    await Promise.all(
      numbers.flatMap((number, i) => {
        const stopSignedLater = i % 2 === 0;
        return [
          signedReply('STOP', stopSignedLater ? t : t - 1, number),
          signedReply('START', stopSignedLater ? t - 1 : t, number),
        ];
      }),
    );
    for (const number of numbers) {
      const { json } = await lookUp(number);
      expect(json.suppressed, number).toBe(true);
      expect((json.trail as Json[]).length).toBe(2);
    }
  });
});

describe('the order of events across retries and clocks', () => {
  beforeEach(async () => {
    await env.configure({ WEBHOOK_SIGNING_SECRET: SECRET });
  });
  const now = () => Math.floor(Date.now() / 1000);

  it('a START first tried before a STOP, retried after it with a fresh timestamp, changes nothing', async () => {
    const id = `msg_${randomUUID()}`;
    // The first attempt fails (a broken body: 400), but the app keeps when it first saw the id.
    const broken = JSON.stringify({ optoutresponse: 'START' });
    const first = await reply(undefined, { body: broken, headers: signed(broken, now(), id) });
    expect(first.response.status).toBe(400);
    await sleep(5);
    expect((await signedReply('STOP', now())).json.status).toBe('opted-out');
    // A retry more than 5 minutes on must be signed anew: the same id, a later timestamp.
    const start = bodyFor('START');
    const retried = await reply(undefined, { body: start, headers: signed(start, now() + 60, id) });
    expect(retried.response.status).toBe(200);
    expect(retried.json.status).toBe('superseded');
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
  });

  it('a STOP from a sender 2 minutes slow, after an operator removed the number, suppresses it again', async () => {
    expect((await signedReply('STOP', now() - 120)).json.status).toBe('opted-out');
    const removed = await remove(NUMBER, { query: '?reason=Customer%20asked' });
    expect(removed.response.status).toBe(200);
    await sleep(5);
    // Signed 2 minutes "before" the removal by its clock, it reached the app after it.
    expect((await signedReply('STOP', now() - 120)).json.status).toBe('opted-out');
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
    expect((await send([NUMBER])).response.status).toBe(422);
    expect(env.simulator.callsFor('send')).toHaveLength(0);
  });

  it('a repeated STOP within the hour adds nothing to the trail, but moves the number’s time on', async () => {
    const first = now();
    expect((await signedReply('STOP', first)).json.status).toBe('opted-out');
    await sleep(2_100);
    for (let i = 0; i < 3; i++) {
      expect((await signedReply('STOP', now())).json.status).toBe('already-opted-out');
    }
    expect(await trailOf()).toHaveLength(1);
    expect(optOutCalls()).toBe(1);
    // A START signed between the first STOP and its repeats is older than the latest STOP.
    expect((await signedReply('START', first + 1)).json.status).toBe('superseded');
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
  });
});

/* --------------------------------------- the trail --------------------------------------- */

describe('the audit trail', () => {
  it('records when, source, keyword and webhook id; never message text; survives the purge', async () => {
    await env.configure({ WEBHOOK_SIGNING_SECRET: SECRET });
    const body = JSON.stringify({
      mobilenumber: NUMBER,
      optoutresponse: 'STOP sending me offers',
      returnedresponse: 'You are unsubscribed from Acme offers',
    });
    const t = Math.floor(Date.now() / 1000);
    const headers = signed(body, t, 'msg_trail_1');
    const before = Date.now();
    expect((await reply(undefined, { body, headers })).json.status).toBe('opted-out');
    const after = Date.now();
    await env.configure({ WEBHOOK_SIGNING_SECRET: undefined });
    await reply('START');
    expect((await reply('STOP')).json.status).toBe('opted-out');
    const removal = await remove(NUMBER, { query: '?reason=Customer%20called%20support' });
    expect(removal.response.status).toBe(200);

    const { response, json, logs } = await lookUp(NUMBER);
    expect(response.status).toBe(200);
    const trail = json.trail as Json[];
    expect(trail.map((e) => [e.action, e.source, e.keyword ?? e.reason])).toEqual([
      ['opt-out', 'webhook', 'STOP'],
      ['opt-in', 'api', 'START'],
      ['opt-out', 'api', 'STOP'],
      ['removal', 'manual', 'Customer called support'],
    ]);
    // An opt-out's time: the later of its signed time and when it reached the app.
    expect(trail[0]).toMatchObject({ webhookId: 'msg_trail_1' });
    expect(Date.parse(String(trail[0]!.at))).toBeGreaterThanOrEqual(Math.max(before, t * 1000));
    expect(Date.parse(String(trail[0]!.at))).toBeLessThanOrEqual(after);
    expect(trail[3]).toMatchObject({ by: 'admin key' });
    expect(trail[3]).not.toHaveProperty('claimedBy');
    for (const entry of trail) {
      expect(Date.parse(String(entry.recordedAt))).toBeGreaterThan(0);
      expect(entry.applied).toBe(true);
    }
    const text = String(response.body);
    expect(text).not.toMatch(/sending me offers|unsubscribed from Acme/);
    expect(text).not.toContain(TEST_API_KEY);
    expect(logs.join('\n')).not.toMatch(UNMASKED);

    // The daily purge, as if run a year from now: the trail is untouched.
    await (await getServices()).purgeExpired(Date.now() + 365 * 86_400_000);
    expect(await trailOf()).toEqual(trail);
  });

  it('is kept in its own table, one partition per canonical number', async () => {
    await reply('STOP', { number: '00353 87 123 4567' });
    const audit = TableClient.fromConnectionString(
      env.azurite.connectionString,
      process.env.OPT_OUT_AUDIT_TABLE_NAME!,
      { allowInsecureConnection: true },
    );
    const rows = [];
    // (The status page's masked 'recent' partition lives in the same table.)
    for await (const row of audit.listEntities()) if (row.partitionKey !== 'recent') rows.push(row);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ partitionKey: CANONICAL, action: 'opt-out', source: 'api' });
  });
});

/* ------------------------------------ operator routes ------------------------------------ */

describe('GET /api/optouts/{number}', () => {
  it('a number never seen: not suppressed, empty trail', async () => {
    const { response, json } = await lookUp('+447400123456');
    expect(response.status).toBe(200);
    expect(json).toEqual({ number: '447400123456', suppressed: false, trail: [] });
  });

  it('a suppressed number: since when, and Sendmode’s side', async () => {
    const before = Date.now();
    await reply('STOP');
    const { json } = await lookUp('353-87-123-4567');
    expect(json).toMatchObject({ number: CANONICAL, suppressed: true, sendmodeSync: 'synced' });
    expect(Date.parse(String(json.since))).toBeGreaterThanOrEqual(before - 1000);
  });

  it.each([
    ['letters', 'not-a-number'],
    ['too short', '12345'],
    ['too long', '1'.repeat(40)],
    ['path traversal', '../../admin'],
    ['an OData injection', "353' or RowKey ne '"],
    ['empty', ''],
  ])('a bad number (%s) → 400 naming number, without echoing it', async (_name, number) => {
    const { response, json } = await lookUp(number);
    expect(response.status).toBe(400);
    expect((response.headers as Json)['content-type']).toBe('application/problem+json');
    expect(json.errors).toEqual([{ field: 'number', message: expect.any(String) }]);
    if (number.length > 3) expect(String(response.body)).not.toContain(number);
  });
});

/** Opts `count` numbers out through the webhook, a few at a time. */
async function optOutMany(count: number): Promise<string[]> {
  const numbers = Array.from({ length: count }, (_, i) => `35386${String(1_000_000 + i)}`);
  for (let i = 0; i < numbers.length; i += 25) {
    const batch = numbers.slice(i, i + 25);
    const results = await Promise.all(batch.map((number) => reply('STOP', { number })));
    for (const { json } of results) expect(json.status).toBe('opted-out');
  }
  return numbers;
}

async function readBody(response: HttpResponseInit): Promise<string> {
  return new Response(response.body as ReadableStream<Uint8Array>).text();
}

describe('GET /api/optouts', () => {
  it('pages through every suppressed number with continuation tokens; opted-in numbers are left out', async () => {
    const numbers = await optOutMany(230);
    await reply('START', { number: numbers[5] });
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const { response } = await list({
        pageSize: '100',
        ...(token ? { continuationToken: token } : {}),
      });
      expect(response.status).toBe(200);
      const page = parse(response) as { items: Json[]; continuationToken?: string };
      expect(page.items.length).toBeLessThanOrEqual(100);
      for (const item of page.items) {
        expect(item.suppressed).toBe(true);
        expect(Object.keys(item)).not.toContain('optoutresponse');
        seen.push(String(item.number));
      }
      token = page.continuationToken;
      pages += 1;
    } while (token);
    expect(pages).toBe(3);
    const expected = numbers.filter((_, i) => i !== 5).sort();
    expect(seen).toEqual(expected);
  });

  it('since: only numbers suppressed at or after it', async () => {
    await reply('STOP', { number: '+353860000001' });
    const cut = new Date(Date.now() + 5).toISOString();
    await new Promise((done) => setTimeout(done, 20));
    await reply('STOP', { number: '+353860000002' });
    const { response } = await list({ since: cut });
    expect((parse(response).items as Json[]).map((i) => i.number)).toEqual(['353860000002']);
    const future = await list({ since: '2999-01-01' });
    expect(parse(future.response).items).toEqual([]);
  });

  it('exports every suppressed number as CSV, streamed, beyond one page', async () => {
    const numbers = await optOutMany(230);
    for (const pageSize of ['100', undefined]) {
      const { response } = await list({ format: 'csv', ...(pageSize ? { pageSize } : {}) });
      expect(response.status).toBe(200);
      expect((response.headers as Json)['content-type']).toBe('text/csv; charset=utf-8');
      expect(response.body).toBeInstanceOf(ReadableStream);
      const records = parseCsv(await readBody(response), { columns: true }) as Json[];
      expect(records.map((r) => r.number)).toEqual([...numbers].sort());
      expect(records[0]).toMatchObject({
        sendmodeSync: 'synced',
        lastSource: 'api',
        lastKeyword: 'STOP',
      });
      expect(Date.parse(String(records[0]!.suppressedSince))).toBeGreaterThan(0);
    }
  });

  it('a CSV stream is read from storage as it is pulled: cancelling stops it', async () => {
    await optOutMany(30);
    const { response } = await list({ format: 'csv', pageSize: '10' });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^number,suppressedSince,/);
    await reader.cancel();
  });

  it('CSV fields that a spreadsheet would run are defused, and quoting follows RFC 4180', () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('353871234567')).toBe('353871234567');
    expect(csvField(undefined)).toBe('');
  });

  it.each([
    [{ since: 'yesterday' }, 'since'],
    [{ since: '2026-13-45T99:00:00Z' }, 'since'],
    [{ continuationToken: 'not a token!' }, 'continuationToken'],
    [
      { continuationToken: Buffer.from("after:1' or 1 eq 1").toString('base64url') },
      'continuationToken',
    ],
    [{ continuationToken: `${'x'.repeat(5000)}` }, 'continuationToken'],
    [{ pageSize: '0' }, 'pageSize'],
    [{ pageSize: '1001' }, 'pageSize'],
    [{ pageSize: '10.5' }, 'pageSize'],
    [{ format: 'xml' }, 'format'],
  ])('bad query (%#) → 400 naming %s', async (query, field) => {
    const { response } = await list(query);
    expect(response.status).toBe(400);
    expect(parse(response).errors).toEqual([{ field, message: expect.any(String) }]);
  });
});

describe('DELETE /api/optouts/{number}', () => {
  it('without a reason → 400 naming reason; the number stays suppressed', async () => {
    await reply('STOP');
    for (const options of [
      {},
      { query: '?reason=%20%20' },
      { body: '{}', contentType: 'application/json' },
    ]) {
      const { response, json } = await remove(NUMBER, options);
      expect(response.status).toBe(400);
      expect(json.errors).toEqual([
        { field: 'reason', message: expect.stringMatching(/required/) },
      ]);
    }
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
  });

  it('with a reason: removed, texted again, who and why in the trail (the by given, as a claim)', async () => {
    await reply('STOP');
    const { response, json, logs } = await remove('00353871234567', {
      body: JSON.stringify({ reason: 'Opted out by mistake (ticket 4711)', by: 'aoife@acme.ie' }),
      contentType: 'application/json',
    });
    expect(response.status).toBe(200);
    expect(json).toMatchObject({
      status: 'removed',
      number: CANONICAL,
      sendmodeOptOutList: 'unchanged',
    });
    expect(logs.join('\n')).not.toMatch(UNMASKED);
    expect((await send([NUMBER])).response.status).toBe(200);
    const trail = await trailOf();
    expect(trail.at(-1)).toMatchObject({
      action: 'removal',
      source: 'manual',
      reason: 'Opted out by mistake (ticket 4711)',
      // Nothing vouches for a name the caller sends: the key did it, the name is its claim.
      by: 'admin key',
      claimedBy: 'aoife@acme.ie',
    });
  });

  it('with APP_SERVICE_AUTH_ENABLED, who is the user App Service authentication names', async () => {
    await env.configure({ APP_SERVICE_AUTH_ENABLED: 'true' });
    await reply('STOP');
    const { response } = await remove(NUMBER, {
      query: '?reason=test',
      headers: { 'x-ms-client-principal-name': 'ops@acme.ie' },
    });
    expect(response.status).toBe(200);
    const last = (await trailOf()).at(-1);
    expect(last).toMatchObject({ action: 'removal', by: 'ops@acme.ie' });
    expect(last).not.toHaveProperty('claimedBy');
  });

  it('with APP_SERVICE_AUTH_ENABLED, a by the caller gives is kept as a claim beside the user', async () => {
    await env.configure({ APP_SERVICE_AUTH_ENABLED: 'true' });
    await reply('STOP');
    await remove(NUMBER, {
      body: JSON.stringify({ reason: 'test', by: 'someone-else@acme.ie' }),
      contentType: 'application/json',
      headers: { 'x-ms-client-principal-name': 'ops@acme.ie' },
    });
    expect((await trailOf()).at(-1)).toMatchObject({
      by: 'ops@acme.ie',
      claimedBy: 'someone-else@acme.ie',
    });
  });

  it('with APP_SERVICE_AUTH_ENABLED but no signed-in user, who is the admin key', async () => {
    await env.configure({ APP_SERVICE_AUTH_ENABLED: 'true' });
    await reply('STOP');
    await remove(NUMBER, { query: '?reason=test' });
    const last = (await trailOf()).at(-1);
    expect(last).toMatchObject({ by: 'admin key' });
    expect(last).not.toHaveProperty('claimedBy');
  });

  it.each([undefined, 'false'])(
    'with APP_SERVICE_AUTH_ENABLED %s, the principal header is not believed: admin key, and the name as a claim',
    async (setting) => {
      await env.configure({ APP_SERVICE_AUTH_ENABLED: setting });
      await reply('STOP');
      const { response } = await remove(NUMBER, {
        query: '?reason=test',
        headers: { 'x-ms-client-principal-name': 'ops@acme.ie' },
      });
      expect(response.status).toBe(200);
      expect((await trailOf()).at(-1)).toMatchObject({
        action: 'removal',
        by: 'admin key',
        claimedBy: 'ops@acme.ie',
      });
    },
  );

  it('a number not on the list → 404; an opted-in one too', async () => {
    const never = await remove('+447400123456', { query: '?reason=cleanup' });
    expect(never.response.status).toBe(404);
    expect(never.json.type).toBe('urn:sendmode-connector:problem:not-found');
    await reply('STOP');
    await reply('START');
    expect((await remove(NUMBER, { query: '?reason=cleanup' })).response.status).toBe(404);
  });

  it.each([
    ['a bad number', 'abc', { query: '?reason=x' }, 'number'],
    ['a reason too long', NUMBER, { query: `?reason=${'a'.repeat(501)}` }, 'reason'],
    ['control characters', NUMBER, { query: '?reason=a%00b' }, 'reason'],
    [
      'a reason that is not a string',
      NUMBER,
      { body: '{"reason":42}', contentType: 'application/json' },
      'reason',
    ],
    [
      'a by too long',
      NUMBER,
      {
        body: JSON.stringify({ reason: 'x', by: 'b'.repeat(101) }),
        contentType: 'application/json',
      },
      'by',
    ],
    [
      'a body that is not JSON',
      NUMBER,
      { body: 'reason=x', contentType: 'application/x-www-form-urlencoded' },
      'body',
    ],
    ['a JSON array', NUMBER, { body: '["x"]', contentType: 'application/json' }, 'body'],
    ['malformed JSON', NUMBER, { body: '{"reason":', contentType: 'application/json' }, 'body'],
  ])('%s → 400, nothing removed', async (_name, number, options, field) => {
    await reply('STOP');
    const { response, json } = await remove(number, options);
    expect(response.status).toBe(400);
    expect((json.errors as Json[]).map((e) => e.field)).toEqual([field]);
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
  });

  it('an oversized body → 413', async () => {
    await reply('STOP');
    const { response } = await remove(NUMBER, {
      body: JSON.stringify({ reason: 'x'.repeat(70_000) }),
      contentType: 'application/json',
    });
    expect(response.status).toBe(413);
  });
});

/* ---------------------------- deliveries signed by the libraries ---------------------------- */

describe('deliveries signed by the published libraries', () => {
  beforeEach(async () => {
    await env.configure({ WEBHOOK_SIGNING_SECRET: SECRET });
  });

  it('standardwebhooks: webhook-* headers are accepted', async () => {
    const body = bodyFor('STOP');
    const id = `msg_${randomUUID()}`;
    const signature = new StandardWebhook(SECRET).sign(id, new Date(), body);
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': signature,
    };
    expect((await reply(undefined, { body, headers })).json.status).toBe('opted-out');
  });

  it('svix: svix-* headers are accepted, with the same timestamp, replay and signature rules', async () => {
    const svix = new SvixWebhook(SECRET);
    const svixHeaders = (body: string, at = new Date(), id = `msg_${randomUUID()}`) => ({
      'svix-id': id,
      'svix-timestamp': String(Math.floor(at.getTime() / 1000)),
      'svix-signature': svix.sign(id, at, body),
    });
    const stop = bodyFor('STOP');
    const headers = svixHeaders(stop);
    const first = await reply(undefined, { body: stop, headers });
    expect(first.json.status).toBe('opted-out');
    expect((await trailOf())[0]).toMatchObject({
      source: 'webhook',
      webhookId: headers['svix-id'],
    });

    // Replayed: refused.
    expect((await reply(undefined, { body: stop, headers })).response.status).toBe(401);
    // Too old: refused.
    const old = svixHeaders(stop, new Date(Date.now() - 6 * 60_000));
    expect((await reply(undefined, { body: stop, headers: old })).response.status).toBe(401);
    // Body changed after signing: refused.
    const start = bodyFor('START');
    const tampered = svixHeaders(stop);
    expect((await reply(undefined, { body: start, headers: tampered })).response.status).toBe(401);
    // Signed with another secret: refused.
    const other = new SvixWebhook(`whsec_${Buffer.from('another-key').toString('base64')}`);
    const id = `msg_${randomUUID()}`;
    const forged = {
      'svix-id': id,
      'svix-timestamp': String(Math.floor(Date.now() / 1000)),
      'svix-signature': other.sign(id, new Date(), start),
    };
    expect((await reply(undefined, { body: start, headers: forged })).response.status).toBe(401);
    expect((await lookUp(NUMBER)).json.suppressed).toBe(true);
    // A good START, signed a second later (in the same second the opt-out would win): accepted.
    const later = new Date(Date.now() + 1000);
    expect(
      (await reply(undefined, { body: start, headers: svixHeaders(start, later) })).json.status,
    ).toBe('opted-in');
  });

  it('the two sets are never mixed: svix-id with webhook-signature is refused', async () => {
    const body = bodyFor('STOP');
    const good = signed(body);
    const headers = {
      'svix-id': good['webhook-id'],
      'svix-timestamp': good['webhook-timestamp'],
      'webhook-signature': good['webhook-signature'],
    };
    const { response, json } = await reply(undefined, { body, headers });
    expect(response.status).toBe(401);
    expect(String(json.detail)).toMatch(/svix-id/);
    expect((await lookUp(NUMBER)).json.trail).toEqual([]);
  });

  it('a webhook-id handled once is refused under the other header name too', async () => {
    const body = bodyFor('STOP');
    const headers = signed(body);
    expect((await reply(undefined, { body, headers })).response.status).toBe(200);
    const svixNamed = {
      'svix-id': headers['webhook-id'],
      'svix-timestamp': headers['webhook-timestamp'],
      'svix-signature': headers['webhook-signature'],
    };
    expect((await reply(undefined, { body, headers: svixNamed })).response.status).toBe(401);
  });

  it('this project’s signatures verify with both libraries', () => {
    const body = bodyFor('STOP');
    const headers = signed(body);
    expect(() => new StandardWebhook(SECRET).verify(body, headers)).not.toThrow();
    const svixNamed = {
      'svix-id': headers['webhook-id'],
      'svix-timestamp': headers['webhook-timestamp'],
      'svix-signature': headers['webhook-signature'],
    };
    expect(() => new SvixWebhook(SECRET).verify(body, svixNamed)).not.toThrow();
  });
});
