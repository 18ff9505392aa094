/**
 * Webhook-id claims on Azurite: a claim left `handling` by a process that died is taken over
 * by the sender's retry after a while; a fresh claim or a handled id is a replay (401).
 */
import { createHash } from 'node:crypto';

import { TableClient } from '@azure/data-tables';
import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { signWebhook } from '../shared/opt-outs/webhook-signature.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

const SECRET = 'whsec_dGVzdC1zaWduaW5nLXNlY3JldC0xMjM0NTY3ODkw';
let env: AppEnv;
let ids: TableClient;

beforeAll(async () => {
  env = await startAppEnv({ WEBHOOK_SIGNING_SECRET: SECRET });
  ids = TableClient.fromConnectionString(env.azurite.connectionString, 'webhookids', {
    allowInsecureConnection: true,
  });
  await ids.createTable();
});
afterAll(async () => env?.stop());

async function deliver(id: string, number: string) {
  const body = JSON.stringify({ mobilenumber: number });
  const timestamp = Math.floor(Date.now() / 1000);
  const response = await optOutWebhook(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/optout',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(SECRET, id, timestamp, body),
      },
      body: { string: body },
    }),
    testContext('opt-out-webhook'),
  );
  return response.status;
}

async function leaveClaim(id: string, state: 'handling' | 'handled', ageMs: number) {
  const rowKey = createHash('sha256').update(id).digest('hex');
  await ids.upsertEntity({ partitionKey: 'webhook-id', rowKey, state, at: Date.now() - ageMs });
}

describe('webhook-id claims', () => {
  it('a claim abandoned mid-delivery (still handling after minutes) is taken over by the retry', async () => {
    await leaveClaim('msg_abandoned', 'handling', 3 * 60_000);
    expect(await deliver('msg_abandoned', '+353871111111')).toBe(200);
    expect(env.simulator.optOuts().map((o) => o.mobilenumber)).toContain('+353871111111');
    expect(await deliver('msg_abandoned', '+353871111111')).toBe(401); // now handled
  });

  it('a claim still being handled is a replay', async () => {
    await leaveClaim('msg_in_flight', 'handling', 5_000);
    expect(await deliver('msg_in_flight', '+353872222222')).toBe(401);
  });

  it('a handled id stays refused however old', async () => {
    await leaveClaim('msg_done', 'handled', 60 * 60_000);
    expect(await deliver('msg_done', '+353873333333')).toBe(401);
  });
});
