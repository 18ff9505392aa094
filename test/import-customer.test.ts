/**
 * import-customer: every end state of a queue message, on Azurite and the simulator. The
 * handler is called as the host calls it (message already decoded, dequeueCount in the trigger
 * metadata); what it leaves on the queues is read back from Azurite.
 */
import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { importCustomer } from '../functions/import-customer.js';
import { queueHostConfig } from '../shared/queues/host-config.js';
import { type AppEnv, startAppEnv } from './helpers/app-env.js';
import { messageCount, takeMessages } from './helpers/queues.js';

const QUEUE = 'customer-imports';
const POISON = `${QUEUE}-poison`;
let env: AppEnv;
let account = 0;

beforeAll(async () => {
  // Its tests stop and restart Azurite: an Azurite of its own.
  env = await startAppEnv(
    { QUEUE_RETRY_BASE_SECONDS: '1', QUEUE_RETRY_MAX_SECONDS: '4' },
    { storage: 'private' },
  );
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `import${(account += 1)}`,
    RATE_LIMIT_MAX_CALLS: '100',
    RATE_LIMIT_WINDOW_SECONDS: '60',
  });
  await takeMessages(env.azurite.connectionString, QUEUE, 1000, 0);
  await takeMessages(env.azurite.connectionString, POISON, 1000, 0);
});

function context(dequeueCount = 1): InvocationContext & { logs: string[] } {
  const logs: string[] = [];
  const ctx = new InvocationContext({
    functionName: 'import-customer',
    invocationId: `inv-${Math.random()}`,
    triggerMetadata: { dequeueCount },
    logHandler: (level, ...args) => logs.push(`${level} ${args.join(' ')}`),
  });
  return Object.assign(ctx, { logs });
}

const customer = {
  group: 'vip',
  mobilenumber: '+353 87 123 4567',
  firstname: 'Aoife',
  email: 'aoife@example.ie',
  dateofbirth: '29/02/1992',
};

async function poisoned() {
  return (await takeMessages(env.azurite.connectionString, POISON, 1, 2_000)).map(
    (m) => m.body as Record<string, unknown>,
  );
}

describe('import-customer', () => {
  it('imports a valid customer through the limiter and leaves nothing behind', async () => {
    const ctx = context();
    await importCustomer(customer, ctx);
    expect(env.simulator.contacts()).toEqual([
      expect.objectContaining({ group: 'vip', mobilenumber: '+353871234567', importCount: 1 }),
    ]);
    expect(await messageCount(env.azurite.connectionString, QUEUE)).toBe(0);
    expect(await messageCount(env.azurite.connectionString, POISON)).toBe(0);
    const line = ctx.logs.find((l) => l.includes('"operation"')) ?? '';
    expect(line).toMatch(/"outcome":"done"/);
    expect(line).not.toMatch(/871234567/);
  });

  it('accepts the connector form { group, importdata } and a JSON string message', async () => {
    await importCustomer({ group: 'g1', importdata: { mobilenumber: '0871234567' } }, context());
    await importCustomer(JSON.stringify({ group: 'g2', mobilenumber: '0861234567' }), context());
    expect(
      env.simulator
        .contacts()
        .map((c) => c.group)
        .sort(),
    ).toEqual(['g1', 'g2']);
  });

  it('handled twice (at-least-once delivery) does no harm: one contact', async () => {
    await importCustomer(customer, context());
    await importCustomer(customer, context());
    expect(env.simulator.contacts()).toHaveLength(1);
  });

  it.each([
    ['not JSON', 'group=vip&mobilenumber=0871234567', [{ field: 'body' }]],
    ['not an object', [customer], [{ field: 'body' }]],
    ['a number', 42, [{ field: 'body' }]],
    ['missing fields', { firstname: 'x' }, [{ field: 'group' }, { field: 'mobilenumber' }]],
    ['implausible number', { ...customer, mobilenumber: '12' }, [{ field: 'mobilenumber' }]],
    [
      'impossible birth date',
      { ...customer, dateofbirth: '31/02/1990' },
      [{ field: 'dateofbirth' }],
    ],
    ['US-style birth date', { ...customer, dateofbirth: '1990-01-31' }, [{ field: 'dateofbirth' }]],
    ['bad e-mail', { ...customer, email: 'not-an-address' }, [{ field: 'email' }]],
    ['oversized field', { ...customer, address: 'x'.repeat(5_000) }, [{ field: 'address' }]],
    ['control characters', { ...customer, surname: 'Ó\u0000Brien' }, [{ field: 'surname' }]],
  ])(
    '%s → parked at once in the poison queue with each bad field, not retried',
    async (_name, message, errors) => {
      await importCustomer(message, context());
      const [parked, ...more] = await poisoned();
      expect(more).toHaveLength(0);
      expect(parked).toMatchObject({
        reason: expect.stringMatching(/not a valid request/),
        attempts: 1,
      });
      expect(parked?.errors).toEqual(errors.map((e) => expect.objectContaining(e)));
      expect(parked?.message).toEqual(message);
      expect(await messageCount(env.azurite.connectionString, QUEUE)).toBe(0);
      expect(env.simulator.calls()).toHaveLength(0);
    },
  );

  it('hostile keys (__proto__, constructor) neither crash nor pollute', async () => {
    const hostile = JSON.parse(
      '{"group":"g","mobilenumber":"0871234567","__proto__":{"polluted":true},"constructor":{"x":1}}',
    ) as unknown;
    await importCustomer(hostile, context());
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(env.simulator.contacts()).toHaveLength(1);
  });

  it('a permanent upstream rejection → poison with Sendmode’s status and error', async () => {
    env.simulator.injectFault({
      kind: 'sendmode-error',
      status: 'INVALID_MOBILE_NUMBER',
      statusCode: 11,
    });
    await importCustomer(customer, context());
    const [parked] = await poisoned();
    expect(parked).toMatchObject({
      reason: expect.stringMatching(/Sendmode rejected/),
      upstream: { status: 'INVALID_MOBILE_NUMBER', statusCode: 11 },
      message: customer,
    });
    expect(await messageCount(env.azurite.connectionString, QUEUE)).toBe(0);
  });

  it('a transient failure is retried with a growing delay, then parked saying why', async () => {
    env.simulator.injectFault({ kind: 'http-error', httpStatus: 503, operation: 'import' });
    const max = queueHostConfig().maxDequeueCount;
    let message: unknown = customer;
    const waits: number[] = [];
    for (let attempt = 1; attempt < max; attempt += 1) {
      await importCustomer(message, context());
      const [retry] = await takeMessages(env.azurite.connectionString, QUEUE, 1, 10_000);
      expect(retry?.body).toMatchObject({
        kind: 'sendmode-connector/retry',
        attempts: attempt,
        payload: customer,
      });
      waits.push(retry!.waitedMs);
      message = retry!.body;
    }
    // Delays 1, 2, 4, 4 s (base 1 s, doubling, capped at 4 s): each no shorter than the last.
    expect(waits[1]!).toBeGreaterThan(waits[0]! + 500);
    await importCustomer(message, context());
    const [parked] = await poisoned();
    expect(parked).toMatchObject({
      reason: expect.stringMatching(new RegExp(`Failed ${max} times`)),
      attempts: max,
      message: customer,
    });
    expect(env.simulator.callsFor('import')).toHaveLength(max);
  }, 40_000);

  it('SYSTEM_ERROR and time-outs count as transient too', async () => {
    env.simulator.injectFault({ kind: 'system-error', times: 1 });
    await importCustomer(customer, context());
    const [retry] = await takeMessages(env.azurite.connectionString, QUEUE, 1, 5_000);
    expect(retry?.body).toMatchObject({ attempts: 1 });
    await importCustomer(retry!.body, context());
    expect(env.simulator.contacts()).toHaveLength(1);
  });

  it('the host’s own redeliveries count as attempts (dequeueCount)', async () => {
    env.simulator.injectFault({ kind: 'http-error', httpStatus: 500 });
    await importCustomer(customer, context(queueHostConfig().maxDequeueCount));
    const [parked] = await poisoned();
    expect(parked?.attempts).toBe(queueHostConfig().maxDequeueCount);
  });

  it('rate-limited → deferred to a slot reserved for it, without using up an attempt', async () => {
    await env.configure({
      RATE_LIMIT_MAX_CALLS: '1',
      RATE_LIMIT_WINDOW_SECONDS: '4',
      RATE_LIMIT_SAFETY_MARGIN_MS: '0',
      RATE_LIMIT_INTERACTIVE_RESERVE: '0',
    });
    await importCustomer({ ...customer, group: 'first' }, context());
    const firstAt = env.simulator.callsFor('import')[0]!.arrivedAt;
    await importCustomer(customer, context());
    const [deferred] = await takeMessages(env.azurite.connectionString, QUEUE, 1, 10_000);
    const reservation = (deferred?.body as { reservation?: number }).reservation;
    expect(deferred?.body).toMatchObject({ attempts: 0, deferrals: 1, payload: customer });
    // The slot that frees when the first call leaves the window is kept for this message.
    expect(reservation).toBeGreaterThanOrEqual(firstAt + 4_000 - 50);
    // It comes back just before that moment (whole seconds), and waits in-process for the rest.
    expect(deferred!.waitedMs).toBeGreaterThanOrEqual(2_500);
    await importCustomer(deferred!.body, context());
    const calls = env.simulator.callsFor('import');
    expect(calls).toHaveLength(2); // the deferral made no call
    expect(calls[1]!.arrivedAt).toBeGreaterThanOrEqual(reservation! - 50);
    expect(
      env.simulator
        .contacts()
        .map((c) => c.group)
        .sort(),
    ).toEqual(['first', 'vip']);
  });

  it('rate-limited with a slot soon enough → waits for it in-process instead of deferring', async () => {
    await env.configure({
      RATE_LIMIT_MAX_CALLS: '1',
      RATE_LIMIT_WINDOW_SECONDS: '1',
      RATE_LIMIT_SAFETY_MARGIN_MS: '0',
      RATE_LIMIT_INTERACTIVE_RESERVE: '0',
    });
    await importCustomer({ ...customer, group: 'first' }, context());
    await importCustomer(customer, context());
    expect(env.simulator.callsFor('import')).toHaveLength(2);
    expect(await takeMessages(env.azurite.connectionString, QUEUE, 1, 1_500)).toHaveLength(0);
  });

  it('storage down: the handler throws so the host redelivers (nothing lost, nothing called)', async () => {
    await env.azurite.stop();
    try {
      await expect(importCustomer(customer, context())).rejects.toThrow();
      expect(env.simulator.calls()).toHaveLength(0);
    } finally {
      await env.azurite.start();
    }
  });
});
