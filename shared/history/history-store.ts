/**
 * The status page's hour of history in Table Storage (HISTORY_TABLE_NAME): one row per minute
 * per instance, written once the minute is over (history-writer.ts).
 *
 * - PartitionKey `m-` + the minute in ISO 8601 (`m-2025-03-01T14:05`): sortable, so the last N
 *   minutes are one range query, whatever the number of instances.
 * - RowKey the instance (history-writer.ts: `historyInstanceId`), so each instance writes its
 *   own row and two instances never contend.
 * - The counts as numbers, and the queue depths sampled when the row was written as JSON
 *   (`queues`: { name: { depth, poison } }), absent when none were sampled.
 *
 * Reading sums the counts across instances and takes the largest depth any instance saw (every
 * instance samples the same queues). Rows older than HISTORY_RETENTION_MS go with the daily
 * purge (shared/storage/housekeeping.ts).
 */
import type { TableClient } from '@azure/data-tables';

import { ValidationError } from '../errors.js';
import { guardTable, withTable } from '../storage/table-storage.js';
import { emptyCounts, MINUTE_MS, type MinuteCounts, minuteOf } from './minute-counts.js';

/** The most minutes `GET /api/status?history=N` returns. */
export const MAX_HISTORY_MINUTES = 180;
/** Rows older than this are purged (the longest history asked for, with room to spare). */
export const HISTORY_RETENTION_MS = 3 * 3_600_000;

/** One queue's depth and its poison queue's at a moment. */
export interface QueueDepth {
  depth: number;
  poison: number;
}

/** What one instance wrote for one minute. */
export interface HistoryRow {
  /** The minute's start, ms since the epoch. */
  minute: number;
  instance: string;
  counts: MinuteCounts;
  /** By main queue; null when no depth was sampled for this minute. */
  queues: Record<string, QueueDepth> | null;
}

/** One minute as GET /api/status?history=N answers it: every instance's rows together. */
export interface HistoryMinute {
  at: string;
  calls: { interactive: number; background: number };
  rateLimited: number;
  deferred: number;
  poisoned: number;
  /** By main queue; depths null when no instance sampled that queue in that minute. */
  queues: Record<string, { depth: number | null; poison: number | null }>;
}

export interface History {
  minutes: HistoryMinute[];
}

export const HISTORY_PARTITION_PREFIX = 'm-';

/** `m-2025-03-01T14:05`: the partition of the minute `at` falls in. */
export function historyPartition(at: number): string {
  return `${HISTORY_PARTITION_PREFIX}${new Date(minuteOf(at)).toISOString().slice(0, 16)}`;
}

/** Rows of minutes that started before `now - HISTORY_RETENTION_MS` (for the daily purge). */
export function oldHistoryFilter(now: number): string {
  // The partition keys are digits, dashes, colons and a T: nothing to escape.
  return `PartitionKey ge '${HISTORY_PARTITION_PREFIX}' and PartitionKey lt '${historyPartition(now - HISTORY_RETENTION_MS)}'`;
}

const COUNT_FIELDS = ['interactive', 'background', 'rateLimited', 'deferred', 'poisoned'] as const;

function whole(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, Math.round(value)) : 0;
}

/** The `queues` property as written; null when absent or not what the writer writes. */
function parseQueues(value: unknown): Record<string, QueueDepth> | null {
  if (typeof value !== 'string') return null;
  try {
    const parsed = JSON.parse(value) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    const queues: Record<string, QueueDepth> = {};
    for (const [name, depth] of Object.entries(parsed as Record<string, unknown>)) {
      const { depth: main, poison } = (depth ?? {}) as Record<string, unknown>;
      queues[name] = { depth: whole(main), poison: whole(poison) };
    }
    return queues;
  } catch {
    return null;
  }
}

export class HistoryStore {
  constructor(private readonly table: TableClient) {}

  /** Writes (or rewrites) one instance's row of one minute. */
  async write(row: HistoryRow): Promise<void> {
    const entity: Record<string, unknown> & { partitionKey: string; rowKey: string } = {
      partitionKey: historyPartition(row.minute),
      rowKey: row.instance,
      at: minuteOf(row.minute),
    };
    for (const field of COUNT_FIELDS) entity[field] = whole(row.counts[field]);
    if (row.queues) entity.queues = JSON.stringify(row.queues);
    await withTable(this.table, () => this.table.upsertEntity(entity, 'Replace'));
  }

  /**
   * Every row of the minutes from `from` to `to` (both included), in one range query; a 503
   * when Table Storage cannot be read.
   */
  async rows(from: number, to: number): Promise<HistoryRow[]> {
    const filter = `PartitionKey ge '${historyPartition(from)}' and PartitionKey le '${historyPartition(to)}'`;
    const what = (cause: string) => `The history could not be read (${cause}).`;
    return guardTable(this.table, what, async () => {
      const rows: HistoryRow[] = [];
      const entities = this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter, select: ['RowKey', 'at', ...COUNT_FIELDS, 'queues'] },
      });
      for await (const entity of entities) {
        const counts = emptyCounts();
        for (const field of COUNT_FIELDS) counts[field] = whole(entity[field]);
        rows.push({
          minute: minuteOf(whole(entity.at)),
          instance: String(entity.rowKey ?? ''),
          counts,
          queues: parseQueues(entity.queues),
        });
      }
      return rows;
    });
  }

  /**
   * The last `count` finished minutes before `now` (the one under way is not written yet),
   * oldest first, each with every instance's counts summed and the largest depth seen of each
   * of `queueNames`; a minute no instance wrote is there with zeros (and null depths).
   */
  async lastMinutes(count: number, now: number, queueNames: readonly string[]): Promise<History> {
    const last = minuteOf(now) - MINUTE_MS;
    const first = last - (count - 1) * MINUTE_MS;
    return { minutes: sumMinutes(await this.rows(first, last), first, count, queueNames) };
  }
}

/** `rows` as `count` minutes from `first`: counts summed, depths the largest (see lastMinutes). */
export function sumMinutes(
  rows: readonly HistoryRow[],
  first: number,
  count: number,
  queueNames: readonly string[],
): HistoryMinute[] {
  const minutes: HistoryMinute[] = [];
  const byMinute = new Map<number, HistoryMinute>();
  for (let i = 0; i < count; i++) {
    const at = first + i * MINUTE_MS;
    const minute: HistoryMinute = {
      at: new Date(at).toISOString(),
      calls: { interactive: 0, background: 0 },
      rateLimited: 0,
      deferred: 0,
      poisoned: 0,
      queues: Object.fromEntries(queueNames.map((name) => [name, { depth: null, poison: null }])),
    };
    minutes.push(minute);
    byMinute.set(at, minute);
  }
  const larger = (a: number | null, b: number) => (a === null ? b : Math.max(a, b));
  for (const row of rows) {
    const minute = byMinute.get(row.minute);
    if (!minute) continue;
    minute.calls.interactive += row.counts.interactive;
    minute.calls.background += row.counts.background;
    minute.rateLimited += row.counts.rateLimited;
    minute.deferred += row.counts.deferred;
    minute.poisoned += row.counts.poisoned;
    for (const name of queueNames) {
      const seen = row.queues?.[name];
      const shown = minute.queues[name];
      if (!seen || !shown) continue;
      shown.depth = larger(shown.depth, seen.depth);
      shown.poison = larger(shown.poison, seen.poison);
    }
  }
  return minutes;
}

/**
 * The `history` query parameter: absent means no history (the status stays as cheap as it
 * was); otherwise a whole number of minutes from 1 to 180, or a 400 naming it.
 */
export function parseHistoryParam(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  if (!/^\d{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_HISTORY_MINUTES) {
    throw new ValidationError([
      {
        field: 'history',
        message: `must be a whole number of minutes from 1 to ${MAX_HISTORY_MINUTES}`,
      },
    ]);
  }
  return Number(raw);
}
