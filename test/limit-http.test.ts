/**
 * The shared limit at the HTTP edge, in this process with the real handlers: 429 with
 * Retry-After when it is reached, a short wait inside the request, every retry metered, and
 * fail-closed 503s when Table Storage is gone. Limit scaled to 2 calls per 2 s, no margin, so
 * Retry-After is 1 or 2 seconds.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { checkCredits } from '../functions/check-credits.js';
import { sendSms } from '../functions/send-sms.js';
import { RATE_LIMIT_ROW_KEY } from '../shared/limit/limiter-entity.js';
import { parseSettings } from '../shared/settings.js';
import { createTableClient } from '../shared/storage/table-storage.js';
import { type KeyVaultFake, startKeyVaultFake, useFakeManagedIdentity } from './fakes/key-vault.js';
import { type AppEnv, startAppEnv, TEST_API_KEY, testContext } from './helpers/app-env.js';

const WINDOW_MS = 2_000;
const LIMIT = {
  RATE_LIMIT_MAX_CALLS: '2',
  RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_MS / 1000),
  RATE_LIMIT_SAFETY_MARGIN_MS: '0',
  RATE_LIMIT_MAX_WAIT_SECONDS: '0',
};
const valid = { messagetext: 'Your order has shipped', recipients: ['+353 87 123 4567'] };

let env: AppEnv;
let account: string;

beforeAll(async () => {
  // Its tests stop and restart Azurite: an Azurite of its own.
  env = await startAppEnv(LIMIT, { storage: 'private' });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  // A fresh account (limiter log) per test: no test inherits another's slots.
  account = `http${randomUUID().slice(0, 8)}`;
  await env.configure({
    ...LIMIT,
    SENDMODE_ACCOUNT_NAME: account,
    SENDMODE_API_KEY: TEST_API_KEY,
    KEY_VAULT_URI: undefined,
  });
});

function send(body: unknown = valid): Promise<HttpResponseInit> {
  const request = new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/sms',
    headers: { 'content-type': 'application/json' },
    body: { string: JSON.stringify(body) },
  });
  return sendSms(request, testContext('send-sms'));
}

function credits(): Promise<HttpResponseInit> {
  const request = new HttpRequest({ method: 'GET', url: 'http://localhost/api/credits' });
  return checkCredits(request, testContext('check-credits'));
}

function header(response: HttpResponseInit, name: string): string | undefined {
  return (response.headers as Record<string, string> | undefined)?.[name];
}

function problem(response: HttpResponseInit): Record<string, unknown> {
  expect(header(response, 'content-type')).toBe('application/problem+json');
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

/** Retry-After as whole seconds: digits only, at least 1. */
function retryAfterSeconds(response: HttpResponseInit): number {
  const value = header(response, 'retry-after');
  expect(value).toMatch(/^\d+$/);
  const seconds = Number(value);
  expect(seconds).toBeGreaterThanOrEqual(1);
  return seconds;
}

/** The limiter's log for this test's account, as stored in Table Storage. */
async function storedLog(): Promise<number[]> {
  const settings = parseSettings({ AzureWebJobsStorage: env.azurite.connectionString });
  const table = await createTableClient(settings, 'ratelimits');
  const entity = await table.getEntity<{ times: string }>(account, RATE_LIMIT_ROW_KEY);
  return JSON.parse(entity.times) as number[];
}

async function fill(): Promise<number> {
  expect((await send()).status).toBe(200);
  expect((await send()).status).toBe(200);
  const log = await storedLog();
  expect(log).toHaveLength(2);
  return log[0] as number;
}

describe('when the shared limit is reached', () => {
  it('answers 429 with Retry-After rounded up to the oldest slot, a problem body, and no upstream call; waiting Retry-After then succeeds', async () => {
    const oldest = await fill();

    const before = Date.now();
    const response = await send();
    const after = Date.now();
    expect(response.status).toBe(429);
    const seconds = retryAfterSeconds(response);
    // Whole seconds until the oldest slot leaves the window, rounded up.
    const bound = (now: number) => Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
    expect(seconds).toBeGreaterThanOrEqual(bound(after));
    expect(seconds).toBeLessThanOrEqual(bound(before));
    expect([1, 2]).toContain(seconds);
    expect(problem(response)).toMatchObject({
      type: 'urn:sendmode-connector:problem:rate-limited',
      status: 429,
      title: expect.any(String),
      detail: expect.any(String),
    });

    // check-credits takes its slot from the same limit.
    const creditsResponse = await credits();
    expect(creditsResponse.status).toBe(429);
    expect(problem(creditsResponse)).toMatchObject({ status: 429 });
    expect(env.simulator.calls()).toHaveLength(2);
    expect(await storedLog()).toHaveLength(2);

    // A caller that honours Retry-After is admitted on its next try.
    await sleep(seconds * 1000);
    expect((await send()).status).toBe(200);
    const sends = env.simulator.callsFor('send');
    expect(sends).toHaveLength(3);
    expect(sends.every((c) => c.authorized)).toBe(true);
  });

  it('with RATE_LIMIT_MAX_WAIT_SECONDS=3 the request waits inside for the oldest slot and succeeds', async () => {
    await env.configure({ RATE_LIMIT_MAX_WAIT_SECONDS: '3' });
    const oldest = await fill();

    const started = Date.now();
    const response = await send();
    const tookMs = Date.now() - started;
    expect(response.status).toBe(200);
    // It took about as long as the oldest slot needed to free: not less, and not much more
    // (the limiter adds up to 25 ms of jitter, then one decision and one upstream call).
    const freesInMs = oldest + WINDOW_MS - started;
    expect(tookMs).toBeGreaterThanOrEqual(freesInMs - 5);
    expect(tookMs).toBeLessThan(freesInMs + 750);
    // Admitted no earlier than the oldest slot left the window (which dropped it from the log).
    const newest = (await storedLog()).at(-1) as number;
    expect(newest - oldest).toBeGreaterThanOrEqual(WINDOW_MS);
    expect(env.simulator.callsFor('send')).toHaveLength(3);
    console.log(
      `[limit-http] waited inside the request ${tookMs} ms for a slot that freed in ${freesInMs} ms`,
    );
  });

  it('does not hold the request when no slot can free within RATE_LIMIT_MAX_WAIT_SECONDS', async () => {
    await env.configure({ RATE_LIMIT_MAX_WAIT_SECONDS: '1' });
    await fill();
    const started = Date.now();
    const response = await send();
    expect(response.status).toBe(429);
    expect(Date.now() - started).toBeLessThan(500);
    expect(retryAfterSeconds(response)).toBe(2);
    expect(env.simulator.calls()).toHaveLength(2);
  });
});

describe('every retry is metered', () => {
  let vault: KeyVaultFake;
  let restore: () => void;
  beforeAll(async () => {
    vault = await startKeyVaultFake({ 'sendmode-api-key': TEST_API_KEY });
    restore = useFakeManagedIdentity(vault);
  });
  afterAll(async () => {
    restore();
    await vault.close();
  });

  async function useVault(maxCalls: number): Promise<void> {
    vault.setSecret('sendmode-api-key', TEST_API_KEY);
    await env.configure({
      KEY_VAULT_URI: vault.url,
      SENDMODE_API_KEY: undefined,
      RATE_LIMIT_MAX_CALLS: String(maxCalls),
    });
    expect((await send()).status).toBe(200); // the old key is now cached
    vault.setSecret('sendmode-api-key', 'rotated-key');
    env.simulator.setApiKeys(['rotated-key']);
  }

  it('a key rotated in the vault: the refused call and its retry take a slot each', async () => {
    await useVault(3);
    expect((await send()).status).toBe(200);
    expect(env.simulator.callsFor('send').map((c) => c.authorized)).toEqual([true, false, true]);
    // Three upstream calls, three slots; the next call finds the limit reached.
    expect(await storedLog()).toHaveLength(3);
    const response = await send();
    expect(response.status).toBe(429);
    expect(env.simulator.calls()).toHaveLength(3);
  });

  it('a retry that finds no slot is not made: 429, and Sendmode saw only the refused call', async () => {
    await useVault(2);
    const response = await send();
    expect(response.status).toBe(429);
    expect(problem(response)).toMatchObject({ status: 429 });
    expect(env.simulator.callsFor('send').map((c) => c.authorized)).toEqual([true, false]);
    expect(await storedLog()).toHaveLength(2);
  });
});

describe('when Table Storage is unavailable', () => {
  /** Stops Azurite, runs `during`, and starts it again (same ports, in memory: no tables). */
  async function withStorageStopped(during: () => Promise<void>): Promise<void> {
    await env.azurite.stop();
    try {
      await during();
    } finally {
      await env.azurite.start();
    }
  }

  it('send-sms and check-credits fail closed: 503, Retry-After, a problem body, no upstream call', async () => {
    expect((await send()).status).toBe(200);
    env.simulator.reset();
    await withStorageStopped(async () => {
      for (const response of [await send(), await credits()]) {
        expect(response.status).toBe(503);
        retryAfterSeconds(response);
        expect(problem(response)).toMatchObject({
          type: 'urn:sendmode-connector:problem:dependency-unavailable',
          status: 503,
        });
        expect(String(response.body)).not.toMatch(/AccountKey|Eby8vdM02/);
      }
      expect(env.simulator.calls()).toHaveLength(0);
    });
  });

  it.each([
    ['check-credits', credits],
    ['send-sms', () => send()],
  ])(
    '%s works again once storage is back (its tables are gone and are made again)',
    async (_name, call) => {
      expect((await call()).status).toBe(200);
      await withStorageStopped(async () => {
        expect((await call()).status).toBe(503);
      });
      env.simulator.reset();
      const response = await call();
      expect(response.status, String(response.body)).toBe(200);
      expect(env.simulator.calls()).toHaveLength(1);
    },
  );
});
