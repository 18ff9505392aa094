/**
 * POST /api/customers as the Functions host calls it: validate one customer or a batch with
 * the import schema, then one message per customer on the import queue (Azurite), encoded as
 * host.json tells the host to read it.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { enqueueCustomers } from '../functions/enqueue-customers.js';
import { MAX_CUSTOMER_BATCH } from '../shared/schemas/customer.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { decode } from './helpers/queues.js';

const QUEUE = 'customer-imports';

let env: AppEnv;

beforeAll(async () => {
  // Its tests stop and restart Azurite: an Azurite of its own.
  env = await startAppEnv({}, { storage: 'private' });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.simulator.reset();
  // Rebuilds the services: fresh queue clients (Azurite may have restarted in a test).
  await env.configure({ IMPORT_QUEUE_NAME: undefined });
  await clearQueue(QUEUE);
});

function post(
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) {
  return new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/customers',
    headers,
    body: { string: body },
  });
}

async function enqueue(body: unknown) {
  return call(post(JSON.stringify(body)));
}

async function call(request: HttpRequest) {
  const context = testContext('enqueue-customers');
  const response = await enqueueCustomers(request, context);
  return { response, json: parse(response), logs: context.logs };
}

function parse(response: HttpResponseInit): Record<string, unknown> {
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

const queueClient = (name: string) => new QueueClient(env.azurite.connectionString, name);

async function clearQueue(name: string): Promise<void> {
  const queue = queueClient(name);
  if (await queue.exists()) await queue.clearMessages();
}

/** Every message on the queue, in order, with its raw text decoded (plain JSON, as host.json says). */
async function queued(name = QUEUE): Promise<{ id: string; body: unknown }[]> {
  const queue = queueClient(name);
  if (!(await queue.exists())) return [];
  const out: { id: string; body: unknown }[] = [];
  for (;;) {
    const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32 });
    if (receivedMessageItems.length === 0) return out;
    for (const item of receivedMessageItems) {
      // Encoded as host.json's messageEncoding says (none: plain JSON text).
      out.push({ id: item.messageId, body: decode(item.messageText) });
      await queue.deleteMessage(item.messageId, item.popReceipt);
    }
  }
}

async function messageCount(name = QUEUE): Promise<number> {
  const queue = queueClient(name);
  if (!(await queue.exists())) return 0;
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

const customer = (i: number) => ({
  group: 'Newsletter',
  mobilenumber: `+353 87 100 ${1000 + i}`,
  firstname: `Name${i}`,
});
const normalised = (i: number) => ({
  group: 'Newsletter',
  importdata: { mobilenumber: `+35387100${1000 + i}`, firstname: `Name${i}` },
});

const full = {
  group: 'VIP',
  mobilenumber: '087-123.4567',
  firstname: 'Aoife',
  surname: 'Byrne',
  address: '1 Main Street',
  town: 'Galway',
  county: 'Galway',
  email: 'aoife@example.ie',
  custom1: 'gold',
  custom2: 'since 2019',
  businessname: 'Byrne Ltd',
  dateofbirth: '29/02/1996',
};
const { group: fullGroup, ...fullFields } = full;
const fullQueued = {
  group: fullGroup,
  importdata: { ...fullFields, mobilenumber: '0871234567' },
};

describe('POST /api/customers: one customer', () => {
  it('flat → 202 with one message id; the queue holds plain JSON {group, importdata}', async () => {
    const { response, json, logs } = await enqueue(full);
    expect(response.status).toBe(202);
    expect(json).toEqual({ status: 'queued', queue: QUEUE, messageIds: [expect.any(String)] });
    const messages = await queued();
    expect(messages).toEqual([{ id: (json.messageIds as string[])[0], body: fullQueued }]);
    expect(logs.join('\n')).not.toMatch(/871234567/);
    const line = logs.find((entry) => entry.includes('"operation"'))!;
    expect(JSON.parse(line.slice(line.indexOf('{')))).toMatchObject({
      operation: 'enqueue-customers',
      status: 202,
      customerCount: 1,
    });
  });

  it('{group, importdata} → the same message', async () => {
    const { response, json } = await enqueue({ group: fullGroup, importdata: fullFields });
    expect(response.status).toBe(202);
    expect(json.messageIds).toHaveLength(1);
    expect((await queued()).map((message) => message.body)).toEqual([fullQueued]);
  });

  it('unknown fields are dropped, not enqueued', async () => {
    const { response } = await enqueue({ ...customer(1), colour: 'blue' });
    expect(response.status).toBe(202);
    expect((await queued()).map((message) => message.body)).toEqual([normalised(1)]);
  });

  it.each([
    ['no mobilenumber', { group: 'G' }, 'mobilenumber'],
    ['no group', { mobilenumber: '0871234567' }, 'group'],
    ['a blank group', { group: '   ', mobilenumber: '0871234567' }, 'group'],
    ['an implausible number', { group: 'G', mobilenumber: '12ab' }, 'mobilenumber'],
    ['a bad e-mail', { group: 'G', mobilenumber: '0871234567', email: 'nope' }, 'email'],
    [
      '31/02 is not a date',
      { group: 'G', mobilenumber: '0871234567', dateofbirth: '31/02/1990' },
      'dateofbirth',
    ],
    [
      'an ISO date of birth',
      { group: 'G', mobilenumber: '0871234567', dateofbirth: '1990-01-31' },
      'dateofbirth',
    ],
    [
      'a name too long',
      { group: 'G', mobilenumber: '0871234567', firstname: 'x'.repeat(101) },
      'firstname',
    ],
    [
      'a control character',
      { group: 'G', mobilenumber: '0871234567', surname: 'a\u0000b' },
      'surname',
    ],
    ['a number field', { group: 'G', mobilenumber: 871234567 }, 'mobilenumber'],
  ])('%s → 400 naming %s, nothing enqueued', async (_name, body, field) => {
    const { response, json } = await enqueue(body);
    expect(response.status).toBe(400);
    expect(json.errors).toEqual([expect.objectContaining({ field })]);
    expect(String(response.body)).not.toMatch(/871234567/);
    expect(await messageCount()).toBe(0);
  });

  it.each([
    ['null', 'null'],
    ['a string', '"0871234567"'],
    ['a number', '42'],
  ])('a JSON body that is %s → 400, nothing enqueued', async (_name, body) => {
    const { response } = await call(post(body));
    expect(response.status).toBe(400);
    expect(await messageCount()).toBe(0);
  });
});

describe('POST /api/customers: a batch', () => {
  it('an array → one message per customer, in order', async () => {
    const { response, json } = await enqueue([customer(1), customer(2), customer(3)]);
    expect(response.status).toBe(202);
    const ids = json.messageIds as string[];
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    const messages = await queued();
    expect(messages.map((message) => message.id)).toEqual(ids);
    expect(messages.map((message) => message.body)).toEqual([
      normalised(1),
      normalised(2),
      normalised(3),
    ]);
  });

  it('{customers: [...]} with both item forms → one message per customer, in order', async () => {
    const { group, ...importdata } = customer(2);
    const { response, json } = await enqueue({ customers: [customer(1), { group, importdata }] });
    expect(response.status).toBe(202);
    expect(json.messageIds).toHaveLength(2);
    expect((await queued()).map((message) => message.body)).toEqual([normalised(1), normalised(2)]);
  });

  it(`${MAX_CUSTOMER_BATCH} customers (the most) → ${MAX_CUSTOMER_BATCH} messages`, async () => {
    const batch = Array.from({ length: MAX_CUSTOMER_BATCH }, (_, i) => customer(i));
    const { response, json } = await enqueue(batch);
    expect(response.status).toBe(202);
    expect(json.messageIds).toHaveLength(MAX_CUSTOMER_BATCH);
    expect((await queued()).map((message) => message.body)).toEqual(
      batch.map((_, i) => normalised(i)),
    );
  });

  it('one invalid customer → 400 naming customers/<i>/<field> for each, and NOTHING enqueued', async () => {
    const { response, json } = await enqueue([
      customer(0),
      { group: 'G', mobilenumber: 'not a number' },
      customer(2),
      { group: 'G', importdata: { mobilenumber: '0871234567', dateofbirth: '32/01/1990' } },
      { mobilenumber: '0871234567', email: 'x@' },
    ]);
    expect(response.status).toBe(400);
    const fields = (json.errors as { field: string }[]).map((error) => error.field).sort();
    expect(fields).toEqual([
      'customers/1/mobilenumber',
      'customers/3/dateofbirth',
      'customers/4/email',
      'customers/4/group',
    ]);
    expect(await messageCount()).toBe(0);
  });

  it('the same in the {customers} form names the same paths', async () => {
    const { response, json } = await enqueue({ customers: [customer(0), 'oops'] });
    expect(response.status).toBe(400);
    expect(json.errors).toEqual([expect.objectContaining({ field: 'customers/1' })]);
    expect(await messageCount()).toBe(0);
  });

  it(`more than ${MAX_CUSTOMER_BATCH} customers → 400, nothing enqueued`, async () => {
    const batch = Array.from({ length: MAX_CUSTOMER_BATCH + 1 }, (_, i) => customer(i));
    const { response, json } = await enqueue(batch);
    expect(response.status).toBe(400);
    expect(json.errors).toEqual([expect.objectContaining({ field: 'customers' })]);
    expect(await messageCount()).toBe(0);
  });

  it.each([
    ['[]', []],
    ['{customers: []}', { customers: [] }],
  ])('an empty batch %s → 400', async (_name, body) => {
    const { response, json } = await enqueue(body);
    expect(response.status).toBe(400);
    expect(json.errors).toEqual([expect.objectContaining({ field: 'customers' })]);
    expect(await messageCount()).toBe(0);
  });
});

describe('POST /api/customers: the HTTP edge', () => {
  it('text/plain → 415', async () => {
    const { response } = await call(
      post(JSON.stringify(customer(1)), { 'content-type': 'text/plain' }),
    );
    expect(response.status).toBe(415);
    expect((response.headers as Record<string, string>)['content-type']).toBe(
      'application/problem+json',
    );
    expect(await messageCount()).toBe(0);
  });

  it('a body over 64 KiB → 413, nothing enqueued', async () => {
    const batch = Array.from({ length: 60 }, (_, i) => ({
      ...customer(i),
      custom1: 'x'.repeat(1_200),
    }));
    const body = JSON.stringify(batch);
    expect(body.length).toBeGreaterThan(64 * 1024);
    const { response } = await call(post(body));
    expect(response.status).toBe(413);
    expect(await messageCount()).toBe(0);
  });

  it('malformed JSON → 400 naming the body', async () => {
    const { response, json } = await call(post('[{"group": "G", "mobilenumber": "0871234567"}'));
    expect(response.status).toBe(400);
    expect(json.errors).toEqual([{ field: 'body', message: 'is not valid JSON' }]);
    expect(String(response.body)).not.toMatch(/871234567/);
  });

  it('IMPORT_QUEUE_NAME chooses the queue', async () => {
    await env.configure({ IMPORT_QUEUE_NAME: 'imports-elsewhere' });
    const { response, json } = await enqueue(customer(1));
    expect(response.status).toBe(202);
    expect(json.queue).toBe('imports-elsewhere');
    expect((await queued('imports-elsewhere')).map((message) => message.body)).toEqual([
      normalised(1),
    ]);
    expect(await messageCount()).toBe(0);
  });

  it('storage down → 503 with Retry-After', async () => {
    await env.azurite.stop();
    try {
      const { response, json } = await enqueue(customer(1));
      expect(response.status).toBe(503);
      expect(json).toMatchObject({
        status: 503,
        type: 'urn:sendmode-connector:problem:dependency-unavailable',
      });
      expect((response.headers as Record<string, string>)['retry-after']).toMatch(/^\d+$/);
      expect(String(response.body)).not.toMatch(/AccountKey|Eby8vdM02/);
    } finally {
      await env.azurite.start();
    }
  });

  it('makes no Sendmode call', async () => {
    await enqueue([customer(1), customer(2)]);
    expect(env.simulator.calls()).toHaveLength(0);
  });
});
