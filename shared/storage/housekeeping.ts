/**
 * Table Storage has no expiry: records that only matter for a while are deleted by a daily
 * timer. Expired idempotency outcomes, webhook ids older than a day, expired send statuses,
 * merged-call rows older than a day and history rows older than three hours (the status page's
 * history: shared/history/) go; the suppression list and the limiter's log stay.
 *
 * Every delete is conditional on the ETag the listing read: a record rewritten in between (an
 * expired Idempotency-Key taken over by a new request) is no longer what was listed, and stays.
 * Table transactions cannot carry an ETag per delete (`@azure/data-tables` sends `If-Match: *`
 * for a transaction's deletes), so the purge deletes one entity at a time, a few at once.
 */
import type { TableClient } from '@azure/data-tables';

import { oldHistoryFilter } from '../history/history-store.js';
import { CALL_RECORD_RETENTION_MS, CALLS_PARTITION } from '../merge/pending-sends.js';
import { hasStatus, storageErrorCode, withTable } from './table-storage.js';

/** Webhook ids only matter within the 5-minute timestamp tolerance; a day is ample. */
export const WEBHOOK_ID_RETENTION_MS = 24 * 3_600_000;
/** Conditional deletes in flight at once. */
const CONCURRENT_DELETES = 16;

// Plain numbers need no OData escaping (and this keeps @azure/data-tables out of the cold start).
export function expiredIdempotencyFilter(now: number): string {
  return `expiresAt lt ${Math.floor(now)}`;
}

/** Send statuses and idempotency outcomes both carry `expiresAt`. */
export const expiredStatusFilter = expiredIdempotencyFilter;

/** Rows of merged calls (shared/merge/pending-sends.ts) are kept a day. */
export function oldMergedCallFilter(now: number): string {
  return `PartitionKey eq '${CALLS_PARTITION}' and at lt ${Math.floor(now - CALL_RECORD_RETENTION_MS)}`;
}

export function oldWebhookIdFilter(now: number): string {
  return `at lt ${Math.floor(now - WEBHOOK_ID_RETENTION_MS)}`;
}

interface Listed {
  partitionKey: string;
  rowKey: string;
  etag: string;
}

/**
 * Deletes every entity matching `filter` that is unchanged since it was listed; returns how
 * many. One changed (412) or already gone (404) is skipped, and the rest still go.
 */
export async function purge(table: TableClient, filter: string): Promise<number> {
  return withTable(table, async () => {
    let deleted = 0;
    const pages = table
      .listEntities({ queryOptions: { filter, select: ['PartitionKey', 'RowKey'] } })
      .byPage({ maxPageSize: 1_000 });
    for await (const page of pages) {
      const listed: Listed[] = [];
      for (const { partitionKey = '', rowKey = '', etag } of page) {
        // Without the ETag read there is no safe delete: leave it for the next run.
        if (etag) listed.push({ partitionKey, rowKey, etag });
      }
      for (let i = 0; i < listed.length; i += CONCURRENT_DELETES) {
        const outcomes = await Promise.all(
          listed.slice(i, i + CONCURRENT_DELETES).map((entity) => deleteIfUnchanged(table, entity)),
        );
        deleted += outcomes.filter(Boolean).length;
      }
    }
    return deleted;
  });
}

/** True when deleted; false when it changed since it was listed, or is gone already. */
async function deleteIfUnchanged(table: TableClient, entity: Listed): Promise<boolean> {
  try {
    await table.deleteEntity(entity.partitionKey, entity.rowKey, { etag: entity.etag });
    return true;
  } catch (error) {
    if (hasStatus(error, 412)) return false; // rewritten since listed: it stays
    if (hasStatus(error, 404) && storageErrorCode(error) !== 'TableNotFound') return false;
    throw error;
  }
}

export interface ExpiringTables {
  idempotency: TableClient;
  webhookIds: TableClient;
  sendStatuses: TableClient;
  mergedCalls: TableClient;
  /** Delivery reports' rows (shared/delivery/): each carries `expiresAt`. */
  deliveries: TableClient;
  /** Each instance's per-minute rows (shared/history/), kept HISTORY_RETENTION_MS. */
  history: TableClient;
}

export type PurgeCounts = Record<keyof ExpiringTables, number>;

/** Deletes what has expired by `now`; how many of each. */
export async function purgeExpired(tables: ExpiringTables, now: number): Promise<PurgeCounts> {
  return {
    idempotency: await purge(tables.idempotency, expiredIdempotencyFilter(now)),
    webhookIds: await purge(tables.webhookIds, oldWebhookIdFilter(now)),
    sendStatuses: await purge(tables.sendStatuses, expiredStatusFilter(now)),
    mergedCalls: await purge(tables.mergedCalls, oldMergedCallFilter(now)),
    deliveries: await purge(tables.deliveries, expiredStatusFilter(now)),
    history: await purge(tables.history, oldHistoryFilter(now)),
  };
}
