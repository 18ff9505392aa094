import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import { smsParts } from '../tools/sendmode-simulator/sms-parts.js';
import type { Operation, Simulator } from '../tools/sendmode-simulator/types.js';

const KEY = 'test-key';
let sim: Simulator;
let agent: Agent;

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], balance: 100 });
  agent = new Agent({ keepAliveTimeout: 1000 });
});
afterEach(() => sim.reset());
afterAll(async () => {
  await agent.close();
  await sim.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown>;
}

async function call(
  method: string,
  url: string,
  opts: { body?: string; contentType?: string; key?: string | null; dispatcher?: Agent } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? KEY : opts.key;
  if (key !== null) headers.authorization = key;
  if (opts.contentType) headers['content-type'] = opts.contentType;
  const res = await request(url, {
    method: method as 'GET',
    headers,
    body: opts.body,
    dispatcher: opts.dispatcher ?? agent,
  });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // non-JSON answers (malformed fault) keep json = {}
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

type Encoding = 'form' | 'json';

/** Encode one operation's payload the way a client would. */
function encode(
  op: Exclude<Operation, 'credits'>,
  payload: Record<string, unknown>,
  encoding: Encoding,
): { body: string; contentType: string } {
  if (encoding === 'json') {
    return { body: JSON.stringify(payload), contentType: 'application/json' };
  }
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(payload)) {
    form.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  return { body: form.toString(), contentType: 'application/x-www-form-urlencoded' };
}

function send(
  message: Record<string, unknown>,
  encoding: Encoding = 'form',
  key?: string | null,
): Promise<Answer> {
  return call('POST', `${sim.url}/send`, { ...encode('send', { message }, encoding), key });
}
function importCustomer(
  group: unknown,
  importdata: Record<string, unknown>,
  encoding: Encoding = 'form',
): Promise<Answer> {
  const payload: Record<string, unknown> = { importdata };
  if (group !== undefined) payload.group = group;
  return call('POST', `${sim.url}/import`, encode('import', payload, encoding));
}
function optOut(message: Record<string, unknown>, encoding: Encoding = 'form'): Promise<Answer> {
  return call('POST', `${sim.url}/optout`, encode('optout', { message }, encoding));
}
function credits(key?: string | null): Promise<Answer> {
  return call('GET', `${sim.url}/credits`, { key });
}
function admin(method: string, path: string, body?: unknown): Promise<Answer> {
  return call(method, `${sim.origin}/__admin${path}`, {
    key: null,
    ...(body === undefined
      ? {}
      : {
          body: typeof body === 'string' ? body : JSON.stringify(body),
          contentType: 'application/json',
        }),
  });
}

const GOOD_SEND = { messagetext: 'Hello', recipients: ['+353871234567', '0870000000'] };

describe('operations, both encodings', () => {
  for (const encoding of ['form', 'json'] as const) {
    it(`send (${encoding}) answers OK, echoes the message and deducts credits`, async () => {
      const res = await send(
        { ...GOOD_SEND, senderid: 'Shop', customerid: 'ref-1', scheduledate: '2030-01-31T10:15Z' },
        encoding,
      );
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({
        status: 'OK',
        statusCode: 0,
        message: {
          senderid: 'Shop',
          messagetext: 'Hello',
          customerid: 'ref-1',
          scheduledate: '2030-01-31T10:15Z',
          recipients: GOOD_SEND.recipients,
        },
      });
      expect(Number.isNaN(Date.parse(res.json.acceptedDateTime as string))).toBe(false);
      expect(sim.balance()).toBe(98);
      const [recorded] = sim.callsFor('send');
      expect(recorded).toMatchObject({
        operation: 'send',
        method: 'POST',
        path: '/v2/send',
        authorized: true,
        httpStatus: 200,
        statusCode: 0,
        payload: { messagetext: 'Hello', recipients: GOOD_SEND.recipients },
      });
      expect(recorded?.contentType).toContain(
        encoding === 'form' ? 'x-www-form-urlencoded' : 'json',
      );
    });

    it(`import (${encoding}) answers OK and echoes group and importdata`, async () => {
      const res = await importCustomer(
        'vip',
        { mobilenumber: '+353871234567', firstname: 'Ann', dateofbirth: '29/02/2000' },
        encoding,
      );
      expect(res.json).toMatchObject({
        status: 'OK',
        statusCode: 0,
        group: 'vip',
        importdata: {
          mobilenumber: '+353871234567',
          firstname: 'Ann',
          surname: '',
          dateofbirth: '29/02/2000',
        },
      });
      expect(typeof res.json.acceptedDateTime).toBe('string');
      expect(sim.contacts()).toEqual([
        {
          group: 'vip',
          mobilenumber: '+353871234567',
          fields: { firstname: 'Ann', dateofbirth: '29/02/2000' },
          importCount: 1,
        },
      ]);
      expect(sim.callsFor('import')[0]?.payload).toMatchObject({
        group: 'vip',
        importdata: { mobilenumber: '+353871234567' },
      });
    });

    it(`optout (${encoding}) answers OK and records the number`, async () => {
      const res = await optOut({ mobilenumber: '0871234567', optoutresponse: 'STOP' }, encoding);
      expect(res.json).toMatchObject({
        status: 'OK',
        statusCode: 0,
        mobilenumber: '0871234567',
        optoutreason: 'STOP',
      });
      expect(typeof res.json.acceptedDateTime).toBe('string');
      expect(sim.optOuts()).toEqual([{ mobilenumber: '0871234567', count: 1 }]);
    });
  }

  it('send accepts a bare JSON object as well as {message: {...}}', async () => {
    const res = await call('POST', `${sim.url}/send`, {
      body: JSON.stringify(GOOD_SEND),
      contentType: 'application/json; charset=utf-8',
    });
    expect(res.json).toMatchObject({ status: 'OK', statusCode: 0 });
    expect(sim.balance()).toBe(98);
  });

  it('credits answers the balance, and a GET with a body-less request is fine', async () => {
    sim.setBalance(12.5);
    const res = await credits();
    expect(res.json).toEqual({ status: 'OK', statusCode: 0, balance: 12.5 });
    expect(sim.callsFor('credits')[0]).toMatchObject({
      operation: 'credits',
      payload: null,
      statusCode: 0,
    });
  });
});

describe('access key', () => {
  it('rejects a wrong key with INVALID_ACCESS_KEY 14 and changes nothing', async () => {
    const res = await send(GOOD_SEND, 'form', 'wrong');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'INVALID_ACCESS_KEY', statusCode: 14 });
    expect(typeof res.json.error).toBe('string');
    expect(sim.balance()).toBe(100);
    expect(sim.calls()[0]).toMatchObject({ authorized: false, statusCode: 14 });
  });

  it('rejects a missing key and a Bearer-prefixed key', async () => {
    expect((await credits(null)).json).toMatchObject({ statusCode: 14 });
    expect((await credits(`Bearer ${KEY}`)).json).toMatchObject({ statusCode: 14 });
  });

  it('rotates keys: the old key stops working, the new ones work', async () => {
    sim.setApiKeys(['new-1', 'new-2']);
    try {
      expect((await credits()).json).toMatchObject({ statusCode: 14 });
      expect((await credits('new-1')).json).toMatchObject({ statusCode: 0 });
      expect((await credits('new-2')).json).toMatchObject({ statusCode: 0 });
      expect((await admin('PUT', '/keys', { keys: ['via-admin'] })).status).toBe(204);
      expect((await credits('new-1')).json).toMatchObject({ statusCode: 14 });
      expect((await credits('via-admin')).json).toMatchObject({ statusCode: 0 });
    } finally {
      sim.setApiKeys([KEY]);
    }
  });
});

describe('validation', () => {
  const long = 'a'.repeat(153 * 10 + 1); // 11 GSM-7 parts
  const cases: Array<[string, () => Promise<Answer>, string, number]> = [
    [
      'send: messagetext missing',
      () => send({ recipients: ['0871234567'] }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'send: messagetext empty',
      () => send({ messagetext: '', recipients: ['0871234567'] }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'send: recipients missing',
      () => send({ messagetext: 'x' }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'send: recipients empty',
      () => send({ messagetext: 'x', recipients: [] }, 'json'),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'send: form field message missing',
      () =>
        call('POST', `${sim.url}/send`, {
          body: 'other=1',
          contentType: 'application/x-www-form-urlencoded',
        }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'send: message not JSON',
      () =>
        call('POST', `${sim.url}/send`, {
          body: 'message=%7Bnot-json',
          contentType: 'application/x-www-form-urlencoded',
        }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'send: JSON body not parseable',
      () =>
        call('POST', `${sim.url}/send`, { body: '{"message":', contentType: 'application/json' }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'send: recipients not an array',
      () => send({ messagetext: 'x', recipients: '0871234567' }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'send: recipient not a string',
      () => send({ messagetext: 'x', recipients: [871234567] }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'send: messagetext not a string',
      () => send({ messagetext: 5, recipients: ['0871234567'] }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'send: unsupported content type',
      () => call('POST', `${sim.url}/send`, { body: 'hello', contentType: 'text/plain' }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'send: no content type',
      () => call('POST', `${sim.url}/send`, { body: 'x' }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'send: more than 10 parts',
      () => send({ messagetext: long, recipients: ['0871234567'] }),
      'INVALID_MESSAGE_LENGTH',
      1,
    ],
    [
      'send: recipient too short',
      () => send({ messagetext: 'x', recipients: ['0871234567', '12345'] }),
      'INVALID_MOBILE_NUMBER',
      11,
    ],
    [
      'send: recipient with letters',
      () => send({ messagetext: 'x', recipients: ['087abc4567'] }),
      'INVALID_MOBILE_NUMBER',
      11,
    ],
    [
      'send: recipient too long',
      () => send({ messagetext: 'x', recipients: ['+1234567890123456'] }),
      'INVALID_MOBILE_NUMBER',
      11,
    ],
    [
      'send: senderid too long',
      () => send({ ...GOOD_SEND, senderid: 'TwelveLetter' }),
      'INVALID_SENDER_ID',
      10,
    ],
    [
      'send: senderid with a space',
      () => send({ ...GOOD_SEND, senderid: 'My Shop' }),
      'INVALID_SENDER_ID',
      10,
    ],
    [
      'send: numeric senderid too long',
      () => send({ ...GOOD_SEND, senderid: '12345678901234567' }),
      'INVALID_SENDER_ID',
      10,
    ],
    [
      'send: scheduledate not a date',
      () => send({ ...GOOD_SEND, scheduledate: 'tomorrow' }),
      'INVALID_SCHEDULE_DATE_FORMAT',
      97,
    ],
    [
      'send: scheduledate impossible',
      () => send({ ...GOOD_SEND, scheduledate: '2030-02-30T10:00' }),
      'INVALID_SCHEDULE_DATE_FORMAT',
      97,
    ],
    [
      'import: importdata missing',
      () =>
        call('POST', `${sim.url}/import`, {
          body: 'group=g',
          contentType: 'application/x-www-form-urlencoded',
        }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'import: group missing',
      () => importCustomer(undefined, { mobilenumber: '0871234567' }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'import: mobilenumber missing',
      () => importCustomer('g', { firstname: 'Ann' }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'import: importdata not JSON',
      () =>
        call('POST', `${sim.url}/import`, {
          body: 'group=g&importdata=nope',
          contentType: 'application/x-www-form-urlencoded',
        }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'import: field not a string',
      () => importCustomer('g', { mobilenumber: '0871234567', firstname: 42 }, 'json'),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'import: mobilenumber invalid',
      () => importCustomer('g', { mobilenumber: '12' }),
      'INVALID_MOBILE_NUMBER',
      11,
    ],
    [
      'import: dateofbirth wrong format',
      () => importCustomer('g', { mobilenumber: '0871234567', dateofbirth: '2000-01-31' }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'import: dateofbirth not a real date',
      () => importCustomer('g', { mobilenumber: '0871234567', dateofbirth: '31/02/2000' }),
      'INVALID_PARAMETER',
      18,
    ],
    [
      'optout: message missing',
      () =>
        call('POST', `${sim.url}/optout`, {
          body: '',
          contentType: 'application/x-www-form-urlencoded',
        }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'optout: mobilenumber missing',
      () => optOut({ optoutresponse: 'STOP' }),
      'EXPECTED_PARAMETER_MISSING',
      195,
    ],
    [
      'optout: mobilenumber invalid',
      () => optOut({ mobilenumber: 'STOP' }, 'json'),
      'INVALID_MOBILE_NUMBER',
      11,
    ],
    [
      'optout: unsupported content type',
      () => call('POST', `${sim.url}/optout`, { body: '<x/>', contentType: 'application/xml' }),
      'INVALID_PARAMETER',
      18,
    ],
  ];
  for (const [name, run, status, statusCode] of cases) {
    it(`${name} → ${status} ${statusCode}`, async () => {
      const res = await run();
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ status, statusCode });
      expect(typeof res.json.error).toBe('string');
      expect(sim.balance()).toBe(100);
      expect(sim.contacts()).toEqual([]);
      expect(sim.optOuts()).toEqual([]);
      expect(sim.calls().at(-1)?.statusCode).toBe(statusCode);
    });
  }

  it('accepts valid edge values', async () => {
    const ok = [
      { ...GOOD_SEND, recipients: ['+353 87 123 4567', '123456', '123456789012345'] },
      { ...GOOD_SEND, senderid: 'Elevenchars' },
      { ...GOOD_SEND, senderid: '1234567890123456' },
      { ...GOOD_SEND, scheduledate: '31/01/2030 10:15' },
      { ...GOOD_SEND, scheduledate: '2030-01-31T10:15:00+01:00' },
      { ...GOOD_SEND, messagetext: 'a'.repeat(1530) },
    ];
    for (const message of ok) {
      expect((await send(message)).json, JSON.stringify(message).slice(0, 80)).toMatchObject({
        statusCode: 0,
      });
    }
  });
});

describe('credits accounting', () => {
  it('counts SMS parts: GSM-7 160/153, extension chars as 2, UCS-2 70/67', () => {
    expect(smsParts('a'.repeat(160))).toBe(1);
    expect(smsParts('a'.repeat(161))).toBe(2);
    expect(smsParts('a'.repeat(306))).toBe(2);
    expect(smsParts('a'.repeat(307))).toBe(3);
    expect(smsParts('€'.repeat(80))).toBe(1);
    expect(smsParts('€'.repeat(81))).toBe(2);
    expect(smsParts('ł'.repeat(70))).toBe(1);
    expect(smsParts('ł'.repeat(71))).toBe(2);
    expect(smsParts('ł'.repeat(134))).toBe(2);
    expect(smsParts('ł'.repeat(135))).toBe(3);
  });

  it('deducts recipients × parts', async () => {
    await send({
      messagetext: 'a'.repeat(161),
      recipients: ['0871234567', '0871234568', '0871234569'],
    });
    expect(sim.balance()).toBe(94);
    await send({ messagetext: 'ł'.repeat(71), recipients: ['0871234567'] }, 'json');
    expect(sim.balance()).toBe(92);
    expect((await credits()).json.balance).toBe(92);
  });

  it('refuses a send the balance cannot pay for with INSUFFICIENT_CREDITS 2', async () => {
    sim.setBalance(2);
    const res = await send({
      ...GOOD_SEND,
      recipients: ['0871234567', '0871234568', '0871234569'],
    });
    expect(res.json).toMatchObject({ status: 'INSUFFICIENT_CREDITS', statusCode: 2 });
    expect(sim.balance()).toBe(2);
    expect((await send(GOOD_SEND)).json).toMatchObject({ statusCode: 0 });
    expect(sim.balance()).toBe(0);
  });

  it('reset() puts the balance back to its initial value', async () => {
    await send(GOOD_SEND);
    sim.setBalance(5);
    sim.reset();
    expect(sim.balance()).toBe(100);
  });
});

describe('contacts and opt-outs', () => {
  it('dedupes imports by group + mobilenumber and counts repeats', async () => {
    await importCustomer('g1', { mobilenumber: '+353871234567', firstname: 'Ann' });
    await importCustomer('g1', { mobilenumber: '+353 87 123 4567', surname: 'Lee' }, 'json');
    await importCustomer('g2', { mobilenumber: '+353871234567' });
    const contacts = sim.contacts();
    expect(contacts).toHaveLength(2);
    expect(contacts.find((c) => c.group === 'g1')).toEqual({
      group: 'g1',
      mobilenumber: '+353871234567',
      fields: { firstname: 'Ann', surname: 'Lee' },
      importCount: 2,
    });
    expect(contacts.find((c) => c.group === 'g2')?.importCount).toBe(1);
  });

  it('counts opt-outs per number', async () => {
    await optOut({ mobilenumber: '0871234567' });
    await optOut({ mobilenumber: '087 123 4567', returnedresponse: 'bye' }, 'json');
    await optOut({ mobilenumber: '0879999999' });
    expect(sim.optOuts()).toEqual([
      { mobilenumber: '0871234567', count: 2 },
      { mobilenumber: '0879999999', count: 1 },
    ]);
  });
});

describe('faults', () => {
  it('http-error answers the chosen status (default 503) with a SYSTEM_ERROR body, `times` limits it', async () => {
    sim.injectFault({ kind: 'http-error', times: 2 });
    sim.injectFault({ kind: 'http-error', httpStatus: 502, times: 1 });
    const a = await credits();
    const b = await credits();
    const c = await credits();
    const d = await credits();
    expect([a.status, b.status, c.status, d.status]).toEqual([503, 503, 502, 200]);
    expect(a.json).toMatchObject({ status: 'SYSTEM_ERROR', statusCode: 8 });
    expect(sim.calls().map((x) => x.fault)).toEqual([
      'http-error',
      'http-error',
      'http-error',
      undefined,
    ]);
    expect(sim.calls().map((x) => x.httpStatus)).toEqual([503, 503, 502, 200]);
  });

  it('targets one operation only when `operation` is set', async () => {
    sim.injectFault({ kind: 'system-error', operation: 'send' });
    expect((await credits()).json).toMatchObject({ statusCode: 0 });
    const res = await send(GOOD_SEND);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'SYSTEM_ERROR', statusCode: 8 });
    expect((await send(GOOD_SEND)).json).toMatchObject({ statusCode: 8 });
    expect(sim.balance()).toBe(100);
    sim.clearFaults();
    expect((await send(GOOD_SEND)).json).toMatchObject({ statusCode: 0 });
  });

  it('rate-limit answers 429 with Retry-After', async () => {
    sim.injectFault({ kind: 'rate-limit', retryAfterSeconds: 7, times: 1 });
    const res = await send(GOOD_SEND);
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(sim.balance()).toBe(100);
    expect(sim.calls()[0]).toMatchObject({ fault: 'rate-limit', httpStatus: 429 });
    sim.injectFault({ kind: 'rate-limit', times: 1 });
    expect((await credits()).headers['retry-after']).toBe('1');
  });

  it('reset destroys the connection without an answer', async () => {
    sim.injectFault({ kind: 'reset', operation: 'send', times: 1 });
    const fresh = new Agent();
    try {
      await expect(
        call('POST', `${sim.url}/send`, {
          ...encode('send', { message: GOOD_SEND }, 'form'),
          dispatcher: fresh,
        }),
      ).rejects.toThrow();
    } finally {
      await fresh.close();
    }
    expect(sim.calls()[0]).toMatchObject({ fault: 'reset', httpStatus: 0 });
    expect(sim.balance()).toBe(100);
    expect((await send(GOOD_SEND)).json).toMatchObject({ statusCode: 0 });
  });

  it('malformed answers HTTP 200 with a non-JSON body', async () => {
    sim.injectFault({ kind: 'malformed', times: 1 });
    const res = await credits();
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^<html>.*Service Unavailable/);
    expect(() => JSON.parse(res.text)).toThrow();
    expect(sim.calls()[0]).toMatchObject({ fault: 'malformed', httpStatus: 200 });
  });

  it('latency delays and then proceeds normally, or into the next matching fault', async () => {
    sim.injectFault({ kind: 'latency', latencyMs: 300, operation: 'credits', times: 2 });
    sim.injectFault({ kind: 'http-error', httpStatus: 500, times: 1 });
    let t0 = performance.now();
    const first = await credits();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    expect(first.status).toBe(500);
    t0 = performance.now();
    const second = await credits();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    expect(second.json).toMatchObject({ statusCode: 0 });
    expect(sim.calls()[1]?.fault).toBe('latency');
    t0 = performance.now();
    await credits();
    expect(performance.now() - t0).toBeLessThan(250);
  });

  it('the first matching fault wins; probability 0 never applies', async () => {
    sim.injectFault({ kind: 'system-error', probability: 0 });
    sim.injectFault({ kind: 'rate-limit', operation: 'import' });
    sim.injectFault({ kind: 'http-error', httpStatus: 502 });
    expect((await credits()).status).toBe(502);
    expect((await importCustomer('g', { mobilenumber: '0871234567' })).status).toBe(429);
  });

  it('probability applies a fault to roughly that share of calls', async () => {
    sim.injectFault({ kind: 'system-error', probability: 0.5 });
    let faulted = 0;
    for (let i = 0; i < 60; i++) if ((await credits()).json.statusCode === 8) faulted++;
    expect(faulted).toBeGreaterThan(10);
    expect(faulted).toBeLessThan(50);
  });

  it('faults apply before the key check', async () => {
    sim.injectFault({ kind: 'http-error', times: 1 });
    expect((await credits('wrong')).status).toBe(503);
  });

  it('injectFault rejects a bad spec', () => {
    expect(() => sim.injectFault({ kind: 'explode' } as never)).toThrow(/Invalid fault/);
    expect(() => sim.injectFault({ kind: 'latency', probability: 2 })).toThrow();
  });
});

describe('recording', () => {
  it('numbers calls in arrival order with increasing sub-ms arrival times', async () => {
    const before = performance.timeOrigin + performance.now();
    await credits();
    await send(GOOD_SEND);
    await Promise.all([credits(), credits(), credits()]);
    const calls = sim.calls();
    expect(calls.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(calls[0]!.arrivedAt).toBeGreaterThanOrEqual(before);
    for (let i = 1; i < calls.length; i++) {
      expect(calls[i]!.arrivedAt).toBeGreaterThan(calls[i - 1]!.arrivedAt);
    }
    expect(calls.some((c) => !Number.isInteger(c.arrivedAt))).toBe(true);
  });

  it('takes the arrival time before injected latency', async () => {
    sim.injectFault({ kind: 'latency', latencyMs: 200, times: 1 });
    const before = performance.timeOrigin + performance.now();
    await credits();
    expect(sim.calls()[0]!.arrivedAt - before).toBeLessThan(150);
  });

  it('answers 404 for unknown paths, 405 for wrong methods, 413 beyond 1 MiB', async () => {
    const notFound = await call('GET', `${sim.url}/nope`);
    expect(notFound.status).toBe(404);
    expect(typeof notFound.json.error).toBe('string');
    expect((await call('GET', `${sim.origin}/send`)).status).toBe(404);
    const wrong = await call('GET', `${sim.url}/send`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
    expect((await call('POST', `${sim.url}/credits`)).status).toBe(405);
    const big = await call('POST', `${sim.url}/send`, {
      body: 'message=' + 'a'.repeat(1024 * 1024 + 1),
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(big.status).toBe(413);
    expect(sim.calls().map((c) => [c.operation, c.httpStatus])).toEqual([
      ['unknown', 404],
      ['unknown', 404],
      ['send', 405],
      ['credits', 405],
      ['send', 413],
    ]);
    expect(sim.balance()).toBe(100);
  });
});

describe('admin endpoints', () => {
  it('drives the simulator over HTTP', async () => {
    await credits();
    const listed = await admin('GET', '/calls');
    expect(listed.status).toBe(200);
    expect(listed.json.calls).toEqual([expect.objectContaining({ seq: 1, operation: 'credits' })]);
    expect((await admin('DELETE', '/calls')).status).toBe(204);
    expect(sim.calls()).toEqual([]);

    expect(
      (await admin('POST', '/faults', { kind: 'http-error', httpStatus: 500, times: 2 })).status,
    ).toBe(204);
    expect((await admin('GET', '/state')).json.faults).toEqual([
      { kind: 'http-error', httpStatus: 500, times: 2 },
    ]);
    expect((await credits()).status).toBe(500);
    expect((await admin('GET', '/state')).json.faults).toEqual([
      { kind: 'http-error', httpStatus: 500, times: 1 },
    ]);
    expect((await admin('DELETE', '/faults')).status).toBe(204);
    expect((await credits()).status).toBe(200);

    expect((await admin('PUT', '/balance', { balance: 7 })).status).toBe(204);
    await send({ messagetext: 'x', recipients: ['0871234567'] });
    await importCustomer('g', { mobilenumber: '0871234567' });
    await optOut({ mobilenumber: '0871234567' });
    expect((await admin('GET', '/state')).json).toEqual({
      balance: 6,
      contacts: [{ group: 'g', mobilenumber: '0871234567', fields: {}, importCount: 1 }],
      optOuts: [{ mobilenumber: '0871234567', count: 1 }],
      faults: [],
    });
    // admin calls are not recorded
    expect(sim.calls().map((c) => c.operation)).toEqual([
      'credits',
      'credits',
      'send',
      'import',
      'optout',
    ]);

    expect((await admin('POST', '/reset')).status).toBe(204);
    expect(sim.calls()).toEqual([]);
    expect((await admin('GET', '/state')).json).toEqual({
      balance: 100,
      contacts: [],
      optOuts: [],
      faults: [],
    });
  });

  it('answers 400 with a JSON error for bad bodies', async () => {
    const bad: Array<[string, string, unknown]> = [
      ['POST', '/faults', { kind: 'nope' }],
      ['POST', '/faults', { kind: 'latency', times: -1 }],
      ['POST', '/faults', '{not json'],
      ['PUT', '/keys', { keys: 'k' }],
      ['PUT', '/keys', { keys: [''] }],
      ['PUT', '/keys', { keys: [1] }],
      ['PUT', '/balance', { balance: 'lots' }],
      ['PUT', '/balance', {}],
    ];
    for (const [method, path, body] of bad) {
      const res = await admin(method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(typeof res.json.error).toBe('string');
    }
    expect((await admin('GET', '/nothing')).status).toBe(404);
    expect((await admin('PUT', '/calls')).status).toBe(405);
    expect(sim.balance()).toBe(100);
    expect((await credits()).json.statusCode).toBe(0);
  });
});

describe('lifecycle', () => {
  it('close() finishes quickly with a keep-alive connection open', async () => {
    const own = await startSimulator({ apiKeys: ['k'] });
    const keepAlive = new Agent({ keepAliveTimeout: 60_000 });
    try {
      const res = await request(`${own.url}/credits`, {
        headers: { authorization: 'k' },
        dispatcher: keepAlive,
      });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      const t0 = performance.now();
      await own.close();
      expect(performance.now() - t0).toBeLessThan(500);
    } finally {
      await keepAlive.destroy();
    }
  });

  it('close() does not wait for a request stuck in injected latency', async () => {
    const own = await startSimulator({ apiKeys: ['k'] });
    own.injectFault({ kind: 'latency', latencyMs: 60_000 });
    const pending = request(`${own.url}/credits`, { headers: { authorization: 'k' } }).then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(own.calls()).toHaveLength(1);
    const t0 = performance.now();
    await own.close();
    expect(performance.now() - t0).toBeLessThan(500);
    expect(await pending).toBe('failed');
  });

  it('main.ts prints its URL, serves, and stops cleanly on SIGTERM', async () => {
    const main = fileURLToPath(new URL('../tools/sendmode-simulator/main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', main, '--port', '0', '--key', 'a,b'],
      {
        env: { ...process.env, SIMULATOR_API_KEY: 'ignored' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          const m =
            /listening on (http:\/\/127\.0\.0\.1:\d+\/v2) \(admin: http:\/\/127\.0\.0\.1:\d+\/__admin\)/.exec(
              out,
            );
          if (m) resolve(m[1]!);
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const ok = await request(`${url}/credits`, { headers: { authorization: 'b' } });
      expect(await ok.body.json()).toEqual({ status: 'OK', statusCode: 0, balance: 1000 });
      const denied = await request(`${url}/credits`, { headers: { authorization: 'ignored' } });
      expect(await denied.body.json()).toMatchObject({ statusCode: 14 });
      const sent = await request(`${url}/send`, {
        method: 'POST',
        headers: { authorization: 'a', 'content-type': 'application/json' },
        body: JSON.stringify({ messagetext: 'hi', recipients: ['+353871234567'] }),
      });
      expect(await sent.body.json()).toMatchObject({ statusCode: 0 });
      await new Promise((r) => setTimeout(r, 100));
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      expect(out).toMatch(/send http=200 statusCode=0 numbers=\*\*\*567/);
      expect(out).not.toContain('871234567');
      expect(out).not.toMatch(/\bb\b.*authoriz/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
