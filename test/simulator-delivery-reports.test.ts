/**
 * The simulator's delivery reports (tools/sendmode-simulator/delivery-reports.ts) over real HTTP:
 * a local page receives them as Sendmode's "HTTP Delivery Reports" would send them, after v2 and
 * 3.0 sends, in each method, with per-number statuses, duplicates, out of order, none, retries;
 * the admin API that configures them; the inbox's view; main.ts's flag and environment.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { ReportAttempt } from '../tools/sendmode-simulator/delivery-reports.js';
import type { InboxEntry } from '../tools/sendmode-simulator/inbox/model.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../tools/sendmode-simulator/types.js';
import { freePort } from './helpers/free-port.js';
import { spawnNode } from './helpers/processes.js';

const KEY = 'reports-key';
/** Fast timings: each test sets them (reset restores the slower defaults). */
const FAST = { delayMs: 20, finalDelayMs: 60, retryDelayMs: 30 };
/** Long enough for any report still due under FAST to have come. */
const QUIET_MS = 300;

interface Received {
  method: string;
  path: string;
  /** The query string as sent, without `?`. */
  rawQuery: string;
  contentType: string | undefined;
  body: string;
  /** The report's fields, from the query, the form or the JSON body. */
  fields: Record<string, string>;
}

let receiver: http.Server;
let reportUrl: string;
let received: Received[] = [];
/** How the page answers the nth request (0-based); default 200 `True`. */
let answer: (n: number) => { status: number; body: string } = () => ({ status: 200, body: 'True' });
let sim: Simulator;

function fieldsOf(contentType: string | undefined, body: string, query: string) {
  if (contentType === 'application/json') return JSON.parse(body) as Record<string, string>;
  const form = contentType === 'application/x-www-form-urlencoded' ? body : query;
  return Object.fromEntries(new URLSearchParams(form));
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const [path = '', rawQuery = ''] = (req.url ?? '').split('?');
      const contentType = req.headers['content-type'];
      const n = received.length;
      received.push({
        method: req.method ?? '',
        path,
        rawQuery,
        contentType,
        body,
        fields: fieldsOf(contentType, body, rawQuery),
      });
      const { status, body: text } = answer(n);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  reportUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/reports`;
  sim = await startSimulator({ apiKeys: [KEY], balance: 10_000, deliveryReportUrl: reportUrl });
});
afterAll(async () => {
  await sim.close();
  await new Promise((resolve) => receiver.close(resolve));
});
beforeEach(async () => {
  sim.reset();
  received = [];
  answer = () => ({ status: 200, body: 'True' });
  await configure({});
});

async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${sim.origin}/__admin${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

async function configure(settings: Record<string, unknown>): Promise<void> {
  const res = await admin('PUT', '/delivery-reports', { ...FAST, ...settings });
  expect(res.status).toBe(200);
}

async function sendV2(message: Record<string, unknown>, key = KEY): Promise<unknown> {
  const res = await fetch(`${sim.url}/send`, {
    method: 'POST',
    headers: { authorization: key, 'content-type': 'application/json' },
    body: JSON.stringify({ message }),
  });
  return res.json();
}

async function sendV3(path: 'send' | 'send/bulk', body: Record<string, unknown>): Promise<number> {
  const res = await fetch(`${sim.urlV3}/${path}`, {
    method: 'POST',
    headers: { authorization: KEY, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Waits for `count` requests, then a while more to be sure no other comes. */
async function reports(count: number): Promise<Received[]> {
  await expect.poll(() => received.length, { timeout: 5000 }).toBeGreaterThanOrEqual(count);
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  expect(received).toHaveLength(count);
  return received;
}

/** Received fields by recipient, in arrival order. */
function byNumber(list: Received[]): Map<string, Record<string, string>[]> {
  const map = new Map<string, Record<string, string>[]>();
  for (const { fields } of list) {
    const number = fields.Phonenumber ?? '';
    map.set(number, [...(map.get(number) ?? []), fields]);
  }
  return map;
}

async function sent(): Promise<ReportAttempt[]> {
  const res = await admin('GET', '/delivery-reports/sent');
  expect(res.status).toBe(200);
  return (await res.json()) as ReportAttempt[];
}

async function entries(): Promise<InboxEntry[]> {
  const res = await fetch(`${sim.origin}/__inbox/entries`);
  return ((await res.json()) as { entries: InboxEntry[] }).entries;
}

const report = (number: string, status: string, customerId: string) => ({
  EventID: expect.stringMatching(/^\d+$/) as unknown as string,
  Phonenumber: number,
  DataType: 'SMS',
  Status: status,
  CustomerID: customerId,
});

describe('after a v2 send', () => {
  it.each([
    ['GET', 'GET', undefined],
    ['POST-form', 'POST', 'application/x-www-form-urlencoded'],
    ['POST-json', 'POST', 'application/json'],
  ])(
    '%s: DISPATCHED then DELIVRD per recipient, with its customer id or none',
    async (method, verb, type) => {
      await configure({ method });
      await sendV2({
        messagetext: 'Your order has shipped',
        recipients: ['+353 87 000 0001', '+353870000002'],
        customerid: 'order-1042',
      });
      await sendV2({ messagetext: 'No reference', recipients: ['+353870000003'] });
      const list = await reports(6);
      for (const r of list) {
        expect(r.method).toBe(verb);
        expect(r.path).toBe('/reports');
        expect(r.contentType).toBe(type);
        expect(verb === 'GET' ? r.body : r.rawQuery).toBe('');
        expect(Object.keys(r.fields)).toEqual([
          'EventID',
          'Phonenumber',
          'DataType',
          'Status',
          'CustomerID',
        ]);
      }
      const numbers = byNumber(list);
      expect([...numbers.keys()].sort()).toEqual(['353870000001', '353870000002', '353870000003']);
      for (const [number, customerId] of [
        ['353870000001', 'order-1042'],
        ['353870000002', 'order-1042'],
        ['353870000003', ''],
      ] as const) {
        expect(numbers.get(number)).toEqual([
          report(number, 'DISPATCHED', customerId),
          report(number, 'DELIVRD', customerId),
        ]);
      }
      // One EventID per message and recipient, the same on both of its reports.
      const ids = [...numbers.values()].map((r) => new Set(r.map((f) => f.EventID)));
      expect(ids.map((set) => set.size)).toEqual([1, 1, 1]);
      expect(new Set(ids.flatMap((set) => [...set])).size).toBe(3);
      const attempts = await sent();
      expect(attempts).toHaveLength(6);
      expect(attempts[0]).toEqual({
        eventId: expect.stringMatching(/^\d+$/),
        phonenumber: expect.stringMatching(/^35387000000[123]$/),
        status: 'DISPATCHED',
        customerId: expect.any(String),
        method,
        attempt: 1,
        answerStatus: 200,
        answeredTrue: true,
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
    },
  );

  it('GET keeps a query the URL already has, and a space is %20', async () => {
    await configure({ url: `${reportUrl}?account=main` });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'], customerid: 'a b&c' });
    const [first] = await reports(2);
    expect(first!.rawQuery).toMatch(
      /^account=main&EventID=\d+&Phonenumber=353870000001&DataType=SMS&Status=DISPATCHED&CustomerID=a%20b%26c$/,
    );
  });

  it('answers the send at once: reports come later', async () => {
    await configure({ delayMs: 500 });
    const answered = await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] });
    expect(answered).toMatchObject({ statusCode: 0 });
    expect(received).toEqual([]);
    await reports(2);
  });
});

describe('after a 3.0 send', () => {
  it('single (customer_id) and bulk (customerid, or none) are reported per recipient', async () => {
    expect(
      await sendV3('send', {
        sender_id: 'Acme',
        message: 'Single',
        mobile_number: '+353870000001',
        customer_id: 'c-1',
      }),
    ).toBe(200);
    expect(
      await sendV3('send/bulk', {
        sender_id: 'Acme',
        message: 'Bulk',
        mobile_numbers: ['+353870000002', '+353870000003'],
        customerid: 'bulk-7',
      }),
    ).toBe(200);
    expect(
      await sendV3('send/bulk', {
        sender_id: 'Acme',
        message: 'Bulk',
        mobile_numbers: ['+353870000004'],
      }),
    ).toBe(200);
    const numbers = byNumber(await reports(8));
    for (const [number, customerId] of [
      ['353870000001', 'c-1'],
      ['353870000002', 'bulk-7'],
      ['353870000003', 'bulk-7'],
      ['353870000004', ''],
    ] as const) {
      expect(numbers.get(number)).toEqual([
        report(number, 'DISPATCHED', customerId),
        report(number, 'DELIVRD', customerId),
      ]);
    }
  });
});

describe('what is reported', () => {
  it('statusByNumber overrides finalStatus per recipient (spaces URL-encoded)', async () => {
    await configure({
      finalStatus: 'EXPIRED',
      statusByNumber: { '353870000001': 'UNDELIV', '+353870000002': 'OPTED OUT - BLOCKED' },
    });
    await sendV2({
      messagetext: 'Hi',
      recipients: ['+353870000001', '+353870000002', '+353870000003'],
    });
    const list = await reports(6);
    const numbers = byNumber(list);
    expect(numbers.get('353870000001')?.map((f) => f.Status)).toEqual(['DISPATCHED', 'UNDELIV']);
    expect(numbers.get('353870000002')?.map((f) => f.Status)).toEqual([
      'DISPATCHED',
      'OPTED OUT - BLOCKED',
    ]);
    expect(numbers.get('353870000003')?.map((f) => f.Status)).toEqual(['DISPATCHED', 'EXPIRED']);
    const optedOut = list.find((r) => r.fields.Status === 'OPTED OUT - BLOCKED');
    expect(optedOut?.rawQuery).toContain('&Status=OPTED%20OUT%20-%20BLOCKED&');
  });

  it('duplicate: every report twice, with the same EventID', async () => {
    await configure({ duplicate: true });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'], customerid: 'd-1' });
    const list = await reports(4);
    expect(list.map((r) => r.fields)).toEqual([
      report('353870000001', 'DISPATCHED', 'd-1'),
      report('353870000001', 'DISPATCHED', 'd-1'),
      report('353870000001', 'DELIVRD', 'd-1'),
      report('353870000001', 'DELIVRD', 'd-1'),
    ]);
    expect(new Set(list.map((r) => r.fields.EventID)).size).toBe(1);
  });

  it('outOfOrder: the final status first, then DISPATCHED; the inbox keeps the final one', async () => {
    await configure({ outOfOrder: true, finalStatus: 'REJECTD' });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] });
    const list = await reports(2);
    expect(list.map((r) => r.fields.Status)).toEqual(['REJECTD', 'DISPATCHED']);
    const [entry] = await entries();
    expect(entry?.delivery).toEqual({ '+353870000001': { status: 'REJECTD' } });
  });

  it('none: the send is accepted, nothing is reported', async () => {
    await configure({ none: true });
    expect(await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] })).toMatchObject({
      statusCode: 0,
    });
    await reports(0);
    expect(await sent()).toEqual([]);
    const [entry] = await entries();
    expect(entry?.delivery).toEqual({ '+353870000001': { status: 'not reported (none)' } });
  });

  it('a rejected send reports nothing (bad number, refused key, injected rejection, 3.0)', async () => {
    expect(await sendV2({ messagetext: 'Hi', recipients: ['+353870000001', '12'] })).toMatchObject({
      status: 'INVALID_MOBILE_NUMBER',
    });
    expect(
      await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] }, 'wrong-key'),
    ).toMatchObject({ status: 'INVALID_ACCESS_KEY' });
    sim.injectFault({ kind: 'sendmode-error', times: 1 });
    expect(await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] })).toMatchObject({
      statusCode: 11,
    });
    expect(
      await sendV3('send', { sender_id: 'Acme', message: 'Hi', mobile_number: '0870000001' }),
    ).toBe(400);
    await reports(0);
    expect(await sent()).toEqual([]);
  });
});

describe('retries', () => {
  it('a page answering 500, then True, gets the report again', async () => {
    answer = (n) => (n === 0 ? { status: 500, body: 'oops' } : { status: 200, body: ' true\n' });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] });
    const list = await reports(3);
    expect(list.map((r) => r.fields.Status)).toEqual(['DISPATCHED', 'DISPATCHED', 'DELIVRD']);
    expect(list[0]!.fields.EventID).toBe(list[1]!.fields.EventID);
    const attempts = await sent();
    expect(attempts.map((a) => [a.status, a.attempt, a.answerStatus, a.answeredTrue])).toEqual([
      ['DISPATCHED', 1, 500, false],
      ['DISPATCHED', 2, 200, true],
      ['DELIVRD', 1, 200, true],
    ]);
  });

  it('a page that never answers True gets each report 1 + 3 times, then no more', async () => {
    answer = () => ({ status: 200, body: 'False' });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] });
    const list = await reports(8);
    expect(list.map((r) => r.fields.Status).sort()).toEqual([
      ...Array<string>(4).fill('DELIVRD'),
      ...Array<string>(4).fill('DISPATCHED'),
    ]);
    const attempts = await sent();
    for (const status of ['DISPATCHED', 'DELIVRD']) {
      const own = attempts.filter((a) => a.status === status);
      expect(own.map((a) => [a.attempt, a.answerStatus, a.answeredTrue])).toEqual([
        [1, 200, false],
        [2, 200, false],
        [3, 200, false],
        [4, 200, false],
      ]);
    }
    const [entry] = await entries();
    expect(entry?.delivery?.['+353870000001']).toEqual({
      status: 'DELIVRD',
      note: 'not acknowledged: HTTP 200, attempt 4 of 4',
    });
  });

  it('retries and retryDelayMs are configurable; no answer at all is recorded as 0', async () => {
    const closedPort = await freePort();
    await configure({ url: `http://127.0.0.1:${closedPort}/x`, retries: 1 });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] });
    await expect.poll(async () => (await sent()).length, { timeout: 5000 }).toBe(4);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const attempts = await sent();
    expect(attempts).toHaveLength(4);
    for (const attempt of attempts) {
      expect(attempt).toMatchObject({ answerStatus: 0, answeredTrue: false });
      expect(attempt.error).toMatch(/ECONNREFUSED|connect/i);
    }
    expect(attempts.map((a) => a.attempt).sort()).toEqual([1, 1, 2, 2]);
  });
});

describe('the admin API', () => {
  const defaults = () => ({
    url: reportUrl,
    method: 'GET',
    delayMs: 200,
    finalDelayMs: 300,
    finalStatus: 'DELIVRD',
    statusByNumber: {},
    duplicate: false,
    outOfOrder: false,
    none: false,
    retries: 3,
    retryDelayMs: 500,
  });

  it('GET shows the settings; PUT replaces them, defaults for what it leaves out', async () => {
    const put = await admin('PUT', '/delivery-reports', {
      finalStatus: 'UNDELIV',
      statusByNumber: { '+353 87 000 0001': 'EXPIRED' },
    });
    expect(put.status).toBe(200);
    const expected = {
      ...defaults(),
      finalStatus: 'UNDELIV',
      statusByNumber: { '353870000001': 'EXPIRED' },
    };
    expect(await put.json()).toEqual(expected);
    expect(await (await admin('GET', '/delivery-reports')).json()).toEqual(expected);
    expect(sim.deliveryReports.config()).toEqual(expected);
  });

  it.each([
    ['not JSON', '{', /The body must be JSON/],
    ['an array', '[]', /expected object/],
    ['an unknown field', { colour: 'red' }, /Unrecognized key: "colour"/],
    ['a URL that is not http', { url: 'ftp://example.test/x' }, /Invalid URL[\s\S]*at url/],
    ['a relative URL', { url: '/api/delivery-reports' }, /at url/],
    ['an unknown method', { method: 'POST' }, /at method/],
    ['an unknown status', { finalStatus: 'DELIVERED' }, /at finalStatus/],
    ['a negative delay', { delayMs: -1 }, /at delayMs/],
    ['a fractional delay', { finalDelayMs: 1.5 }, /at finalDelayMs/],
    ['a number that is not digits', { statusByNumber: { abc: 'UNDELIV' } }, /statusByNumber/],
    ['a status by number unknown', { statusByNumber: { '353870000001': 'x' } }, /statusByNumber/],
    ['a boolean as a string', { duplicate: 'yes' }, /at duplicate/],
    ['too many retries', { retries: 11 }, /at retries/],
  ])('PUT with %s is 400 with a clear message, and changes nothing', async (_name, body, error) => {
    await configure({ finalStatus: 'EXPIRED' });
    const before = await (await admin('GET', '/delivery-reports')).json();
    const res = await admin('PUT', '/delivery-reports', body);
    expect(res.status).toBe(400);
    const { error: message } = (await res.json()) as { error: string };
    expect(message).toMatch(error);
    if (typeof body !== 'string') expect(message).toMatch(/^Invalid delivery report settings: /);
    expect(await (await admin('GET', '/delivery-reports')).json()).toEqual(before);
  });

  it('other methods are 405', async () => {
    expect((await admin('POST', '/delivery-reports', {})).status).toBe(405);
    expect((await admin('DELETE', '/delivery-reports/sent')).status).toBe(405);
  });

  it('url null: nothing is sent, and the inbox says no report is configured', async () => {
    await configure({ url: null });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001', '+353870000002'] });
    await reports(0);
    const [entry] = await entries();
    expect(entry?.delivery).toEqual({
      '+353870000001': { status: 'no report configured' },
      '+353870000002': { status: 'no report configured' },
    });
  });

  it('reset restores the defaults (the URL it was started with), drops pending reports and the log', async () => {
    await configure({ duplicate: true, url: `${reportUrl}?other=1` });
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001'] });
    await reports(4);
    await configure({ delayMs: 200 });
    await sendV2({ messagetext: 'Pending', recipients: ['+353870000002'] });
    expect((await admin('POST', '/reset')).status).toBe(204);
    expect(await (await admin('GET', '/delivery-reports')).json()).toEqual(defaults());
    expect(await sent()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received).toHaveLength(4); // the pending send's reports never went
  });
});

describe('the inbox', () => {
  it('shows each recipient: awaiting, DISPATCHED, then the final status, updated live', async () => {
    await configure({
      delayMs: 300,
      finalDelayMs: 300,
      statusByNumber: { '353870000002': 'UNDELIV' },
    });
    const controller = new AbortController();
    const stream = await fetch(`${sim.origin}/__inbox/events`, { signal: controller.signal });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const updates = async (count: number): Promise<InboxEntry[]> => {
      for (;;) {
        const found = [...text.matchAll(/^event: update\ndata: (.*)$/gm)].map(
          (m) => JSON.parse(m[1]!) as InboxEntry,
        );
        if (found.length >= count) return found;
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += value;
      }
    };
    await sendV2({ messagetext: 'Hi', recipients: ['+353870000001', '+353870000002'] });
    const [entry] = await entries();
    expect(entry?.delivery).toEqual({
      '+353870000001': { status: 'awaiting report' },
      '+353870000002': { status: 'awaiting report' },
    });
    const seen = await updates(4);
    expect(seen.map((e) => e.seq)).toEqual([1, 1, 1, 1]);
    expect(seen.at(-1)?.delivery).toEqual({
      '+353870000001': { status: 'DELIVRD' },
      '+353870000002': { status: 'UNDELIV' },
    });
    const halfway = seen.find((e) =>
      Object.values(e.delivery ?? {}).every((d) => d.status === 'DISPATCHED'),
    );
    expect(halfway).toBeDefined();
    expect((await entries())[0]?.delivery).toEqual(seen.at(-1)?.delivery);
    controller.abort();
  });

  it('a clear forgets the reports of calls it cleared', async () => {
    await configure({ delayMs: 150 });
    await sendV2({ messagetext: 'Old', recipients: ['+353870000001'] });
    expect((await admin('DELETE', '/calls')).status).toBe(204);
    await sendV2({ messagetext: 'New', recipients: ['+353870000001'] });
    await reports(4); // both messages are still reported (Sendmode knows nothing of the inbox)
    const list = await entries();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ seq: 1, sms: [{ text: 'New' }] });
    expect(list[0]?.delivery).toEqual({ '+353870000001': { status: 'DELIVRD' } });
  });
});

describe('the simulator closing', () => {
  it('closes promptly with reports pending, and sends none of them', async () => {
    const own = await startSimulator({ apiKeys: ['k'], deliveryReportUrl: reportUrl });
    own.deliveryReports.configure({ delayMs: 300 });
    await fetch(`${own.url}/send`, {
      method: 'POST',
      headers: { authorization: 'k', 'content-type': 'application/json' },
      body: JSON.stringify({ messagetext: 'Hi', recipients: ['+353870000001'] }),
    });
    const t0 = performance.now();
    await own.close();
    expect(performance.now() - t0).toBeLessThan(500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(received).toEqual([]);
  });

  it('refuses to start with a bad report URL', async () => {
    await expect(startSimulator({ deliveryReportUrl: 'not a url' })).rejects.toThrow(
      /Invalid delivery report settings/,
    );
  });
});

describe('main.ts', () => {
  it('takes the URL from --delivery-report-url over SIMULATOR_DELIVERY_REPORT_URL, and logs masked', async () => {
    const child = spawnNode(
      ['--import', 'tsx', 'tools/sendmode-simulator/main.ts', '--port', '0', '--key', 'k'],
      { env: { SIMULATOR_DELIVERY_REPORT_URL: `${reportUrl}?from=env` } },
    );
    const flagged = spawnNode(
      [
        '--import',
        'tsx',
        'tools/sendmode-simulator/main.ts',
        '--port',
        '0',
        '--key',
        'k',
        '--delivery-report-url',
        `${reportUrl}?from=flag`,
      ],
      { env: { SIMULATOR_DELIVERY_REPORT_URL: `${reportUrl}?from=env` } },
    );
    try {
      for (const [proc, from] of [
        [child, 'env'],
        [flagged, 'flag'],
      ] as const) {
        const origin = (await proc.waitFor(/admin: (http:\/\/127\.0\.0\.1:\d+)\/__admin/))[1]!;
        await proc.waitFor(new RegExp(`^Delivery reports: ${reportUrl}\\?from=${from}$`));
        const config = (await (await fetch(`${origin}/__admin/delivery-reports`)).json()) as {
          url: string;
        };
        expect(config.url).toBe(`${reportUrl}?from=${from}`);
        await fetch(`${origin}/__admin/delivery-reports`, {
          method: 'PUT',
          body: JSON.stringify({ ...FAST, url: config.url }),
        });
        await fetch(`${origin}/v2/send`, {
          method: 'POST',
          headers: { authorization: 'k', 'content-type': 'application/json' },
          body: JSON.stringify({ messagetext: 'Hi', recipients: ['+353871234567'] }),
        });
        await proc.waitFor(/delivery-report GET status=DELIVRD number=\*\*\*567 .*http=200 True/);
      }
      expect(received.map((r) => r.rawQuery.split('&')[0])).toEqual([
        'from=env',
        'from=env',
        'from=flag',
        'from=flag',
      ]);
      for (const proc of [child, flagged]) expect(proc.output()).not.toContain('871234567');
    } finally {
      await Promise.all([child.stop('SIGTERM'), flagged.stop('SIGTERM')]);
    }
  }, 30_000);
});
