/**
 * Queued sends waiting to share a Sendmode call, in Table Storage, visible to every instance.
 *
 * One partition per merge key (sends that would make the same call but for their recipients:
 * merge-key.ts) holds:
 *
 * - `lease`: who collects the partition now (`holder`, `until`), when that round is expected to
 *   be done (`expectedDoneAt`, so waiting sends know when to look again) and when its last call
 *   was made (`lastCallAt`: a busy key waits a little for company, an idle one does not);
 * - one entry per waiting send (`s-<queuedAt>-<id hash>`, so a listing is oldest first): its id
 *   and recipients, and once a collector takes it, `takenBy` / `takenAt`.
 *
 * Entries are taken with ETag-conditioned updates in batch transactions (up to 100 entities of
 * one partition, all or none), so no two collectors can both take a send; a taken entry whose
 * collector died becomes takeable again once `takenAt` is stale. An entry is removed only after
 * its send's status is final. Partition `calls` keeps one row per merged call (when, how many
 * sends and recipients) for `/api/status`; the daily purge removes rows older than a day.
 */
import { createHash, randomBytes } from 'node:crypto';

import type { TableClient, TableEntityResult, TransactionAction } from '@azure/data-tables';

import { DependencyUnavailableError } from '../errors.js';
import { describeStorageError } from '../storage/storage-account.js';
import { hasStatus, withTable } from '../storage/table-storage.js';

export interface Lease {
  holder: string;
  until: number;
  expectedDoneAt: number;
  lastCallAt: number;
  etag?: string;
}

export interface PendingEntry {
  id: string;
  recipients: string[];
  queuedAt: number;
  takenBy?: string;
  takenAt?: number;
  rowKey: string;
  etag: string;
}

export interface CallRecord {
  at: number;
  sends: number;
  recipients: number;
}

interface EntryEntity {
  partitionKey: string;
  rowKey: string;
  id: string;
  recipients: string;
  queuedAt: number;
  takenBy?: string;
  takenAt?: number;
}

const LEASE_ROW = 'lease';
export const CALLS_PARTITION = 'calls';
/** Batch transactions take at most 100 entities. */
const PER_TRANSACTION = 100;
/** Call rows are kept a day: `/api/status` reads only the last window. */
export const CALL_RECORD_RETENTION_MS = 24 * 3_600_000;

export function entryRowKey(id: string, queuedAt: number): string {
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 24);
  return `s-${String(Math.max(0, Math.floor(queuedAt))).padStart(15, '0')}-${hash}`;
}

function unavailable(error: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(
    'table-storage',
    `Table Storage is unavailable for merging sends (${describeStorageError(error)}).`,
  );
}

function toEntry(entity: TableEntityResult<EntryEntity>): PendingEntry {
  const recipients = JSON.parse(entity.recipients) as string[];
  return {
    id: entity.id,
    recipients,
    queuedAt: entity.queuedAt,
    rowKey: entity.rowKey ?? '',
    etag: entity.etag,
    ...(entity.takenBy ? { takenBy: entity.takenBy } : {}),
    ...(typeof entity.takenAt === 'number' && entity.takenAt > 0
      ? { takenAt: entity.takenAt }
      : {}),
  };
}

export class PendingSends {
  constructor(private readonly table: TableClient) {}

  async lease(partition: string): Promise<Lease | undefined> {
    try {
      const entity = await withTable(this.table, () =>
        this.table.getEntity<Lease>(partition, LEASE_ROW),
      );
      return {
        holder: String(entity.holder ?? ''),
        until: Number(entity.until ?? 0),
        expectedDoneAt: Number(entity.expectedDoneAt ?? 0),
        lastCallAt: Number(entity.lastCallAt ?? 0),
        etag: entity.etag,
      };
    } catch (error) {
      if (hasStatus(error, 404)) return undefined;
      throw unavailable(error);
    }
  }

  /**
   * Writes the lease as `next`, conditioned on `current` (created when there is none); the lease
   * written, or undefined when someone else wrote it first.
   */
  async writeLease(
    partition: string,
    current: Lease | undefined,
    next: Omit<Lease, 'etag'>,
  ): Promise<Lease | undefined> {
    const entity = { partitionKey: partition, rowKey: LEASE_ROW, ...next };
    try {
      const written = current?.etag
        ? await this.table.updateEntity(entity, 'Replace', { etag: current.etag })
        : await withTable(this.table, () => this.table.createEntity(entity));
      return { ...next, ...(written.etag ? { etag: written.etag } : {}) };
    } catch (error) {
      if (hasStatus(error, 409) || hasStatus(error, 412) || hasStatus(error, 404)) return undefined;
      throw unavailable(error);
    }
  }

  /** Adds a waiting send; one that is there already stays as it is. */
  async add(
    partition: string,
    entry: { id: string; recipients: string[]; queuedAt: number },
  ): Promise<void> {
    const entity: EntryEntity = {
      partitionKey: partition,
      rowKey: entryRowKey(entry.id, entry.queuedAt),
      id: entry.id,
      recipients: JSON.stringify(entry.recipients),
      queuedAt: entry.queuedAt,
      // Written as 0, not left out: a query cannot compare a property an entity lacks.
      takenAt: 0,
    };
    try {
      await withTable(this.table, () => this.table.createEntity(entity));
    } catch (error) {
      if (!hasStatus(error, 409)) throw unavailable(error);
    }
  }

  /** One send's entry, if it is waiting or taken. */
  async entry(partition: string, rowKey: string): Promise<PendingEntry | undefined> {
    try {
      return toEntry(
        await withTable(this.table, () => this.table.getEntity<EntryEntity>(partition, rowKey)),
      );
    } catch (error) {
      if (hasStatus(error, 404)) return undefined;
      throw unavailable(error);
    }
  }

  /** Entries no live collector holds (waiting, or taken before `staleBefore`), oldest first. */
  async takeable(partition: string, staleBefore: number): Promise<PendingEntry[]> {
    const filter =
      `PartitionKey eq '${partition}' and RowKey ge 's-' and RowKey lt 's.'` +
      ` and (takenAt eq 0 or takenAt lt ${Math.floor(staleBefore)})`;
    try {
      const found: PendingEntry[] = [];
      await withTable(this.table, async () => {
        for await (const entity of this.table.listEntities<EntryEntity>({
          queryOptions: { filter },
        })) {
          found.push(toEntry(entity));
        }
      });
      return found.sort((a, b) => (a.rowKey < b.rowKey ? -1 : 1));
    } catch (error) {
      throw unavailable(error);
    }
  }

  /**
   * Marks `entries` taken by `holder`, each conditioned on the ETag it was listed with, in
   * transactions of up to 100; returns those taken (a transaction that met a change takes none
   * of its entries: they wait for the next call).
   */
  async take(
    partition: string,
    entries: PendingEntry[],
    holder: string,
    at: number,
  ): Promise<PendingEntry[]> {
    const taken: PendingEntry[] = [];
    for (let i = 0; i < entries.length; i += PER_TRANSACTION) {
      const batch = entries.slice(i, i + PER_TRANSACTION);
      const actions: TransactionAction[] = batch.map((e) => [
        'update',
        { partitionKey: partition, rowKey: e.rowKey, takenBy: holder, takenAt: at },
        'Merge',
        { etag: e.etag },
      ]);
      try {
        const result = await this.table.submitTransaction(actions);
        batch.forEach((e, index) => {
          const etag = result.subResponses[index]?.etag ?? '';
          taken.push({ ...e, takenBy: holder, takenAt: at, etag });
        });
      } catch (error) {
        if (!(hasStatus(error, 412) || hasStatus(error, 404))) throw unavailable(error);
      }
    }
    return taken;
  }

  /** Puts taken entries back to waiting (a call that failed transiently goes again as it was). */
  async release(partition: string, entries: PendingEntry[]): Promise<void> {
    await this.transact(entries, (e) => [
      'update',
      { partitionKey: partition, rowKey: e.rowKey, takenAt: 0 },
      'Merge',
    ]);
  }

  /** Removes entries whose sends' statuses are final (one gone already is fine). */
  async remove(partition: string, entries: PendingEntry[]): Promise<void> {
    try {
      await this.transact(entries, (e) => [
        'delete',
        { partitionKey: partition, rowKey: e.rowKey },
      ]);
    } catch {
      // A transaction fails whole when one entity is gone: delete one at a time then.
      await Promise.all(
        entries.map((e) =>
          this.table.deleteEntity(partition, e.rowKey).catch((error: unknown) => {
            if (!hasStatus(error, 404)) throw unavailable(error);
          }),
        ),
      );
    }
  }

  async recordCall(call: CallRecord): Promise<void> {
    const rowKey = `${String(Number.MAX_SAFE_INTEGER - call.at).padStart(16, '0')}-${randomBytes(4).toString('hex')}`;
    try {
      await withTable(this.table, () =>
        this.table.createEntity({ partitionKey: CALLS_PARTITION, rowKey, ...call }),
      );
    } catch {
      // Figures for the status page only: a lost row is not worth failing a send for.
    }
  }

  /** Merged calls made since `since` (ms), newest first. */
  async callsSince(since: number): Promise<CallRecord[]> {
    const filter = `PartitionKey eq '${CALLS_PARTITION}' and at gt ${Math.floor(since)}`;
    try {
      const calls: CallRecord[] = [];
      await withTable(this.table, async () => {
        for await (const e of this.table.listEntities<CallRecord>({ queryOptions: { filter } })) {
          calls.push({ at: e.at, sends: e.sends, recipients: e.recipients });
        }
      });
      return calls;
    } catch (error) {
      throw unavailable(error);
    }
  }

  private async transact(
    entries: PendingEntry[],
    action: (e: PendingEntry) => TransactionAction,
  ): Promise<void> {
    for (let i = 0; i < entries.length; i += PER_TRANSACTION) {
      try {
        await this.table.submitTransaction(entries.slice(i, i + PER_TRANSACTION).map(action));
      } catch (error) {
        throw unavailable(error);
      }
    }
  }
}
