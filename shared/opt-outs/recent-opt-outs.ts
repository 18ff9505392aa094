/**
 * Recent opt-outs, for the status page: each applied opt-out also leaves a small row in the
 * audit-trail table's `recent` partition (no phone number is a partition there, so it meets no
 * number's trail), keyed by inverted event time so that the newest come first. Reading the
 * latest N is then one bounded query, however long the list grows; nothing is scanned.
 *
 * Rows hold the masked number only (last three digits), the source and the time: the page can
 * show them as they are. Writes are upserts keyed by the change id, so the trail's repeats
 * write nothing new; a failed write is ignored, because this list is for display and the opt-out
 * itself is already kept in the suppression list and the trail.
 */
import type { TableClient } from '@azure/data-tables';

import { ValidationError } from '../errors.js';
import { maskPhoneNumber } from '../phone.js';
import { withTable } from '../storage/table-storage.js';
import type { ChangeSource, TrailEntry } from './audit-trail.js';

export const RECENT_PARTITION = 'recent';
/** The most `GET /api/status?recentOptOuts=N` returns. */
export const MAX_RECENT_OPT_OUTS = 50;
/** Inverting against this keeps 13 digits for every date until 2286. */
const LATEST_MS = 9_999_999_999_999;

export interface RecentOptOut {
  /** Masked to its last three digits. */
  number: string;
  /** When it happened, ISO 8601 (as ordered: see event-order.ts). */
  at: string;
  source: ChangeSource;
}

export function recentRowKey(atMs: number, changeId: string): string {
  return `${String(LATEST_MS - atMs).padStart(13, '0')}-${changeId}`;
}

/** Notes the applied opt-outs among `entries` (of one canonical number); never throws. */
export async function noteRecentOptOuts(
  table: TableClient,
  canonical: string,
  entries: readonly TrailEntry[],
): Promise<void> {
  const optOuts = entries.filter((e) => e.action === 'opt-out' && e.applied);
  for (const entry of optOuts) {
    const atMs = Date.parse(entry.at);
    if (!Number.isFinite(atMs)) continue;
    await withTable(table, () =>
      table.upsertEntity(
        {
          partitionKey: RECENT_PARTITION,
          rowKey: recentRowKey(atMs, entry.changeId),
          number: maskPhoneNumber(canonical),
          at: new Date(atMs).toISOString(),
          source: entry.source,
        },
        'Replace',
      ),
    ).catch(() => undefined);
  }
}

/** The latest `count` opt-outs, newest first: one query of at most `count` rows. */
export async function listRecentOptOuts(
  table: TableClient,
  count: number,
): Promise<RecentOptOut[]> {
  return withTable(table, async () => {
    const pages = table
      .listEntities<Record<string, unknown>>({
        queryOptions: {
          filter: `PartitionKey eq '${RECENT_PARTITION}'`,
          select: ['number', 'at', 'source'],
        },
      })
      .byPage({ maxPageSize: count });
    const first = await pages.next();
    if (first.done) return [];
    return first.value.slice(0, count).map((row) => ({
      number: String(row.number ?? '***'),
      at: String(row.at ?? ''),
      source: String(row.source ?? '') as ChangeSource,
    }));
  });
}

/**
 * The `recentOptOuts` query parameter: absent means none (the status stays one cheap read);
 * otherwise a whole number from 0 to 50, or a 400 naming it.
 */
export function parseRecentOptOutsParam(raw: string | null): number {
  if (raw === null) return 0;
  if (!/^\d{1,3}$/.test(raw) || Number(raw) > MAX_RECENT_OPT_OUTS) {
    throw new ValidationError([
      {
        field: 'recentOptOuts',
        message: `must be a whole number from 0 to ${MAX_RECENT_OPT_OUTS}`,
      },
    ]);
  }
  return Number(raw);
}
