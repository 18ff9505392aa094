/**
 * Delivery reports end to end: the local host with the simulator sending Sendmode's reports to
 * `/api/delivery-reports` over HTTP, as the account setting would. A send's status reaches
 * `delivered` per recipient, `OPTED OUT - BLOCKED` suppresses the number, and with the
 * simulator reporting nothing the "nothing delivered" warning appears on `/api/health`.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ReportAttempt } from '../../tools/sendmode-simulator/delivery-reports.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import { startSubscriber, type Subscriber, verifyDelivery } from '../helpers/subscriber.js';

const WATCH = 3;
let env: HostsEnv;
let host: string;
let flow: Subscriber;
let flowSecret: string;

beforeAll(async () => {
  env = await startHostsEnv(1, {
    DELIVERY_REPORTS: 'on',
    DELIVERY_REPORT_EXPECTED_MINUTES: '0',
    DELIVERY_REPORT_WATCH_SENDS: String(WATCH),
    AzureFunctionsJobHost__extensions__queues__maxPollingInterval: '00:00:00.200',
  });
  host = env.hosts[0]!.url;
  // A flow's trigger "When an SMS is delivered or fails".
  flow = await startSubscriber();
  const res = await fetch(`${host}/api/subscriptions/sms-delivery`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ callbackUrl: flow.url }),
  });
  expect(res.status).toBe(201);
  flowSecret = String(((await res.json()) as { secret: string }).secret);
}, 180_000);
afterAll(async () => {
  await flow?.close();
  await env?.stop();
});

const reportTo = () => `${host}/api/delivery-reports?code=local-key`;

async function send(recipients: string[]) {
  const res = await fetch(`${host}/api/sms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messagetext: 'Your order has shipped', recipients }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string; skippedRecipients?: unknown[] };
}

interface Delivery {
  summary: { delivered: number; failed: number; pending: number; unreported: number };
  recipients: { recipient: string; status: string }[];
}

/** Polls the send's status until `done` says its delivery is as expected, or times out. */
async function deliveryWhen(id: string, done: (d: Delivery) => boolean): Promise<Delivery> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await fetch(`${host}/api/sms/${id}`);
    const body = (await res.json()) as { delivery?: Delivery };
    if (body.delivery && done(body.delivery)) return body.delivery;
    if (Date.now() > deadline) throw new Error(`Delivery never settled: ${JSON.stringify(body)}`);
    await sleep(200);
  }
}

/**
 * Waits until the app has answered True to the simulator's report of `status` for `digits`: the
 * report has been taken in full (a send's status can show it before the rest is written).
 */
async function reportTaken(digits: string, status: string): Promise<void> {
  await expect
    .poll(
      async () => {
        const res = await fetch(`${env.simulator.origin}/__admin/delivery-reports/sent`);
        const sent = (await res.json()) as ReportAttempt[];
        return sent.some((r) => r.phonenumber === digits && r.status === status && r.answeredTrue);
      },
      { timeout: 20_000 },
    )
    .toBe(true);
}

describe('delivery reports from the simulator', () => {
  it('a send’s status reaches delivered (and undelivered) per recipient', async () => {
    await env.deliveryReports({
      url: reportTo(),
      delayMs: 50,
      finalDelayMs: 100,
      statusByNumber: { '353870000502': 'UNDELIV' },
    });
    const { id } = await send(['+353870000501', '+353870000502']);
    const delivery = await deliveryWhen(id, (d) => d.summary.delivered + d.summary.failed === 2);
    expect(delivery.summary).toEqual({ delivered: 1, failed: 1, pending: 0, unreported: 0 });
    expect(delivery.recipients.map((r) => [r.recipient, r.status])).toEqual([
      ['+353870000501', 'delivered'],
      ['+353870000502', 'undelivered'],
    ]);
    // The flow's trigger got each recipient's final status, signed, once per recipient.
    const deadline = Date.now() + 20_000;
    while (flow.received.length < 2 && Date.now() < deadline) await sleep(100);
    const events = flow.received.map((d) => verifyDelivery(flowSecret, d));
    expect(events.map((e) => [e.type, e.data.id, e.data.recipient, e.data.status]).sort()).toEqual([
      ['sms.delivery', id, '+353870000501', 'delivered'],
      ['sms.delivery', id, '+353870000502', 'undelivered'],
    ]);
    // Every report was answered True by the app.
    const sent = (await (
      await fetch(`${env.simulator.origin}/__admin/delivery-reports/sent`)
    ).json()) as { answeredTrue: boolean }[];
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(sent.every((r) => r.answeredTrue)).toBe(true);
  });

  it('out of order and duplicated reports leave the final status', async () => {
    await env.deliveryReports({ url: reportTo(), delayMs: 50, outOfOrder: true, duplicate: true });
    const { id } = await send(['+353870000511']);
    const delivery = await deliveryWhen(id, (d) => d.summary.delivered === 1);
    await sleep(800); // the late DISPATCHED and the duplicates arrive
    const after = await deliveryWhen(id, () => true);
    expect(after).toEqual(delivery);
  });

  it('OPTED OUT - BLOCKED puts the number on the suppression list: the next send skips it', async () => {
    await env.deliveryReports({
      url: reportTo(),
      delayMs: 50,
      statusByNumber: { '353870000521': 'OPTED OUT - BLOCKED' },
    });
    const { id } = await send(['+353870000521']);
    await deliveryWhen(id, (d) => d.recipients[0]?.status === 'opted-out');
    await reportTaken('353870000521', 'OPTED OUT - BLOCKED');
    const lookup = (await (await fetch(`${host}/api/optouts/+353870000521`)).json()) as {
      suppressed: boolean;
      sendmodeSync: string;
      trail: { source: string; action: string }[];
    };
    // Sendmode's own list has it: recorded as synced, so the app never pushes it there again.
    expect(lookup).toMatchObject({ suppressed: true, sendmodeSync: 'synced' });
    expect(lookup.trail.map((t) => [t.action, t.source])).toEqual([['opt-out', 'sendmode']]);
    const next = await send(['+353870000521', '+353870000522']);
    expect(next.skippedRecipients).toEqual([{ recipient: '+353870000521', reason: 'opted-out' }]);
  });

  it('with the simulator reporting nothing, /api/health warns after the configured count', async () => {
    await env.deliveryReports({ url: reportTo(), none: true });
    for (let i = 0; i < WATCH; i++) await send([`+35387000053${i}`]);
    const health = (await (await fetch(`${host}/api/health`)).json()) as {
      status: string;
      deliveryReports: { watched: number; reported: number; warnings: string[] };
    };
    expect(health.status).toBe('warn');
    expect(health.deliveryReports).toMatchObject({ watched: WATCH, reported: 0 });
    expect(health.deliveryReports.warnings[0]).toMatch(/None of the last 3 sends/);
    const { id } = await send(['+353870000539']);
    const delivery = await deliveryWhen(id, () => true);
    expect(delivery.recipients[0]?.status).toBe('unreported');
  });
});
