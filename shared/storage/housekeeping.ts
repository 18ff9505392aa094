/**
 * Table Storage has no expiry: records that only matter for a while are deleted by a daily
 * timer. Expired idempotency outcomes and webhook ids older than a day go; the suppression list
 * and the limiter's log stay.
 */
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { withTable } from './table-storage.js';

/** Webhook ids only matter within the 5-minute timestamp tolerance; a day is ample. */
export const WEBHOOK_ID_RETENTION_MS = 24 * 3_600_000;
/** A table transaction takes at most 100 operations, all in one partition. */
const BATCH = 100;

// Plain numbers need no OData escaping (and this keeps @azure/data-tables out of the cold start).
export function expiredIdempotencyFilter(now: number): string {
  return `expiresAt lt ${Math.floor(now)}`;
}

export function oldWebhookIdFilter(now: number): string {
  return `at lt ${Math.floor(now - WEBHOOK_ID_RETENTION_MS)}`;
}

/** Deletes every entity matching `filter`, a partition's batch at a time; returns how many. */
export async function purge(table: TableClient, filter: string): Promise<number> {
  return withTable(table, async () => {
    let deleted = 0;
    const pages = table
      .listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })
      .byPage({ maxPageSize: 1_000 });
    for await (const page of pages) {
      const byPartition = new Map<string, TransactionAction[]>();
      for (const { partitionKey = '', rowKey = '' } of page) {
        const actions = byPartition.get(partitionKey) ?? [];
        actions.push(['delete', { partitionKey, rowKey }]);
        byPartition.set(partitionKey, actions);
      }
      for (const actions of byPartition.values()) {
        for (let i = 0; i < actions.length; i += BATCH) {
          const batch = actions.slice(i, i + BATCH);
          await table.submitTransaction(batch);
          deleted += batch.length;
        }
      }
    }
    return deleted;
  });
}

export interface ExpiringTables {
  idempotency: TableClient;
  webhookIds: TableClient;
}

/** Deletes what has expired by `now`; how many of each. */
export async function purgeExpired(
  tables: ExpiringTables,
  now: number,
): Promise<{ idempotency: number; webhookIds: number }> {
  return {
    idempotency: await purge(tables.idempotency, expiredIdempotencyFilter(now)),
    webhookIds: await purge(tables.webhookIds, oldWebhookIdFilter(now)),
  };
}
