/**
 * Where the opt-out promise meets time: a send waiting for a limiter slot while its recipient
 * opts out, Sendmode's sync state written late by an older opt-out, and opt-outs left pending
 * when what followed their recording failed. The app's handlers and modules against the
 * simulator over HTTP and Azurite (shared set-up: helpers/app-env.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { HttpRequest, type HttpResponseInit, type Timer } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { optOutSweep } from '../functions/opt-out-sweep.js';
import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { sendSms } from '../functions/send-sms.js';
import { syncOptOut } from '../shared/opt-outs/opt-outs.js';
import {
  PENDING_AGE_MS,
  RESWEEP_MS,
  sweepPendingOptOuts,
} from '../shared/opt-outs/pending-sweep.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { messageCount, takeMessages } from './helpers/queues.js';

const NUMBER = '+353871234567';
const OTHER = '+353861234567';

let env: AppEnv;
let run = 0;

beforeAll(async () => {
  env = await startAppEnv();
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  const suffix = `${(run += 1)}x${Date.now()}`;
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `path${suffix}`,
    SUPPRESSION_TABLE_NAME: `optouts${suffix}`,
    OPT_OUT_AUDIT_TABLE_NAME: `audit${suffix}`,
    OPT_OUT_QUEUE_NAME: `optout-sync-${suffix}`,
    RATE_LIMIT_MAX_CALLS: '1000',
    RATE_LIMIT_WINDOW_SECONDS: undefined,
    RATE_LIMIT_MAX_WAIT_SECONDS: '0',
  });
});

function parse(response: HttpResponseInit): Record<string, unknown> {
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

async function send(recipients: string[]) {
  const response = await sendSms(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/sms',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify({ messagetext: 'Your order is ready', recipients }) },
    }),
    testContext('send-sms'),
  );
  return { response, json: parse(response) };
}

async function stop(number: string) {
  const response = await optOutWebhook(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/optout',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify({ mobilenumber: number }) },
    }),
    testContext('opt-out-webhook'),
  );
  return { response, json: parse(response) };
}

const sentTo = () =>
  env.simulator
    .callsFor('send')
    .flatMap((call) => (call.payload as { recipients: string[] }).recipients);

describe('a send waiting for a limiter slot', () => {
  beforeEach(async () => {
    // One call per 2 seconds, and a send may wait up to 5 for it.
    await env.configure({
      RATE_LIMIT_MAX_CALLS: '1',
      RATE_LIMIT_WINDOW_SECONDS: '2',
      RATE_LIMIT_INTERACTIVE_RESERVE: '0',
      RATE_LIMIT_MAX_WAIT_SECONDS: '5',
    });
  });

  it('does not text a recipient who opted out while it waited', async () => {
    expect((await send(['+353851234567'])).response.status).toBe(200); // takes the only slot
    const waiting = send([NUMBER, OTHER]);
    await sleep(300);
    // The STOP finds no slot either: recorded here at once, queued for Sendmode.
    expect((await stop(NUMBER)).response.status).toBe(202);
    const { response, json } = await waiting;
    expect(response.status).toBe(200);
    expect(json.skippedRecipients).toEqual([{ recipient: NUMBER, reason: 'opted-out' }]);
    expect(sentTo()).toEqual(['+353851234567', OTHER]);
  });

  it('sends nothing when every recipient opted out while it waited (422)', async () => {
    expect((await send(['+353851234567'])).response.status).toBe(200);
    const waiting = send([NUMBER]);
    await sleep(300);
    expect((await stop(NUMBER)).response.status).toBe(202);
    const { response, json } = await waiting;
    expect(response.status).toBe(422);
    expect(String(json.detail)).toMatch(/opted out/);
    expect(sentTo()).toEqual(['+353851234567']);
  });
});

describe('Sendmode’s sync state', () => {
  it('a late "synced" from an older opt-out does not mark a newer one synced', async () => {
    const { suppression, sendmode } = await getServices();
    const t = Date.now();
    await suppression.apply({ number: NUMBER, action: 'opt-out', source: 'api', eventAt: t });
    // The older opt-out's sync is slow at Sendmode; meanwhile START, then STOP again.
    env.simulator.injectFault({ kind: 'latency', latencyMs: 600, operation: 'optout', times: 1 });
    const slot = { workClass: 'background' as const, maxWaitMs: 0 };
    const syncing = syncOptOut(
      { mobilenumber: NUMBER },
      { suppression, sendmode, log: testContext() },
      slot,
    );
    await sleep(200);
    await suppression.apply({ number: NUMBER, action: 'opt-in', source: 'api', eventAt: t + 1 });
    await suppression.apply({ number: NUMBER, action: 'opt-out', source: 'api', eventAt: t + 2 });
    expect(await syncing).toBe('opted-out');
    // The newer opt-out is still owed to Sendmode, and its own sync still passes it on.
    expect((await suppression.syncNeeded(NUMBER)).need).toBe('needed');
    expect(
      await syncOptOut(
        { mobilenumber: NUMBER },
        { suppression, sendmode, log: testContext() },
        slot,
      ),
    ).toBe('opted-out');
    expect(env.simulator.callsFor('optout')).toHaveLength(2);
    expect((await suppression.syncNeeded(NUMBER)).need).toBe('synced');
  });
});

describe('the sweep of pending opt-outs', () => {
  const queue = () => process.env.OPT_OUT_QUEUE_NAME!;

  it('queues the sync of an opt-out left pending, once per resweep interval', async () => {
    const { suppression } = await getServices();
    const long = Date.now() - PENDING_AGE_MS - 60_000;
    // Recorded, but the call and the enqueue after it never happened (the sender gave up).
    await suppression.apply({ number: NUMBER, action: 'opt-out', source: 'api', eventAt: long });
    await suppression.apply({
      number: '0861234567',
      action: 'opt-out',
      source: 'api',
      eventAt: long,
    });
    // A fresh one is still being handled by its delivery: left alone.
    await suppression.apply({
      number: OTHER,
      action: 'opt-out',
      source: 'api',
      eventAt: Date.now(),
    });

    const context = testContext('opt-out-sweep');
    await optOutSweep({} as Timer, context);
    expect(context.logs.join('\n')).toMatch(/"queued":2/);
    const bodies = (await takeMessages(env.azurite.connectionString, queue(), 2)).map(
      (m) => m.body,
    );
    expect(bodies).toEqual(
      expect.arrayContaining([{ mobilenumber: NUMBER }, { mobilenumber: '0861234567' }]),
    );
    expect(bodies).toHaveLength(2);

    // Swept once: not again within the interval, again after it.
    const enqueued: unknown[] = [];
    const deps = { suppression, enqueueSync: async (request: unknown) => enqueued.push(request) };
    expect(await sweepPendingOptOuts(deps, Date.now())).toBe(0);
    expect(await sweepPendingOptOuts(deps, Date.now() + RESWEEP_MS + 1_000)).toBe(3);
    expect(await messageCount(env.azurite.connectionString, queue())).toBe(0);
  });

  it('leaves synced, rejected and opted-back-in numbers alone', async () => {
    const { suppression } = await getServices();
    const long = Date.now() - PENDING_AGE_MS - 60_000;
    await suppression.apply({ number: NUMBER, action: 'opt-out', source: 'api', eventAt: long });
    await suppression.markSynced(NUMBER, (await suppression.syncNeeded(NUMBER)).since);
    await suppression.apply({ number: OTHER, action: 'opt-out', source: 'api', eventAt: long });
    await suppression.apply({ number: OTHER, action: 'opt-in', source: 'api', eventAt: long + 1 });
    const enqueued: unknown[] = [];
    const deps = { suppression, enqueueSync: async (request: unknown) => enqueued.push(request) };
    expect(await sweepPendingOptOuts(deps, Date.now())).toBe(0);
    expect(enqueued).toEqual([]);
  });

  it('a pending opt-out is passed on to Sendmode by the queue after the sweep', async () => {
    const { suppression } = await getServices();
    await suppression.apply({
      number: NUMBER,
      action: 'opt-out',
      source: 'api',
      eventAt: Date.now() - PENDING_AGE_MS - 1_000,
    });
    await optOutSweep({} as Timer, testContext('opt-out-sweep'));
    const [message] = await takeMessages(env.azurite.connectionString, queue(), 1);
    const { sendmode } = await getServices();
    const slot = { workClass: 'background' as const, maxWaitMs: 0 };
    const result = await syncOptOut(
      message!.body as { mobilenumber: string },
      { suppression, sendmode, log: testContext() },
      slot,
    );
    expect(result).toBe('opted-out');
    expect(env.simulator.optOuts()).toEqual([{ mobilenumber: NUMBER, count: 1 }]);
  });
});
