/**
 * GET /api/status: the limiter's window by class, reservations ahead, free slots, the next slot
 * to free, queue / poison depths (the send queue first) and the send queue's line (how many
 * wait, until when sends are lined up, when the last is expected to go) and merged calls (the
 * settings, and the queued sends' calls of the last window), read from Azurite without calling
 * Sendmode.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { checkCredits } from '../functions/check-credits.js';
import { importCustomer } from '../functions/import-customer.js';
import { status } from '../functions/status.js';
import type { AppStatus } from '../shared/app-status.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { drainOutbox } from './helpers/outbox.js';

let env: AppEnv;
let run = 0;
let imports: string;
let outbox: string;

beforeAll(async () => {
  // Its tests stop and restart Azurite: an Azurite of its own.
  env = await startAppEnv({}, { storage: 'private' });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  run += 1;
  imports = `status-imports-${run}-${Date.now()}`;
  outbox = `status-outbox-${run}-${Date.now()}`;
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `status${run}x${Date.now()}`,
    SEND_QUEUE_NAME: outbox,
    IMPORT_QUEUE_NAME: imports,
    OPT_OUT_QUEUE_NAME: `status-optouts-${run}-${Date.now()}`,
    RATE_LIMIT_MAX_CALLS: '5',
    RATE_LIMIT_WINDOW_SECONDS: '30',
    RATE_LIMIT_SAFETY_MARGIN_MS: '0',
    RATE_LIMIT_INTERACTIVE_RESERVE: '2',
    // The app's defaults, and a merge table of the test's own (its call rows are its alone).
    SEND_MERGE: undefined,
    SEND_MERGE_WINDOW_MS: undefined,
    SEND_MAX_RECIPIENTS_PER_CALL: undefined,
    SEND_MERGE_TABLE_NAME: `statusmerge${run}x${Date.now()}`,
  });
  env.simulator.reset();
});

async function getStatus(): Promise<{ response: HttpResponseInit; body: AppStatus }> {
  const response = await status(
    new HttpRequest({ method: 'GET', url: 'http://localhost/api/status' }),
    testContext('status'),
  );
  return { response, body: JSON.parse(String(response.body)) as AppStatus };
}

async function credits(): Promise<number> {
  const response = await checkCredits(
    new HttpRequest({ method: 'GET', url: 'http://localhost/api/credits' }),
    testContext('check-credits'),
  );
  return response.status ?? 0;
}

const customer = (n: number) => ({ group: 'status', mobilenumber: `+3538712345${10 + n}` });
// Each its own text: sends of one text would share a call (merged calls), not line up apart.
const send = (n: number) => ({
  id: `status-send-${n}`,
  messagetext: `Status check ${n}`,
  recipients: [`+3538712346${10 + n}`],
});

/** A valid ISO 8601 moment (as toISOString writes it), in ms. */
function isoMs(value: string | null | undefined): number {
  expect(value).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const ms = Date.parse(value ?? '');
  expect(Number.isFinite(ms)).toBe(true);
  return ms;
}

/** Puts `count` sends on the outbox, invisible for a while (as deferred or held ones are). */
async function queueSends(count: number, visibilityTimeout = 0): Promise<void> {
  const queue = new QueueClient(env.azurite.connectionString, outbox);
  await queue.createIfNotExists();
  for (let n = 0; n < count; n++) {
    await queue.sendMessage(JSON.stringify(send(n)), { visibilityTimeout });
  }
}

describe('GET /api/status', () => {
  it('on an empty log: everything free, nothing queued, nothing lined up', async () => {
    const before = Date.now();
    const { response, body } = await getStatus();
    expect(response.status).toBe(200);
    expect(body.limit).toMatchObject({
      maxCalls: 5,
      windowSeconds: 30,
      interactiveReserve: 2,
      admitted: { interactive: 0, background: 0, total: 0 },
      reservedAhead: 0,
      free: { interactive: 5, background: 3 },
      nextSlotFreesAt: null,
    });
    expect(body.limit.backgroundLinedUpUntil).toBeNull();
    expect(body.limit.sendsLinedUpUntil).toBeNull();
    // The send queue first, with its poison queue.
    expect(body.queues.map((q) => [q.name, q.approximateMessages, q.poison])).toEqual([
      [outbox, 0, { name: `${outbox}-poison`, approximateMessages: 0 }],
      [imports, 0, { name: `${imports}-poison`, approximateMessages: 0 }],
      [expect.stringMatching(/^status-optouts-/), 0, expect.anything()],
      // The events on their way to subscribers (shared/subscriptions/).
      ['event-deliveries', 0, { name: 'event-deliveries-poison', approximateMessages: 0 }],
    ]);
    expect(body.outbox).toEqual({
      queue: outbox,
      waiting: 0,
      lastExpectedAt: expect.any(String),
    });
    // Nothing waits: a send queued now would go now.
    const last = isoMs(body.outbox.lastExpectedAt);
    expect(last).toBeGreaterThanOrEqual(isoMs(body.at));
    expect(last).toBeGreaterThanOrEqual(before);
    expect(last).toBeLessThanOrEqual(Date.now() + 1_000);
    // Merged calls: on by default, with the settings' defaults, and no call yet.
    expect(body.merging).toEqual({
      enabled: true,
      windowMs: 2_000,
      maxRecipientsPerCall: 1_000,
      lastWindow: { calls: 0, sends: 0, recipients: 0, recipientsPerCall: null, callsSaved: 0 },
    });
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('reports the merge settings as set', async () => {
    await env.configure({
      SEND_MERGE: 'off',
      SEND_MERGE_WINDOW_MS: '750',
      SEND_MAX_RECIPIENTS_PER_CALL: '50',
    });
    const { body } = await getStatus();
    expect(body.merging).toMatchObject({
      enabled: false,
      windowMs: 750,
      maxRecipientsPerCall: 50,
      lastWindow: { calls: 0, sends: 0, recipientsPerCall: null, callsSaved: 0 },
    });
  });

  it('after queued sends of one text shared calls: calls, sends, recipients per call, calls saved', async () => {
    // Room for every call at once: merging, not the limit, decides how many calls go.
    await env.configure({ RATE_LIMIT_MAX_CALLS: '100', RATE_LIMIT_INTERACTIVE_RESERVE: '20' });
    const SENDS = 20;
    const queue = new QueueClient(env.azurite.connectionString, outbox);
    await queue.createIfNotExists();
    await Promise.all(
      Array.from({ length: SENDS }, (_, n) =>
        queue.sendMessage(
          JSON.stringify({
            id: `status-merged-${n}`,
            messagetext: 'One text for all',
            recipients: [`+3538712347${String(n).padStart(2, '0')}`],
          }),
        ),
      ),
    );
    await drainOutbox(env.azurite.connectionString, outbox, {
      untilEmpty: true,
      timeoutMs: 60_000,
    });
    const made = env.simulator.callsFor('send');
    const reached = made.flatMap((c) => (c.payload as { recipients: string[] }).recipients);
    expect(new Set(reached).size).toBe(SENDS);

    const { body } = await getStatus();
    const { lastWindow } = body.merging;
    expect(body.merging).toMatchObject({ enabled: true, windowMs: 2_000 });
    expect(lastWindow.calls).toBeGreaterThanOrEqual(1);
    expect(lastWindow.calls).toBe(made.length);
    expect(lastWindow.calls).toBeLessThan(SENDS); // some rode along
    expect(lastWindow.sends).toBe(SENDS);
    expect(lastWindow.recipients).toBe(SENDS);
    expect(lastWindow.callsSaved).toBe(lastWindow.sends - lastWindow.calls);
    expect(lastWindow.recipientsPerCall).toBeCloseTo(lastWindow.recipients / lastWindow.calls, 1);
    // The figures are counts only: no number, no text.
    expect(JSON.stringify(body.merging)).not.toMatch(/353871234|One text/);
  }, 90_000);

  it('counts the sends waiting on the outbox (visible or not) and its poison queue', async () => {
    await queueSends(2);
    await queueSends(1, 300); // deferred or held: still waiting
    const poison = new QueueClient(env.azurite.connectionString, `${outbox}-poison`);
    await poison.createIfNotExists();
    await poison.sendMessage('{"reason":"test","message":{}}');
    const before = Date.now();
    const { body } = await getStatus();
    expect(body.outbox.queue).toBe(outbox);
    expect(body.outbox.waiting).toBe(3);
    expect(body.queues[0]).toEqual({
      name: outbox,
      approximateMessages: 3,
      poison: { name: `${outbox}-poison`, approximateMessages: 1 },
    });
    // Waiting on the queue is not lined up in the limiter: no send has taken a slot or a place.
    expect(body.limit.sendsLinedUpUntil).toBeNull();
    const last = isoMs(body.outbox.lastExpectedAt);
    expect(last).toBeGreaterThanOrEqual(before);
    expect(last).toBeGreaterThanOrEqual(isoMs(body.at));
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('with the background share used up, the last send is expected once slots free, and deferred sends line up', async () => {
    const started = Date.now();
    // 3 imports fill the background share (5 - 2) for the window (30 s).
    for (let n = 0; n < 3; n++) await importCustomer(customer(n), testContext('import-customer'));
    await queueSends(2);
    const queued = await getStatus();
    expect(queued.body.outbox.waiting).toBe(2);
    expect(queued.body.limit.sendsLinedUpUntil).toBeNull(); // queued, not yet lined up
    // Neither can go before the imports leave the window.
    const lastQueued = isoMs(queued.body.outbox.lastExpectedAt);
    expect(lastQueued).toBeGreaterThanOrEqual(started + 30_000 - 50);
    expect(lastQueued).toBeLessThanOrEqual(Date.now() + 2 * 30_000);

    // The handler takes both and defers them for the limit: each holds a place in the sends' line.
    const { handled } = await drainOutbox(env.azurite.connectionString, outbox);
    expect(handled).toBe(2);
    const deferred = await getStatus();
    expect(deferred.body.outbox.waiting).toBe(2); // back on the queue, invisible until their slot
    const linedUp = isoMs(deferred.body.limit.sendsLinedUpUntil);
    expect(linedUp).toBeGreaterThanOrEqual(started + 30_000 - 50);
    const last = isoMs(deferred.body.outbox.lastExpectedAt);
    expect(last).toBeGreaterThanOrEqual(isoMs(deferred.body.at));
    expect(last).toBeGreaterThanOrEqual(started + 30_000 - 50);
    // A send queued now goes after the line, never before it.
    expect(last).toBeGreaterThanOrEqual(linedUp);
    expect(env.simulator.callsFor('send')).toHaveLength(0);
  });

  it('shows admissions by class, reservations ahead, free slots and the next slot to free', async () => {
    const started = Date.now();
    expect(await credits()).toBe(200);
    for (let n = 0; n < 4; n++) await importCustomer(customer(n), testContext('import-customer'));
    const { body } = await getStatus();
    // 1 interactive + 2 background fill the background share (5 - 2); of the other two imports
    // one holds a reservation for when the first calls leave the window, the next (a background
    // slot later, beyond one window) is lined up.
    expect(body.limit.admitted).toEqual({ interactive: 1, background: 2, total: 3 });
    expect(body.limit.reservedAhead).toBe(1);
    expect(Date.parse(body.limit.backgroundLinedUpUntil ?? '')).toBeGreaterThan(started + 30_000);
    // Calls that would fit now: the reservations sit where the first calls have left the window,
    // so interactive work still has its reserve; background work has nothing until then.
    expect(body.limit.free).toEqual({ interactive: 2, background: 0 });
    const nextFree = Date.parse(body.limit.nextSlotFreesAt ?? '');
    expect(nextFree).toBeGreaterThanOrEqual(started + 30_000 - 50);
    expect(nextFree).toBeLessThanOrEqual(Date.now() + 30_000);
    expect(body.limit.nextSlotFreesInSeconds).toBeGreaterThan(25);
    const importQueue = body.queues.find((q) => q.name === imports);
    expect(importQueue?.approximateMessages).toBe(2); // the two deferred imports
    expect(env.simulator.calls()).toHaveLength(3); // status itself called nothing
  });

  it('counts poison messages', async () => {
    const poison = new QueueClient(env.azurite.connectionString, `${imports}-poison`);
    await poison.createIfNotExists();
    await poison.sendMessage('{"reason":"test"}');
    await poison.sendMessage('{"reason":"test"}');
    const { body } = await getStatus();
    expect(body.queues.find((q) => q.name === imports)?.poison.approximateMessages).toBe(2);
    expect(body.queues[0]?.poison.approximateMessages).toBe(0); // the outbox's
  });

  it('storage down → 503 problem, nothing called', async () => {
    await env.azurite.stop();
    try {
      const { response, body } = await getStatus();
      expect(response.status).toBe(503);
      expect(
        String(response.headers && (response.headers as Record<string, string>)['content-type']),
      ).toMatch(/problem\+json/);
      expect(JSON.stringify(body)).not.toMatch(/AccountKey|devstoreaccount1/);
    } finally {
      await env.azurite.start();
    }
    expect(env.simulator.calls()).toHaveLength(0);
  });
});
