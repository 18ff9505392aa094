/**
 * Every way a number comes in applies the one phone-number rule (shared/schemas/phone-number.ts),
 * with the app's settings (DEFAULT_COUNTRY_CODE=IE here): the same numbers are accepted, and
 * passed on in E.164, and the same ones are refused with the same reason, naming the field, before
 * any Sendmode call. One test per path, each run as the host runs it: real HttpRequest and
 * InvocationContext objects, the simulator over HTTP, Azurite for the queues and tables.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { enqueueCustomers } from '../functions/enqueue-customers.js';
import { importCustomer } from '../functions/import-customer.js';
import { optOutSync } from '../functions/opt-out-sync.js';
import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { optOutsGet } from '../functions/opt-outs-get.js';
import { optOutsRemove } from '../functions/opt-outs-remove.js';
import { sendSms } from '../functions/send-sms.js';
import { checkPhoneNumber, phoneRuleFrom } from '../shared/schemas/phone-number.js';
import { parseSettings } from '../shared/settings.js';
import { runImport } from '../tools/import/import.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { drainOutbox } from './helpers/outbox.js';
import { spawnNode } from './helpers/processes.js';
import { takeMessages } from './helpers/queues.js';

const SETTINGS = { DEFAULT_COUNTRY_CODE: 'IE' };
const RULE = phoneRuleFrom(parseSettings(SETTINGS));

/** Two numbers the rule takes (national, and international with 00) and two it refuses. */
const ACCEPTED = [
  { written: '087 123 4567', e164: '+353871234567' },
  { written: '00353 (86) 123-4567', e164: '+353861234567' },
];
const REFUSED = [
  { written: '+353 1 234 5678', why: /^\*{8}678 is a fixed-line number, which cannot receive SMS/ },
  { written: '087 123 456', why: /^\*{6}456 is not a valid phone number.*Ireland \(\+353\)/ },
];
const ALL = [...ACCEPTED.map((c) => c.written), ...REFUSED.map((c) => c.written)];

/** The rule's own verdict on a refused number: every path must give this very message. */
function reason(written: string): string {
  const checked = checkPhoneNumber(written, RULE);
  if (checked.ok) throw new Error(`${written} was accepted`);
  return checked.message;
}

let env: AppEnv;
let run = 0;

beforeAll(async () => {
  env = await startAppEnv({ ...SETTINGS, QUEUE_RETRY_BASE_SECONDS: '1' });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  run += 1;
  const suffix = `${run}x${Date.now()}`;
  await env.configure({
    ...SETTINGS,
    ALLOW_NON_MOBILE_NUMBERS: undefined,
    SENDMODE_ACCOUNT_NAME: `paths${suffix}`,
    SUPPRESSION_TABLE_NAME: `optouts${suffix}`,
    OPT_OUT_AUDIT_TABLE_NAME: `audit${suffix}`,
    SEND_STATUS_TABLE_NAME: `status${suffix}`,
    IMPORT_QUEUE_NAME: `imports-${suffix.toLowerCase()}`,
    OPT_OUT_QUEUE_NAME: `optouts-${suffix.toLowerCase()}`,
    SEND_QUEUE_NAME: `outbox-${suffix.toLowerCase()}`,
    RATE_LIMIT_MAX_CALLS: '1000',
  });
});

type Json = Record<string, unknown>;
const parse = (response: HttpResponseInit): Json => JSON.parse(String(response.body)) as Json;
const queueName = (setting: string) => process.env[setting]!;

function jsonRequest(method: string, url: string, body: unknown, headers = {}) {
  return new HttpRequest({
    method,
    url,
    headers: { 'content-type': 'application/json', ...headers },
    body: { string: JSON.stringify(body) },
  });
}

function queueContext(name: string, dequeueCount = 1) {
  const logs: string[] = [];
  const context = new InvocationContext({
    functionName: name,
    invocationId: `inv-${Math.random().toString(36).slice(2)}`,
    triggerMetadata: { dequeueCount },
    logHandler: (level, ...args) => logs.push(`${level} ${args.join(' ')}`),
  });
  return Object.assign(context, { logs });
}

async function poisoned(setting: string, count: number): Promise<Json[]> {
  const poison = `${queueName(setting)}-poison`;
  return (await takeMessages(env.azurite.connectionString, poison, count, 5_000)).map(
    (m) => m.body as Json,
  );
}

/** The errors a refusal names, with each bad number's index in ALL. */
const refusedErrors = (field: (index: number) => string) =>
  REFUSED.map((c, i) => ({ field: field(ACCEPTED.length + i), message: reason(c.written) }));

const noFullNumber = (text: string) => {
  for (const written of ALL) expect(text).not.toContain(written.replace(/\D/g, '').slice(-9));
};

describe('the one phone-number rule, on every input path', () => {
  it('the rule itself: national numbers in E.164, a fixed line and a short number refused', () => {
    for (const { written, e164 } of ACCEPTED) {
      expect(checkPhoneNumber(written, RULE)).toEqual({ ok: true, number: e164 });
    }
    for (const { written, why } of REFUSED) expect(reason(written)).toMatch(why);
  });

  it('POST /api/sms: refused before any call, naming recipients/<i>; the rest sent in E.164', async () => {
    const refused = await sendSms(
      jsonRequest('POST', 'http://localhost/api/sms', { messagetext: 'Hi', recipients: ALL }),
      testContext('send-sms'),
    );
    expect(refused.status).toBe(400);
    expect(parse(refused).errors).toEqual(refusedErrors((i) => `recipients/${i}`));
    noFullNumber(String(refused.body));
    expect(env.simulator.calls()).toHaveLength(0);

    const sent = await sendSms(
      jsonRequest('POST', 'http://localhost/api/sms', {
        messagetext: 'Hi',
        recipients: ACCEPTED.map((c) => c.written),
      }),
      testContext('send-sms'),
    );
    expect(sent.status).toBe(200);
    expect(env.simulator.callsFor('send').map((call) => call.payload)).toMatchObject([
      { recipients: ACCEPTED.map((c) => c.e164) },
    ]);
  });

  it('POST /api/sms with Prefer: respond-async: refused before anything is queued', async () => {
    const respondAsync = { prefer: 'respond-async' };
    const refused = await sendSms(
      jsonRequest(
        'POST',
        'http://localhost/api/sms',
        { messagetext: 'Hi', recipients: ALL },
        respondAsync,
      ),
      testContext('send-sms'),
    );
    expect(refused.status).toBe(400);
    expect(parse(refused).errors).toEqual(refusedErrors((i) => `recipients/${i}`));
    const outbox = new QueueClient(env.azurite.connectionString, queueName('SEND_QUEUE_NAME'));
    expect(
      (await outbox.exists()) ? (await outbox.getProperties()).approximateMessagesCount : 0,
    ).toBe(0);

    const queued = await sendSms(
      jsonRequest(
        'POST',
        'http://localhost/api/sms',
        { messagetext: 'Hi', recipients: ACCEPTED.map((c) => c.written) },
        respondAsync,
      ),
      testContext('send-sms'),
    );
    expect(queued.status).toBe(202);
    await drainOutbox(env.azurite.connectionString, queueName('SEND_QUEUE_NAME'));
    expect(env.simulator.callsFor('send').map((call) => call.payload)).toMatchObject([
      { recipients: ACCEPTED.map((c) => c.e164) },
    ]);
  });

  it('a message dropped on the send queue: parked with the reason naming recipients/<i>; the rest sent in E.164', async () => {
    const outbox = new QueueClient(env.azurite.connectionString, queueName('SEND_QUEUE_NAME'));
    await outbox.createIfNotExists();
    await outbox.sendMessage(JSON.stringify({ id: 'bad', messagetext: 'Hi', recipients: ALL }));
    await outbox.sendMessage(
      JSON.stringify({ id: 'good', messagetext: 'Hi', recipients: ACCEPTED.map((c) => c.written) }),
    );
    await drainOutbox(env.azurite.connectionString, queueName('SEND_QUEUE_NAME'));
    expect(env.simulator.callsFor('send').map((call) => call.payload)).toMatchObject([
      { recipients: ACCEPTED.map((c) => c.e164) },
    ]);
    const [parked] = await poisoned('SEND_QUEUE_NAME', 1);
    expect(JSON.stringify(parked)).toContain(reason(REFUSED[0]!.written));
    expect(JSON.stringify(parked)).toContain(`recipients/${ACCEPTED.length}`);
  });

  it('POST /api/customers: refused naming customers/<i>/mobilenumber, nothing queued; the rest queued in E.164', async () => {
    const customers = (numbers: string[]) =>
      numbers.map((mobilenumber) => ({ group: 'G', mobilenumber }));
    const refused = await enqueueCustomers(
      jsonRequest('POST', 'http://localhost/api/customers', customers(ALL)),
      testContext('enqueue-customers'),
    );
    expect(refused.status).toBe(400);
    expect(parse(refused).errors).toEqual(refusedErrors((i) => `customers/${i}/mobilenumber`));
    noFullNumber(String(refused.body));

    const queued = await enqueueCustomers(
      jsonRequest(
        'POST',
        'http://localhost/api/customers',
        customers(ACCEPTED.map((c) => c.written)),
      ),
      testContext('enqueue-customers'),
    );
    expect(queued.status).toBe(202);
    const messages = await takeMessages(
      env.azurite.connectionString,
      queueName('IMPORT_QUEUE_NAME'),
      ACCEPTED.length,
    );
    expect(messages.map((m) => (m.body as { importdata: Json }).importdata.mobilenumber)).toEqual(
      ACCEPTED.map((c) => c.e164),
    );
  });

  it('the customer-imports queue: parked with the reason naming mobilenumber; the rest imported in E.164', async () => {
    for (const mobilenumber of ALL) {
      await importCustomer({ group: 'G', mobilenumber }, queueContext('import-customer'));
    }
    expect(env.simulator.contacts().map((contact) => contact.mobilenumber)).toEqual(
      ACCEPTED.map((c) => c.e164),
    );
    const parked = await poisoned('IMPORT_QUEUE_NAME', REFUSED.length);
    expect(parked.map((p) => p.errors)).toEqual(
      REFUSED.map((c) => [{ field: 'mobilenumber', message: reason(c.written) }]),
    );
    noFullNumber(JSON.stringify(parked.map((p) => ({ reason: p.reason, errors: p.errors }))));
  });

  it('the opt-out webhook: refused naming the field as sent; the rest recorded under the international number', async () => {
    for (const { written, why } of REFUSED) {
      const response = await optOutWebhook(
        jsonRequest('POST', 'http://localhost/api/optout', { from: written }),
        testContext('opt-out-webhook'),
      );
      expect(response.status).toBe(400);
      expect(parse(response).errors).toEqual([{ field: 'from', message: reason(written) }]);
      expect(reason(written)).toMatch(why);
    }
    for (const { written } of ACCEPTED) {
      const response = await optOutWebhook(
        jsonRequest('POST', 'http://localhost/api/optout', { from: written }),
        testContext('opt-out-webhook'),
      );
      expect(response.status).toBe(200);
    }
    expect(env.simulator.callsFor('optout').map((call) => call.payload)).toMatchObject(
      ACCEPTED.map((c) => ({ mobilenumber: c.e164 })),
    );
    // Stored as before: a send to the international form is suppressed.
    const send = await sendSms(
      jsonRequest('POST', 'http://localhost/api/sms', {
        messagetext: 'Hi',
        recipients: ACCEPTED.map((c) => c.e164),
      }),
      testContext('send-sms'),
    );
    expect(send.status).toBe(422);
  });

  it('the optout-sync queue: parked with the reason naming mobilenumber; the rest synced in E.164', async () => {
    for (const mobilenumber of ALL)
      await optOutSync({ mobilenumber }, queueContext('opt-out-sync'));
    expect(env.simulator.callsFor('optout').map((call) => call.payload)).toMatchObject(
      ACCEPTED.map((c) => ({ mobilenumber: c.e164 })),
    );
    const parked = await poisoned('OPT_OUT_QUEUE_NAME', REFUSED.length);
    expect(parked.map((p) => p.errors)).toEqual(
      REFUSED.map((c) => [{ field: 'mobilenumber', message: reason(c.written) }]),
    );
  });

  it('GET and DELETE /api/optouts/{number}: refused naming number; a national number finds its entry', async () => {
    const route = (method: 'GET' | 'DELETE', number: string) =>
      new HttpRequest({
        method,
        url: `http://localhost/api/optouts/${encodeURIComponent(number)}?reason=test`,
        params: { number },
      });
    for (const { written } of REFUSED) {
      for (const [handler, method] of [
        [optOutsGet, 'GET'],
        [optOutsRemove, 'DELETE'],
      ] as const) {
        const response = await handler(route(method, written), testContext('optouts'));
        expect(response.status).toBe(400);
        expect(parse(response).errors).toEqual([{ field: 'number', message: reason(written) }]);
      }
    }
    await optOutWebhook(
      jsonRequest('POST', 'http://localhost/api/optout', { from: ACCEPTED[0]!.e164 }),
      testContext('opt-out-webhook'),
    );
    const found = await optOutsGet(route('GET', ACCEPTED[0]!.written), testContext('optouts'));
    expect(parse(found)).toMatchObject({ number: '353871234567', suppressed: true });
    const removed = await optOutsRemove(
      route('DELETE', ACCEPTED[0]!.written),
      testContext('optouts'),
    );
    expect(removed.status).toBe(200);
  });

  it('npm run import: rows refused with the reason by line; the rest queued in E.164, as the app would check them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phone-paths-'));
    const path = join(dir, 'customers.csv');
    writeFileSync(path, `mobile,group\n${ALL.map((n) => `"${n}",G`).join('\n')}\n`);
    const queue = new QueueClient(env.azurite.connectionString, queueName('IMPORT_QUEUE_NAME'));
    const summary = await runImport({
      file: path,
      queue,
      phoneRule: phoneRuleFrom(parseSettings(SETTINGS)),
      progress: { write: () => true, isTTY: false },
    });
    expect(summary).toMatchObject({ valid: ACCEPTED.length, rejected: REFUSED.length });
    expect(summary.problems.map((p) => p.errors)).toEqual(
      REFUSED.map((c) => [`mobile (mobilenumber): ${reason(c.written)}`]),
    );
    const messages = await takeMessages(env.azurite.connectionString, queue.name, ACCEPTED.length);
    expect(messages.map((m) => (m.body as { importdata: Json }).importdata.mobilenumber)).toEqual(
      ACCEPTED.map((c) => c.e164),
    );

    // The command reads the app's settings (the environment over local.settings.json).
    const child = spawnNode(['--import', 'tsx', 'tools/import/main.ts', path, '--dry-run'], {
      env: { ...SETTINGS, ALLOW_NON_MOBILE_NUMBERS: 'false' },
    });
    expect(await child.exited).toBe(1);
    const out = child.output();
    expect(out).toContain(reason(REFUSED[0]!.written));
    expect(out).toMatch(/valid\s+2\n\s+rejected\s+2/);
  });

  it('ALLOW_NON_MOBILE_NUMBERS=true lets the fixed line through, on sends and imports alike', async () => {
    await env.configure({ ALLOW_NON_MOBILE_NUMBERS: 'true' });
    const landline = REFUSED[0]!.written;
    const sent = await sendSms(
      jsonRequest('POST', 'http://localhost/api/sms', {
        messagetext: 'Hi',
        recipients: [landline],
      }),
      testContext('send-sms'),
    );
    expect(sent.status).toBe(200);
    await importCustomer({ group: 'G', mobilenumber: landline }, queueContext('import-customer'));
    expect(env.simulator.callsFor('send').map((call) => call.payload)).toMatchObject([
      { recipients: ['+35312345678'] },
    ]);
    expect(env.simulator.contacts().map((contact) => contact.mobilenumber)).toEqual([
      '+35312345678',
    ]);
  });
});
