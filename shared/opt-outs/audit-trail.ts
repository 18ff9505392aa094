/**
 * The suppression list's audit trail: one row per change asked of the list (opt-out, opt-in,
 * manual removal), in Table `OPT_OUT_AUDIT_TABLE_NAME`, one partition per canonical number. Rows
 * are only ever written with upsert (a row's key is its time and change id), so writing one twice
 * is harmless; nothing deletes them (the daily purge does not touch this table).
 * No message text is kept here: the keyword the reply matched, never the reply.
 *
 * Rows are keyed newest first (`d` + inverted event time + change id), so the newest N of a
 * number are one bounded range query, however long its trail grows; older ones follow a page at
 * a time from a row key (the continuation). Rows written by earlier versions were keyed oldest
 * first (padded event time + change id, always starting with a digit, so below `d`): the first
 * read of such a number moves them to the newest-first key (upsert the new row and delete the old
 * one in one transaction per 50 rows), after which nothing writes or reads the old keys again.
 */
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';

import { hasStatus, withTable } from '../storage/table-storage.js';
import {
  listRecentOptOuts,
  noteRecentOptOuts,
  type RecentOptOut,
  recentRowKey,
} from './recent-opt-outs.js';

export type ChangeAction = 'opt-out' | 'opt-in' | 'removal';
/**
 * webhook: a signed delivery; api: an unsigned call to /api/optout; manual: an operator;
 * sendmode: a delivery report saying Sendmode's own list blocks the number.
 */
export type ChangeSource = 'webhook' | 'api' | 'manual' | 'sendmode';

export interface TrailEntry {
  /** Unique per change; with `at`, the row key. */
  changeId: string;
  action: ChangeAction;
  source: ChangeSource;
  /** When it happened, as ordered (see event-order.ts), ISO 8601. */
  at: string;
  /** When this app recorded it (ISO 8601). */
  recordedAt: string;
  /** False when a later change had already been recorded, so this one changed nothing. */
  applied: boolean;
  /** The keyword the reply matched (`STOP`, `START`), when the payload carried a reply. */
  keyword?: string;
  /** Why an operator removed it. */
  reason?: string;
  /**
   * Who removed it, as far as the app can tell: the user App Service authentication signed in
   * (when `APP_SERVICE_AUTH_ENABLED`), else `admin key`.
   */
  by?: string;
  /** Who the caller said removed it (its `by`, or a principal header not vouched for): a claim. */
  claimedBy?: string;
  /** The verified webhook-id (or svix-id) of the delivery. */
  webhookId?: string;
}

/** One page of a number's trail: the newest entries first read, shown oldest first. */
export interface TrailPage {
  /** Oldest first. */
  entries: TrailEntry[];
  /** Present when older entries follow: the row key to read on from (see `list`). */
  olderThan?: string;
}

const FIELDS = [
  'action',
  'source',
  'at',
  'recordedAt',
  'applied',
  'keyword',
  'reason',
  'by',
  'claimedBy',
  'webhookId',
] as const;

/** Newest-first row keys start with this; earlier versions' (oldest-first) keys with a digit. */
const KEY_PREFIX = 'd';
/** The first character after the newest-first range. */
const KEY_PREFIX_END = 'e';
/** The row key of a newest-first trail row, for `list`'s `olderThan`. */
export const TRAIL_ROW_KEY = /^d\d{13}-[A-Za-z0-9-]{0,64}$/;
/** Old rows moved per transaction (an upsert and a delete each; a transaction takes 100). */
const MIGRATE_BATCH = 50;
/** Migration transactions lost to a concurrent reader moving the same rows before giving up. */
const MAX_MIGRATE_CONFLICTS = 10;

/**
 * Sorts newest first by event time, then by change id: `d` and 13 digits of inverted
 * milliseconds (every date until 2286), as the status page's recent rows (recent-opt-outs.ts).
 */
export function trailRowKey(entry: TrailEntry): string {
  const ms = Date.parse(entry.at);
  return `${KEY_PREFIX}${recentRowKey(Number.isFinite(ms) ? Math.max(0, ms) : 0, entry.changeId)}`;
}

export interface ListOptions {
  /** The most entries to return (the rest: from `olderThan`). */
  limit: number;
  /** Only entries older than this row key (a previous page's `olderThan`). */
  olderThan?: string;
  /**
   * An entry to show even when storage lacks it (the number's latest change, kept on its
   * suppression row, whose own trail write may have failed), on the page whose range holds it.
   */
  ensure?: TrailEntry;
}

export class AuditTrail {
  constructor(private readonly table: TableClient) {}

  /** Writes entries for one number (canonical) in one transaction; repeats are harmless. */
  async append(canonical: string, entries: TrailEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const actions: TransactionAction[] = entries.map((entry) => [
      'upsert',
      { partitionKey: canonical, rowKey: trailRowKey(entry), ...entry },
      'Replace',
    ]);
    await withTable(this.table, () => this.table.submitTransaction(actions));
    await noteRecentOptOuts(this.table, canonical, entries);
  }

  /** The latest `count` applied opt-outs, masked, newest first (see recent-opt-outs.ts). */
  recentOptOuts(count: number): Promise<RecentOptOut[]> {
    return listRecentOptOuts(this.table, count);
  }

  /**
   * The newest `limit` entries of one number (canonical) older than `olderThan` (all when
   * absent), oldest first, with `olderThan` for the next page when older ones remain. Reads at
   * most `limit + 1` rows (and, once per number, moves rows an earlier version wrote).
   */
  async list(canonical: string, options: ListOptions): Promise<TrailPage> {
    return withTable(this.table, async () => {
      await this.migrate(canonical);
      const { limit, olderThan, ensure } = options;
      const filter = odata`PartitionKey eq ${canonical} and RowKey gt ${olderThan ?? KEY_PREFIX} and RowKey lt ${KEY_PREFIX_END}`;
      const pages = this.table
        .listEntities<Record<string, unknown>>({ queryOptions: { filter } })
        .byPage({ maxPageSize: limit + 1 });
      const rows: { key: string; entry: TrailEntry }[] = [];
      for await (const page of pages) {
        for (const row of page) rows.push({ key: String(row.rowKey), entry: toEntry(row) });
        if (rows.length > limit) break;
      }
      const shown = rows.slice(0, limit);
      let more = rows.length > limit;
      if (ensure && !rows.some((row) => row.entry.changeId === ensure.changeId)) {
        const key = trailRowKey(ensure);
        const last = shown.at(-1);
        // This page's range: after `olderThan`, up to its last row when more follow.
        if ((olderThan === undefined || key > olderThan) && (!more || (last && key < last.key))) {
          shown.push({ key, entry: ensure });
          shown.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
          if (shown.length > limit) {
            shown.pop(); // still in storage: it starts the next page
            more = true;
          }
        }
      }
      const oldest = shown.at(-1);
      return {
        entries: shown.map((row) => row.entry).reverse(),
        ...(more && oldest ? { olderThan: oldest.key } : {}),
      };
    });
  }

  /**
   * Moves the rows an earlier version wrote for `canonical` (keyed oldest first) to newest-first
   * keys: each batch upserts the new rows and deletes the old in one transaction, so a row is
   * never lost or shown twice. One empty query when there are none, which is almost always.
   */
  private async migrate(canonical: string): Promise<void> {
    const filter = odata`PartitionKey eq ${canonical} and RowKey lt ${KEY_PREFIX}`;
    for (let conflicts = 0; ;) {
      let rows: Record<string, unknown>[] = [];
      const pages = this.table
        .listEntities<Record<string, unknown>>({ queryOptions: { filter } })
        .byPage({ maxPageSize: MIGRATE_BATCH });
      for await (const page of pages) {
        if (page.length === 0) continue;
        rows = page.slice(0, MIGRATE_BATCH);
        break;
      }
      if (rows.length === 0) return;
      const actions: TransactionAction[] = rows.flatMap((row): TransactionAction[] => {
        const entry = toEntry(row);
        return [
          ['upsert', { partitionKey: canonical, rowKey: trailRowKey(entry), ...entry }, 'Replace'],
          ['delete', { partitionKey: canonical, rowKey: String(row.rowKey) }],
        ];
      });
      try {
        await this.table.submitTransaction(actions);
      } catch (error) {
        // Another reader moved some of them first (nothing of this batch was written): read again.
        if (hasStatus(error, 404) && ++conflicts < MAX_MIGRATE_CONFLICTS) continue;
        throw error;
      }
    }
  }
}

function toEntry(row: Record<string, unknown>): TrailEntry {
  const entry: Record<string, unknown> = { changeId: String(row.changeId ?? '') };
  for (const field of FIELDS)
    if (row[field] !== undefined && row[field] !== null) entry[field] = row[field];
  return entry as unknown as TrailEntry;
}
