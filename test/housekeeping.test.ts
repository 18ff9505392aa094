/** The daily purge on Azurite: expired idempotency outcomes and old webhook ids go; the rest stays. */
import { createHash } from 'node:crypto';

import { TableClient } from '@azure/data-tables';
import { HttpRequest, InvocationContext, type Timer } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { purgeExpired } from '../functions/purge-expired.js';
import { sendSms } from '../functions/send-sms.js';
import {
  expiredIdempotencyFilter,
  purge,
  WEBHOOK_ID_RETENTION_MS,
} from '../shared/storage/housekeeping.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

let env: AppEnv;
let idempotency: TableClient;
beforeAll(async () => {
  env = await startAppEnv({ RATE_LIMIT_MAX_CALLS: '1000' });
  idempotency = TableClient.fromConnectionString(env.azurite.connectionString, 'idempotency', {
    allowInsecureConnection: true,
  });
  await idempotency.createTable();
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  for await (const { partitionKey = '', rowKey = '' } of idempotency.listEntities()) {
    await idempotency.deleteEntity(partitionKey, rowKey);
  }
});

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

/** Where the store keeps a key's record (shared/http/idempotency.ts). */
function recordOf(key: string) {
  const rowKey = createHash('sha256').update(key).digest('hex');
  return { partitionKey: rowKey.slice(0, 2), rowKey };
}

/** As if the TTL had run out: the stored record's expiry moves into the past. */
async function expire(key: string): Promise<void> {
  await idempotency.updateEntity({ ...recordOf(key), expiresAt: Date.now() - 1_000 }, 'Merge');
}

/**
 * The real table, but `afterListing` runs once, after the first page is listed and before the
 * purge deletes anything from it: another request writing in between.
 */
function writtenToAfterListing(table: TableClient, afterListing: () => Promise<void>): TableClient {
  let done = false;
  const listEntities = (...args: Parameters<TableClient['listEntities']>) => {
    const listing = table.listEntities(...args);
    const byPage: typeof listing.byPage = (settings) =>
      (async function* () {
        for await (const page of listing.byPage(settings)) {
          if (!done) {
            done = true;
            await afterListing();
          }
          yield page;
        }
      })();
    return Object.assign(Object.create(listing) as typeof listing, { byPage });
  };
  return new Proxy(table, {
    get(target, property) {
      if (property === 'listEntities') return listEntities;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
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

    for (let i = 0; i < 3; i += 1) {
      expect((await sendWithKey(`expiring-${i}`)).status).toBe(200);
      await expire(`expiring-${i}`);
    }
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
    expect(line.deleted).toEqual({
      idempotency: 3,
      webhookIds: 1,
      sendStatuses: 0,
      mergedCalls: 0,
      deliveries: 0,
      history: 0,
    });
    const remaining: string[] = [];
    for await (const entity of webhookIds.listEntities()) remaining.push(entity.rowKey ?? '');
    expect(remaining).toEqual(['fresh']);
    const left: string[] = [];
    for await (const entity of idempotency.listEntities()) left.push(entity.rowKey ?? '');
    expect(left).toEqual([recordOf('still-valid').rowKey]);
  });

  it('keeps a record taken over between listing and deleting, and still purges the rest of its batch', async () => {
    const key = 'taken-over-after-listing';
    const { partitionKey, rowKey } = recordOf(key);
    expect((await sendWithKey(key)).status).toBe(200);
    await expire(key);
    // Other expired records in the same partition: one table transaction before the fix.
    const others = Array.from({ length: 5 }, (_, i) => `other-${i}`);
    for (const other of others) {
      await idempotency.createEntity({
        partitionKey,
        rowKey: other,
        fingerprint: 'f',
        state: 'done',
        claimedAt: Date.now() - 2 * 86_400_000,
        expiresAt: Date.now() - 86_400_000,
      });
    }

    // Between the purge's listing and its deletes, a retry takes the expired key over: a new send.
    let takeover: number | undefined;
    const table = writtenToAfterListing(idempotency, async () => {
      takeover = (await sendWithKey(key)).status;
    });
    const deleted = await purge(table, expiredIdempotencyFilter(Date.now()));

    expect(takeover).toBe(200);
    expect(deleted).toBe(others.length);
    const kept = await idempotency.getEntity<{ expiresAt: number }>(partitionKey, rowKey);
    expect(kept.expiresAt).toBeGreaterThan(Date.now());
    const left: string[] = [];
    for await (const entity of idempotency.listEntities()) left.push(entity.rowKey ?? '');
    expect(left).toEqual([rowKey]);

    // The new outcome is intact: a further retry replays it and sends nothing.
    const retried = await sendWithKey(key);
    expect(retried.status).toBe(200);
    expect((retried.headers as Record<string, string>)['idempotent-replayed']).toBe('true');
    expect(env.simulator.callsFor('send')).toHaveLength(2);
  });

  it('skips a record deleted by someone else after listing', async () => {
    const keys = ['gone-0', 'gone-1', 'gone-2'];
    for (const key of keys) {
      expect((await sendWithKey(key)).status).toBe(200);
      await expire(key);
    }
    const gone = recordOf('gone-1');
    const table = writtenToAfterListing(idempotency, async () => {
      await idempotency.deleteEntity(gone.partitionKey, gone.rowKey);
    });
    expect(await purge(table, expiredIdempotencyFilter(Date.now()))).toBe(2);
    let left = 0;
    for await (const _ of idempotency.listEntities()) left += 1;
    expect(left).toBe(0);
  });
});
