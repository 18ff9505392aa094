/**
 * Delivery reports in this process, on Azurite and the simulator: every send gets an id and a
 * status (synchronous ones too), its call carries a reference, and Sendmode's reports, in every
 * form the route takes, are stored against the recipient they name and shown by `GET /api/sms/{id}`.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { deliveryReports } from '../functions/delivery-reports.js';
import { health } from '../functions/health.js';
import { sendSms } from '../functions/send-sms.js';
import { smsStatus } from '../functions/sms-status.js';
import { planCall } from '../shared/delivery/delivery-store.js';
import { resetDeliveryWatch } from '../shared/delivery/delivery-watch.js';
import { getServices } from '../shared/services.js';
import { resetMetrics } from '../shared/telemetry/metrics.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { drainOutbox } from './helpers/outbox.js';
import { takeMessages } from './helpers/queues.js';

const run = Math.random().toString(36).slice(2, 8);
const OUTBOX = `dlr-outbox-${run}`;
const EVENTS = `dlr-events-${run}`;
const ORIGIN = 'https://sms.example.net';
let env: AppEnv;
let account = 0;

beforeAll(async () => {
  env = await startAppEnv({
    SEND_QUEUE_NAME: OUTBOX,
    SEND_STATUS_TABLE_NAME: `dlrstatus${run}`,
    SUPPRESSION_TABLE_NAME: `dlroptouts${run}`,
    SEND_MERGE_TABLE_NAME: `dlrmerge${run}`,
    EVENT_QUEUE_NAME: EVENTS,
    RATE_LIMIT_MAX_WAIT_SECONDS: '5',
  });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  resetDeliveryWatch();
  // A fresh table and account per test: no test sees another's reports.
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `dlr${run}${(account += 1)}`,
    DELIVERY_TABLE_NAME: `dlr${run}x${account}`,
    SENDMODE_API_VERSION: undefined,
    SENDMODE_BASE_URL: env.simulator.url,
    DEFAULT_SENDER_ID: undefined,
    DELIVERY_REPORTS: undefined,
    DELIVERY_REPORT_EXPECTED_MINUTES: undefined,
    DELIVERY_REPORT_WATCH_SENDS: undefined,
  });
});

const json = (response: HttpResponseInit) =>
  JSON.parse(String(response.body)) as Record<string, unknown>;

async function send(body: Record<string, unknown>) {
  const response = await sendSms(
    new HttpRequest({
      method: 'POST',
      url: `${ORIGIN}/api/sms`,
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify(body) },
    }),
    testContext('send-sms'),
  );
  expect(response.status).toBe(200);
  return json(response);
}

async function statusOf(id: string) {
  return smsStatus(
    new HttpRequest({ method: 'GET', url: `${ORIGIN}/api/sms/${id}`, params: { id } }),
    testContext('sms-status'),
  );
}

async function deliveryOf(id: string) {
  const response = await statusOf(id);
  expect(response.status).toBe(200);
  return json(response).delivery as {
    summary: Record<string, number>;
    recipients: { recipient: string; status: string; statusText: string; at?: string }[];
  };
}

type Form = 'query' | 'form' | 'json';

/** A report as Sendmode would send it: the function key in the URL, the fields as `form` says. */
async function report(fields: Record<string, string>, form: Form = 'query') {
  const query = new URLSearchParams({ code: 'function-key' });
  if (form === 'query') for (const [k, v] of Object.entries(fields)) query.set(k, v);
  const url = `${ORIGIN}/api/delivery-reports?${query.toString()}`;
  const body =
    form === 'form'
      ? { string: new URLSearchParams(fields).toString() }
      : form === 'json'
        ? { string: JSON.stringify(fields) }
        : undefined;
  const headers: Record<string, string> =
    form === 'form'
      ? { 'content-type': 'application/x-www-form-urlencoded' }
      : form === 'json'
        ? { 'content-type': 'application/json' }
        : {};
  return deliveryReports(
    new HttpRequest({
      method: form === 'query' ? 'GET' : 'POST',
      url,
      headers,
      ...(body ? { body } : {}),
    }),
    testContext('delivery-report'),
  );
}

/** The `customerid` each send call to the simulator carried. */
const references = () =>
  env.simulator.callsFor('send').map((c) => (c.payload as { customerid?: string }).customerid);

const dlr = (number: string, status: string, customerId: string) => ({
  EventID: `ev-${Math.random().toString(36).slice(2)}`,
  Phonenumber: number,
  DataType: 'SMS',
  Status: status,
  CustomerID: customerId,
});

describe('every send gets an id, a status and a reference', () => {
  it('a synchronous send answers its id, GET /api/sms/{id} shows it, and its call carries a reference', async () => {
    const answer = await send({
      messagetext: 'Hi',
      recipients: ['+353870000101', '+353870000102'],
    });
    expect(answer.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const [reference] = references();
    expect(reference).toMatch(/^sm[0-9a-f]{24}$/);
    const response = await statusOf(String(answer.id));
    expect(response.status).toBe(200);
    const body = json(response);
    expect(body).toMatchObject({ id: answer.id, status: 'OK' });
    expect(body.delivery).toEqual({
      summary: { delivered: 0, failed: 0, pending: 2, unreported: 0 },
      recipients: [
        { recipient: '+353870000101', status: 'pending', statusText: 'No delivery report yet.' },
        { recipient: '+353870000102', status: 'pending', statusText: 'No delivery report yet.' },
      ],
    });
  });

  it('a caller’s own customerid is passed as it is, and matched with the recipient', async () => {
    const answer = await send({
      messagetext: 'Hi',
      recipients: ['+353870000103'],
      customerid: 'order-77',
    });
    expect(references()).toEqual(['order-77']);
    expect((await report(dlr('353870000103', 'DELIVRD', 'order-77'))).status).toBe(200);
    expect((await deliveryOf(String(answer.id))).summary).toMatchObject({
      delivered: 1,
      pending: 0,
    });
  });
});

describe('reports in every form', () => {
  it.each<[Form, (f: Record<string, string>) => Record<string, string>]>([
    ['query', (f) => f],
    ['form', (f) => f],
    ['json', (f) => f],
    ['query', (f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k.toLowerCase(), v]))],
    ['json', (f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k.toUpperCase(), v]))],
    [
      'json',
      (f) => ({
        event_id: f.EventID!,
        phone_number: f.Phonenumber!,
        data_type: 'SMS',
        status: f.Status!,
        customer_id: f.CustomerID!,
      }),
    ],
  ])('%s report (%#) is answered True and recorded', async (form, shape) => {
    const answer = await send({ messagetext: 'Hi', recipients: ['+353870000111'] });
    const [reference] = references();
    const response = await report(shape(dlr('353870000111', 'DELIVRD', String(reference))), form);
    expect(response.status).toBe(200);
    expect(response.body).toBe('True');
    expect((response.headers as Record<string, string>)['content-type']).toMatch(/^text\/plain/);
    const delivery = await deliveryOf(String(answer.id));
    expect(delivery.recipients[0]).toMatchObject({
      status: 'delivered',
      recipient: '+353870000111',
    });
    expect(Date.parse(String(delivery.recipients[0]?.at))).toBeGreaterThan(Date.now() - 60_000);
  });

  it('out of order and duplicated: a final status never moves back, duplicates change nothing', async () => {
    const answer = await send({
      messagetext: 'Hi',
      recipients: ['+353870000121', '+353870000122'],
    });
    const [ref] = references().map(String);
    await report(dlr('353870000121', 'DISPATCHED', ref!));
    expect((await deliveryOf(String(answer.id))).recipients[0]?.status).toBe('dispatched');
    await report(dlr('353870000121', 'DELIVRD', ref!));
    await report(dlr('353870000121', 'DISPATCHED', ref!)); // late, out of order
    await report(dlr('353870000121', 'DELIVRD', ref!)); // duplicate
    await report(dlr('353870000122', 'UNDELIV', ref!));
    await report(dlr('353870000122', 'DISPATCHED', ref!));
    const delivery = await deliveryOf(String(answer.id));
    expect(delivery.summary).toEqual({ delivered: 1, failed: 1, pending: 0, unreported: 0 });
    expect(delivery.recipients.map((r) => r.status)).toEqual(['delivered', 'undelivered']);
    // A late DELIVRD outranks an earlier failure: the handset did receive it.
    await report(dlr('353870000122', 'DELIVRD', ref!));
    expect((await deliveryOf(String(answer.id))).summary.delivered).toBe(2);
  });

  it('a caller’s reference reused for two sends to one number: each report goes to a send still waiting', async () => {
    const first = await send({
      messagetext: 'A',
      recipients: ['+353870000131'],
      customerid: 'same',
    });
    const second = await send({
      messagetext: 'B',
      recipients: ['+353870000131'],
      customerid: 'same',
    });
    await report(dlr('353870000131', 'DELIVRD', 'same'));
    await report(dlr('353870000131', 'EXPIRED', 'same'));
    const states = [
      (await deliveryOf(String(first.id))).recipients[0]?.status,
      (await deliveryOf(String(second.id))).recipients[0]?.status,
    ].sort();
    expect(states).toEqual(['delivered', 'expired']);
  });

  it('a report for no known send is answered True, kept apart and counted', async () => {
    expect((await report(dlr('353870000141', 'DELIVRD', 'never-sent'))).status).toBe(200);
    expect((await report({ Phonenumber: '353870000142', Status: 'DELIVRD' })).status).toBe(200);
    const { deliveries } = await getServices();
    expect(await deliveries.unmatchedCount()).toBe(2);
  });

  it('malformed, oversized and hostile reports are refused (400, 413, 415) and never stored', async () => {
    const bad: [Record<string, string>, Form, number][] = [
      [{ Status: 'DELIVRD', CustomerID: 'x' }, 'query', 400],
      [{ Phonenumber: '353870000151' }, 'query', 400],
      [{ Phonenumber: 'not-a-number', Status: 'DELIVRD' }, 'query', 400],
      [{ Phonenumber: '353870000151', Status: '<script>' }, 'json', 400],
      [{ Phonenumber: '353870000151', Status: 'DELIVRD', DataType: 'MMS' }, 'form', 400],
      [{ Phonenumber: '353870000151', Status: 'DELIVRD', CustomerID: 'a\u0000b' }, 'json', 400],
      [
        { Phonenumber: '353870000151', Status: 'DELIVRD', CustomerID: 'x'.repeat(300) },
        'query',
        400,
      ],
      [
        { Phonenumber: '353870000151', Status: 'DELIVRD', CustomerID: 'x'.repeat(9_000) },
        'json',
        413,
      ],
    ];
    for (const [fields, form, status] of bad) {
      const response = await report(fields, form);
      expect(response.status, JSON.stringify(fields).slice(0, 80)).toBe(status);
      expect(String(response.body)).not.toContain('353870000151');
    }
    const array = await deliveryReports(
      new HttpRequest({
        method: 'POST',
        url: `${ORIGIN}/api/delivery-reports?code=k`,
        headers: { 'content-type': 'application/json' },
        body: { string: '[1,2]' },
      }),
      testContext('delivery-report'),
    );
    expect(array.status).toBe(400);
    const xml = await deliveryReports(
      new HttpRequest({
        method: 'POST',
        url: `${ORIGIN}/api/delivery-reports?code=k`,
        headers: { 'content-type': 'text/xml' },
        body: { string: '<report/>' },
      }),
      testContext('delivery-report'),
    );
    expect(xml.status).toBe(415);
    expect(await (await getServices()).deliveries.unmatchedCount()).toBe(0);
  });

  it('logs the number masked, never whole', async () => {
    const context = testContext('delivery-report');
    await deliveryReports(
      new HttpRequest({
        method: 'GET',
        url: `${ORIGIN}/api/delivery-reports?Phonenumber=353870000161&Status=DELIVRD&CustomerID=z`,
      }),
      context,
    );
    expect(context.logs.join('\n')).toContain('*********161');
    expect(context.logs.join('\n')).not.toContain('353870000161');
  });
});

describe('the sms.delivery event', () => {
  it('is published once a recipient’s status is final, again under the same id for a repeat, never for DISPATCHED', async () => {
    await takeMessages(env.azurite.connectionString, EVENTS, 32, 500); // earlier tests' events
    const answer = await send({
      messagetext: 'Hi',
      recipients: ['+353870000201'],
      customerid: 'crm-9',
    });
    await report(dlr('353870000201', 'DISPATCHED', 'crm-9'));
    await report(dlr('353870000201', 'DELIVRD', 'crm-9'));
    await report(dlr('353870000201', 'DELIVRD', 'crm-9')); // Sendmode's retry of the same report
    const events = (await takeMessages(env.azurite.connectionString, EVENTS, 32, 2_000)).map(
      (m) =>
        (m.body as { event: { id: string; type: string; data: Record<string, unknown> } }).event,
    );
    expect(events).toHaveLength(2);
    expect(events[0]?.id).toBe(events[1]?.id);
    expect(events[0]).toMatchObject({
      type: 'sms.delivery',
      data: { id: answer.id, recipient: '+353870000201', status: 'delivered', customerid: 'crm-9' },
    });
  });
});

/** Reads the app's metrics when asked, as an exporter's reader would. */
class TestReader extends MetricReader {
  protected onForceFlush = () => Promise.resolve();
  protected onShutdown = () => Promise.resolve();
}

describe('the sms.delivery metric', () => {
  it('counts each recipient a report moves, by the status reached (duplicates and late reports not)', async () => {
    const reader = new TestReader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    resetMetrics();
    try {
      await send({
        messagetext: 'Hi',
        recipients: ['+353870000211', '+353870000212'],
        customerid: 'm-1',
      });
      await report(dlr('353870000211', 'DISPATCHED', 'm-1'));
      await report(dlr('353870000211', 'DELIVRD', 'm-1'));
      await report(dlr('353870000211', 'DELIVRD', 'm-1'));
      await report(dlr('353870000211', 'DISPATCHED', 'm-1'));
      await report(dlr('353870000212', 'UNDELIV', 'm-1'));
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === 'sms.delivery');
      const counts = Object.fromEntries(
        (metric?.dataPoints ?? []).map((p) => [String(p.attributes.status), p.value]),
      );
      expect(counts).toEqual({ dispatched: 1, delivered: 1, undelivered: 1 });
    } finally {
      metrics.disable();
      resetMetrics();
    }
  });
});

describe('OPTED OUT - BLOCKED', () => {
  it('puts the number on the suppression list (source sendmode), so the next send skips it', async () => {
    await send({ messagetext: 'Hi', recipients: ['+353870000171'] });
    const [ref] = references().map(String);
    expect((await report(dlr('353870000171', 'OPTED OUT - BLOCKED', ref!))).status).toBe(200);
    const { suppression } = await getServices();
    const entry = await suppression.entry('+353870000171');
    expect(entry?.suppressed).toBe(true);
    expect(entry?.lastChange?.source).toBe('sendmode');
    // Sendmode has it already: nothing to push to Sendmode's list.
    expect(entry?.sendmodeSync).toBe('synced');
    const next = await send({
      messagetext: 'Again',
      recipients: ['+353870000171', '+353870000172'],
    });
    expect(next.skippedRecipients).toEqual([{ recipient: '+353870000171', reason: 'opted-out' }]);
  });
});

describe('queued and merged sends', () => {
  it('a merged call carries one reference, and each send shows only its own recipients', async () => {
    await env.configure({ SEND_MERGE: 'on', SEND_MERGE_WINDOW_MS: '500' });
    const queue = new QueueClient(env.azurite.connectionString, OUTBOX);
    await queue.createIfNotExists();
    const ids = ['m-1', 'm-2', 'm-3'];
    await Promise.all(
      ids.map((id, i) =>
        queue.sendMessage(
          JSON.stringify({ id, messagetext: 'Sale today', recipients: [`+35387000018${i}`] }),
        ),
      ),
    );
    await drainOutbox(env.azurite.connectionString, OUTBOX, { untilEmpty: true });
    const refs = [...new Set(references())];
    expect(refs.length).toBeGreaterThan(0);
    for (const [i, id] of ids.entries()) {
      const call = env.simulator
        .callsFor('send')
        .find((c) =>
          (c.payload as { recipients: string[] }).recipients.includes(`+35387000018${i}`),
        );
      const ref = (call?.payload as { customerid: string }).customerid;
      expect(ref).toMatch(/^sm[0-9a-f]{24}$/);
      await report(dlr(`35387000018${i}`, i === 1 ? 'REJECTD' : 'DELIVRD', ref));
      const delivery = await deliveryOf(id);
      expect(delivery.recipients).toHaveLength(1);
      expect(delivery.recipients[0]).toMatchObject({
        recipient: `+35387000018${i}`,
        status: i === 1 ? 'rejected' : 'delivered',
      });
    }
  });

  it('v3: a call of several recipients carries no reference, and its reports match by the number', async () => {
    await env.configure({
      SENDMODE_API_VERSION: 'v3',
      SENDMODE_BASE_URL: env.simulator.url.replace(/\/v2$/, '/3.0'),
      DEFAULT_SENDER_ID: 'Acme',
    });
    const answer = await send({
      messagetext: 'Hi',
      recipients: ['+353870000191', '+353870000192'],
    });
    expect((await report({ Phonenumber: '353870000192', Status: 'DELIVRD' })).status).toBe(200);
    const delivery = await deliveryOf(String(answer.id));
    expect(delivery.recipients.map((r) => r.status)).toEqual(['pending', 'delivered']);
    // A bulk send of more numbers than the index writes in flight: the last is indexed too.
    const many = Array.from({ length: 70 }, (_, i) => `+3538700006${String(i).padStart(2, '0')}`);
    const bulk = await send({ messagetext: 'All', recipients: many });
    expect((await report({ Phonenumber: '353870000669', Status: 'DELIVRD' })).status).toBe(200);
    const last = (await deliveryOf(String(bulk.id))).recipients.find(
      (r) => r.recipient === '+353870000669',
    );
    expect(last?.status).toBe('delivered');
  });
});

describe('sent, but nothing is ever delivered', () => {
  /** `count` accepted calls made `ageMs` ago, as the send path records them. */
  async function pastCalls(count: number, ageMs: number) {
    const { deliveries } = await getServices();
    const at = Date.now() - ageMs;
    const plans = Array.from({ length: count }, (_, i) =>
      planCall(
        undefined,
        [{ id: `past-${i}`, recipients: [`+3538700002${i}0`] }],
        `past-${i}`,
        'v2',
        at,
      ),
    );
    for (const plan of plans) await deliveries.expect(plan, at);
    return plans;
  }

  async function healthBody() {
    resetDeliveryWatch();
    const response = await health(
      new HttpRequest({ method: 'GET', url: `${ORIGIN}/api/health` }),
      testContext('health'),
    );
    return json(response);
  }

  it('warns on /api/health when the last N sends have no report, then when none was delivered, and stops once one is', async () => {
    await env.configure({
      DELIVERY_REPORTS: 'on',
      DELIVERY_REPORT_EXPECTED_MINUTES: '1',
      DELIVERY_REPORT_WATCH_SENDS: '3',
    });
    const plans = await pastCalls(3, 5 * 60_000);
    // A young send does not count yet.
    await send({ messagetext: 'Hi', recipients: ['+353870000299'] });
    let body = await healthBody();
    expect(body.status).toBe('warn');
    expect(body.deliveryReports).toMatchObject({ watched: 3, reported: 0, delivered: 0 });
    expect(JSON.stringify(body)).toMatch(/None of the last 3 sends has any delivery report/);
    expect(JSON.stringify(body)).toMatch(/sender id is not registered/);
    await report(dlr('353870000200', 'UNDELIV', plans[0]!.reference));
    body = await healthBody();
    expect(body.status).toBe('warn');
    expect(JSON.stringify(body)).toMatch(/Not one of the last 3 sends was reported delivered/);
    await report(dlr('353870000210', 'DELIVRD', plans[1]!.reference));
    body = await healthBody();
    expect(body.status).toBe('ok');
    expect(body.deliveryReports).toMatchObject({
      watched: 3,
      reported: 2,
      delivered: 1,
      warning: null,
    });
  });

  it('counts only calls Sendmode took: a rejected send, or one to opted-out numbers only, is not a send to watch', async () => {
    await env.configure({ DELIVERY_REPORTS: 'on', DELIVERY_REPORT_EXPECTED_MINUTES: '0' });
    const attempt = (recipients: string[]) =>
      sendSms(
        new HttpRequest({
          method: 'POST',
          url: `${ORIGIN}/api/sms`,
          headers: { 'content-type': 'application/json' },
          body: { string: JSON.stringify({ messagetext: 'Hi', recipients }) },
        }),
        testContext('send-sms'),
      );
    env.simulator.injectFault({ kind: 'sendmode-error', operation: 'send', times: 2 });
    for (const n of [1, 2]) expect((await attempt([`+35387000031${n}`])).status).toBe(502);
    const { suppression } = await getServices();
    await suppression.apply({
      number: '+353870000318',
      action: 'opt-out',
      source: 'api',
      eventAt: Date.now(),
    });
    expect((await attempt(['+353870000318'])).status).toBe(422);
    await send({ messagetext: 'Hi', recipients: ['+353870000319'] });
    const { deliveries } = await getServices();
    expect(await deliveries.watch(20, Date.now() + 1)).toEqual({
      watched: 1,
      reported: 0,
      delivered: 0,
    });
  });

  it('stays quiet while DELIVERY_REPORTS is off, or while fewer than N sends are old enough', async () => {
    await pastCalls(3, 5 * 60_000);
    expect((await healthBody()).status).toBe('ok');
    await env.configure({
      DELIVERY_REPORTS: 'on',
      DELIVERY_REPORT_WATCH_SENDS: '4',
      DELIVERY_REPORT_EXPECTED_MINUTES: '1',
    });
    expect((await healthBody()).status).toBe('ok');
  });

  it('a send without any report past DELIVERY_REPORT_EXPECTED_MINUTES shows as unreported', async () => {
    await env.configure({ DELIVERY_REPORTS: 'on', DELIVERY_REPORT_EXPECTED_MINUTES: '0' });
    const answer = await send({ messagetext: 'Hi', recipients: ['+353870000301'] });
    const delivery = await deliveryOf(String(answer.id));
    expect(delivery.summary).toEqual({ delivered: 0, failed: 0, pending: 0, unreported: 1 });
    expect(delivery.recipients[0]?.statusText).toMatch(/No delivery report came/);
  });
});

describe('storage down', () => {
  it('a report that cannot be stored is answered 503 (Sendmode may send it again), not True', async () => {
    await env.configure({
      AzureWebJobsStorage:
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;',
    });
    try {
      const response = await report(dlr('353870000401', 'DELIVRD', 'x'));
      expect(response.status).toBe(503);
      expect(response.body).not.toBe('True');
    } finally {
      await env.configure({ AzureWebJobsStorage: env.azurite.connectionString });
    }
  }, 30_000);
});
