/** The daily purge on Azurite: expired idempotency outcomes and old webhook ids go; the rest stays. */
import { HttpRequest, InvocationContext, type Timer } from '@azure/functions';
import { TableClient } from '@azure/data-tables';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpired } from '../functions/purge-expired.js';
import { sendSms } from '../functions/send-sms.js';
import { WEBHOOK_ID_RETENTION_MS } from '../shared/storage/housekeeping.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

let env: AppEnv;
beforeAll(async () => {
  env = await startAppEnv({ IDEMPOTENCY_TTL_SECONDS: '1', RATE_LIMIT_MAX_CALLS: '1000' });
});
afterAll(async () => env?.stop());

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

function sendWithKey(key: string) {
  return sendSms(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/sms',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: { string: JSON.stringify({ messagetext: 'hi', recipients: ['0871234567'] }) },
    }),
    testContext(),
  );
}

describe('purge-expired', () => {
  it('deletes expired idempotency outcomes and webhook ids past retention, and nothing else', async () => {
    const webhookIds = TableClient.fromConnectionString(
      env.azurite.connectionString,
      'webhookids',
      {
        allowInsecureConnection: true,
      },
    );
    await webhookIds.createTable();
    const now = Date.now();
    await webhookIds.createEntity({
      partitionKey: 'webhook-id',
      rowKey: 'old',
      at: now - WEBHOOK_ID_RETENTION_MS - 60_000,
    });
    await webhookIds.createEntity({
      partitionKey: 'webhook-id',
      rowKey: 'fresh',
      at: now - 60_000,
    });

    for (let i = 0; i < 3; i += 1) expect((await sendWithKey(`expiring-${i}`)).status).toBe(200);
    await sleep(1_100); // past the 1 s TTL
    expect((await sendWithKey('still-valid')).status).toBe(200);

    const logs: string[] = [];
    const context = new InvocationContext({
      functionName: 'purge-expired',
      logHandler: (_level, ...args) => logs.push(args.join(' ')),
    });
    await purgeExpired(timer, context);

    const line = JSON.parse(logs.find((l) => l.includes('purge-expired')) ?? '{}') as {
      deleted?: { idempotency: number; webhookIds: number };
    };
    expect(line.deleted).toEqual({ idempotency: 3, webhookIds: 1 });
    const remaining: string[] = [];
    for await (const entity of webhookIds.listEntities()) remaining.push(entity.rowKey ?? '');
    expect(remaining).toEqual(['fresh']);
    const idempotency = TableClient.fromConnectionString(
      env.azurite.connectionString,
      'idempotency',
      {
        allowInsecureConnection: true,
      },
    );
    let left = 0;
    for await (const _ of idempotency.listEntities()) left += 1;
    expect(left).toBe(1);
  });
});
