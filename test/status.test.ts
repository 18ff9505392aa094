/**
 * GET /api/status: the limiter's window by class, reservations ahead, free slots, the next slot
 * to free, and queue / poison depths, read from Azurite without calling Sendmode.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkCredits } from '../functions/check-credits.js';
import { importCustomer } from '../functions/import-customer.js';
import { status } from '../functions/status.js';
import type { AppStatus } from '../shared/app-status.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

let env: AppEnv;
let run = 0;
let imports: string;

beforeAll(async () => {
  env = await startAppEnv();
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  run += 1;
  imports = `status-imports-${run}-${Date.now()}`;
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `status${run}x${Date.now()}`,
    IMPORT_QUEUE_NAME: imports,
    OPTOUT_QUEUE_NAME: `status-optouts-${run}-${Date.now()}`,
    RATE_LIMIT_MAX_CALLS: '5',
    RATE_LIMIT_WINDOW_SECONDS: '30',
    RATE_LIMIT_SAFETY_MARGIN_MS: '0',
    RATE_LIMIT_INTERACTIVE_RESERVE: '2',
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

describe('GET /api/status', () => {
  it('on an empty log: everything free, nothing queued', async () => {
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
    expect(body.queues.map((q) => [q.name, q.approximateMessages, q.poison])).toEqual([
      [imports, 0, { name: `${imports}-poison`, approximateMessages: 0 }],
      [expect.stringMatching(/^status-optouts-/), 0, expect.anything()],
    ]);
    expect(env.simulator.calls()).toHaveLength(0);
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
    expect(body.queues[0]?.poison.approximateMessages).toBe(2);
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
