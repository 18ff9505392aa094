/**
 * The suppression list's audit trail: one row per change asked of the list (opt-out, opt-in,
 * manual removal), in Table `OPTOUT_AUDIT_TABLE_NAME`, one partition per canonical number, rows
 * in event-time order. Rows are only ever written with upsert (a row's key is its change id), so
 * writing one twice is harmless; nothing deletes them (the daily purge does not touch this table).
 * No message text is kept here: the keyword the reply matched, never the reply.
 */
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { withTable } from '../storage/table-storage.js';
import { listRecentOptOuts, noteRecentOptOuts, type RecentOptOut } from './recent-optouts.js';

export type ChangeAction = 'opt-out' | 'opt-in' | 'removal';
/** webhook: a signed delivery; api: an unsigned call to /api/optout; manual: an operator. */
export type ChangeSource = 'webhook' | 'api' | 'manual';

export interface TrailEntry {
  /** Unique per change; with `at`, the row key. */
  changeId: string;
  action: ChangeAction;
  source: ChangeSource;
  /** When it happened: the signed webhook timestamp, else its arrival (ISO 8601). */
  at: string;
  /** When this app recorded it (ISO 8601). */
  recordedAt: string;
  /** False when a later change had already been recorded, so this one changed nothing. */
  applied: boolean;
  /** The keyword the reply matched (`STOP`, `START`), when the payload carried a reply. */
  keyword?: string;
  /** Why an operator removed it. */
  reason?: string;
  /** Who removed it, as the operator said or the platform told. */
  by?: string;
  /** The verified webhook-id (or svix-id) of the delivery. */
  webhookId?: string;
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
  'webhookId',
] as const;

/** Sorts by event time, then change id: 13 digits of milliseconds hold every date until 2286. */
function rowKey(entry: TrailEntry): string {
  return `${String(Date.parse(entry.at)).padStart(13, '0')}-${entry.changeId}`;
}

export class AuditTrail {
  constructor(private readonly table: TableClient) {}

  /** Writes entries for one number (canonical) in one transaction; repeats are harmless. */
  async append(canonical: string, entries: TrailEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const actions: TransactionAction[] = entries.map((entry) => [
      'upsert',
      { partitionKey: canonical, rowKey: rowKey(entry), ...entry },
      'Replace',
    ]);
    await withTable(this.table, () => this.table.submitTransaction(actions));
    await noteRecentOptOuts(this.table, canonical, entries);
  }

  /** The latest `count` applied opt-outs, masked, newest first (see recent-optouts.ts). */
  recentOptOuts(count: number): Promise<RecentOptOut[]> {
    return listRecentOptOuts(this.table, count);
  }

  /** Every entry for one number (canonical), oldest first. */
  async list(canonical: string): Promise<TrailEntry[]> {
    return withTable(this.table, async () => {
      const entries: TrailEntry[] = [];
      const rows = this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: `PartitionKey eq '${canonical.replace(/'/g, "''")}'` },
      });
      for await (const row of rows) entries.push(toEntry(row));
      return entries;
    });
  }
}

function toEntry(row: Record<string, unknown>): TrailEntry {
  const entry: Record<string, unknown> = { changeId: String(row.changeId ?? '') };
  for (const field of FIELDS)
    if (row[field] !== undefined && row[field] !== null) entry[field] = row[field];
  return entry as unknown as TrailEntry;
}
