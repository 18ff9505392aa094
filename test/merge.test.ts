/**
 * Merged calls in this process, on Azurite and the simulator: queued sends of one text share
 * Sendmode calls, sends that differ in anything but their recipients never do, a number
 * Sendmode refuses fails only its own send, opt-outs are read for every recipient when the call
 * goes, and SEND_MERGE=off sends each alone.
 */
import { HttpRequest } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { smsStatus } from '../functions/sms-status.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { drainOutbox } from './helpers/outbox.js';

const run = Math.random().toString(36).slice(2, 8);
const OUTBOX = `merge-${run}`;
let env: AppEnv;
let account = 0;

beforeAll(async () => {
  env = await startAppEnv({
    SEND_QUEUE_NAME: OUTBOX,
    SEND_STATUS_TABLE_NAME: `mstatus${run}`,
    SEND_MERGE_TABLE_NAME: `merge${run}`,
    SUPPRESSION_TABLE_NAME: `moptouts${run}`,
    SEND_MERGE_WINDOW_MS: '500',
    QUEUE_RETRY_BASE_SECONDS: '1',
    QUEUE_RETRY_MAX_SECONDS: '1',
  });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `merge${run}${(account += 1)}`,
    SEND_MERGE: undefined,
  });
  const queue = new QueueClient(env.azurite.connectionString, OUTBOX);
  if (await queue.exists()) await queue.clearMessages();
});

const number = (n: number) => `+3538750${String(n).padStart(5, '0')}`;

async function dropAll(messages: object[]) {
  const queue = new QueueClient(env.azurite.connectionString, OUTBOX);
  await queue.createIfNotExists();
  for (let i = 0; i < messages.length; i += 50) {
    await Promise.all(messages.slice(i, i + 50).map((m) => queue.sendMessage(JSON.stringify(m))));
  }
}

const drain = () =>
  drainOutbox(env.azurite.connectionString, OUTBOX, { untilEmpty: true, timeoutMs: 60_000 });

async function statusOf(id: string) {
  const response = await smsStatus(
    new HttpRequest({ method: 'GET', url: `http://localhost/api/sms/${id}`, params: { id } }),
    testContext('sms-status'),
  );
  return {
    status: response.status,
    body: JSON.parse(String(response.body)) as Record<string, unknown>,
  };
}

const sends = () => env.simulator.callsFor('send');
const recipientsOf = (call: { payload: unknown }) =>
  (call.payload as { recipients: string[] }).recipients;

describe('merged calls', () => {
  it('single-recipient sends of one text share calls; each recipient once; each status its own', async () => {
    const SENDS = 120;
    await dropAll(
      Array.from({ length: SENDS }, (_, i) => ({
        id: `m-${i}`,
        messagetext: 'Flash sale today',
        recipients: [number(i)],
      })),
    );
    await drain();
    const calls = sends();
    const reached = calls.flatMap(recipientsOf);
    expect(reached.sort()).toEqual(Array.from({ length: SENDS }, (_, i) => number(i)).sort());
    expect(calls.length).toBeLessThanOrEqual(SENDS / 10);
    for (const i of [0, 7, 63, SENDS - 1]) {
      const { status, body } = await statusOf(`m-${i}`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        id: `m-${i}`,
        status: 'OK',
        message: { recipients: [number(i)] },
      });
    }
    const merged = (await Promise.all([1, 2, 3].map((i) => statusOf(`m-${i}`)))).find(
      (s) => s.body.mergedCall,
    );
    expect(merged?.body.mergedCall).toMatchObject({ sends: expect.any(Number) });
  }, 90_000);

  it('sends that differ in text, sender id, schedule or customerid never share a call', async () => {
    const base = { messagetext: 'Hello', recipients: [] as string[] };
    const later = new Date(Date.now() + 86_400_000).toISOString();
    const variants = [
      {},
      { messagetext: 'Hello!' },
      { senderid: 'Acme' },
      { scheduledate: later },
      { customerid: 'c-1' },
      { customerid: 'c-2' },
    ];
    await dropAll(
      variants.flatMap((v, k) =>
        [0, 1, 2].map((j) => ({
          id: `v-${k}-${j}`,
          ...base,
          ...v,
          recipients: [number(k * 10 + j)],
        })),
      ),
    );
    await drain();
    // A call without the caller's customerid carries the app's reference (shared/delivery/).
    const reference = (id: unknown) =>
      typeof id === 'string' && /^sm[0-9a-f]{24}$/.test(id) ? 'app reference' : id;
    const key = (p: Record<string, unknown>) =>
      JSON.stringify([p.messagetext, p.senderid, p.scheduledate, reference(p.customerid)]);
    const byRecipient = new Map<string, string>();
    variants.forEach((v, k) => {
      const expected = key({ customerid: 'sm'.padEnd(26, '0'), ...base, ...v });
      for (const j of [0, 1, 2]) byRecipient.set(number(k * 10 + j), expected);
    });
    for (const call of sends()) {
      const payload = call.payload as Record<string, unknown>;
      for (const r of recipientsOf(call)) expect(key(payload)).toBe(byRecipient.get(r));
    }
    expect(sends().flatMap(recipientsOf)).toHaveLength(variants.length * 3);
  }, 90_000);

  it('a number Sendmode refuses fails only its own send, with Sendmode’s reason', async () => {
    env.simulator.refuseNumbers([number(13)]);
    await dropAll(
      Array.from({ length: 30 }, (_, i) => ({
        id: `r-${i}`,
        messagetext: 'Reminder',
        recipients: [number(i)],
      })),
    );
    await drain();
    const delivered = sends()
      .filter((c) => c.statusCode === 0)
      .flatMap(recipientsOf);
    expect(delivered.sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => number(i))
        .filter((n) => n !== number(13))
        .sort(),
    );
    const bad = await statusOf('r-13');
    expect(bad.status).toBe(502);
    expect(bad.body).toMatchObject({ upstream: { status: 'INVALID_MOBILE_NUMBER' } });
    for (const i of [0, 12, 14, 29]) expect((await statusOf(`r-${i}`)).status).toBe(200);
  }, 90_000);

  it('reads the opt-out list for every recipient of a merged call when it goes', async () => {
    const { suppression } = await getServices();
    await suppression.apply({
      number: number(2),
      action: 'opt-out',
      source: 'api',
      eventAt: Date.now(),
    });
    await dropAll(
      [0, 1, 2, 3].map((i) => ({ id: `o-${i}`, messagetext: 'News', recipients: [number(i)] })),
    );
    await drain();
    expect(sends().flatMap(recipientsOf)).not.toContain(number(2));
    expect((await statusOf('o-2')).status).toBe(422);
    expect((await statusOf('o-1')).status).toBe(200);
  }, 60_000);

  it('with SEND_MERGE=off every send is its own call', async () => {
    await env.configure({ SEND_MERGE: 'off' });
    await dropAll(
      [0, 1, 2, 3, 4].map((i) => ({
        id: `x-${i}`,
        messagetext: 'Same',
        recipients: [number(100 + i)],
      })),
    );
    await drain();
    expect(sends()).toHaveLength(5);
  }, 60_000);
});
