/**
 * The suppression list: every number that opted out, kept in Table Storage before anything else
 * happens, so a number that opted out is never texted again even while Sendmode has not yet
 * taken the opt-out. Keys are canonical numbers (see `canonicalNumber`).
 */
import { odata, type TableClient } from '@azure/data-tables';
import { DependencyUnavailableError, type SendmodeStatus } from '../errors.js';
import { canonicalNumber } from '../phone.js';
import type { OptOutRequest } from '../sendmode/client.js';
import { describeStorageError, hasStatus } from '../storage/storage-account.js';
import { withTable } from '../storage/table-storage.js';

const PARTITION = 'optout';
/** Table queries allow 15 comparisons: the partition plus 14 numbers. */
const NUMBERS_PER_QUERY = 14;
const PARALLEL_QUERIES = 8;

type SyncState = 'pending' | 'synced' | 'rejected';

interface SuppressionEntity {
  partitionKey: string;
  rowKey: string;
  state: SyncState;
  optedOutAt: string;
  lastOptOutAt: string;
  optoutresponse?: string;
  returnedresponse?: string;
  syncedAt?: string;
  rejection?: string;
}

export class SuppressionList {
  constructor(
    private readonly table: TableClient,
    private readonly defaultCountryCode?: string,
  ) {}

  private key(number: string): string {
    return canonicalNumber(number, this.defaultCountryCode);
  }

  /** Records an opt-out (or a repeat of one). Says whether Sendmode has already taken it. */
  async record(optOut: OptOutRequest): Promise<{ alreadySynced: boolean }> {
    return this.guard(async () => {
      const rowKey = this.key(optOut.mobilenumber);
      const existing = await this.read(rowKey);
      if (existing?.state === 'synced') return { alreadySynced: true };
      const now = new Date().toISOString();
      const fields = {
        partitionKey: PARTITION,
        rowKey,
        lastOptOutAt: now,
        ...(optOut.optoutresponse ? { optoutresponse: optOut.optoutresponse } : {}),
        ...(optOut.returnedresponse ? { returnedresponse: optOut.returnedresponse } : {}),
      };
      if (existing) {
        await this.table.updateEntity(fields, 'Merge');
      } else {
        await this.table
          .createEntity<SuppressionEntity>({ ...fields, state: 'pending', optedOutAt: now })
          .catch((error: unknown) => {
            if (!hasStatus(error, 409)) throw error; // recorded by a concurrent call: fine
          });
      }
      return { alreadySynced: false };
    });
  }

  async isSynced(number: string): Promise<boolean> {
    return this.guard(async () => {
      return (await this.read(this.key(number)))?.state === 'synced';
    });
  }

  async markSynced(number: string): Promise<void> {
    await this.setState(number, { state: 'synced', syncedAt: new Date().toISOString() });
  }

  /** Sendmode refused the opt-out for good; the number stays suppressed here regardless. */
  async markRejected(number: string, upstream: SendmodeStatus): Promise<void> {
    await this.setState(number, { state: 'rejected', rejection: JSON.stringify(upstream) });
  }

  /** The numbers among `numbers` that opted out. Fails closed: no answer, no send. */
  async suppressed(numbers: string[]): Promise<Set<string>> {
    return this.guard(async () => {
      const byKey = new Map(numbers.map((number) => [this.key(number), number]));
      const keys = [...byKey.keys()];
      const chunks: string[][] = [];
      for (let i = 0; i < keys.length; i += NUMBERS_PER_QUERY) {
        chunks.push(keys.slice(i, i + NUMBERS_PER_QUERY));
      }
      const found = new Set<string>();
      for (let i = 0; i < chunks.length; i += PARALLEL_QUERIES) {
        const rounds = chunks.slice(i, i + PARALLEL_QUERIES).map(async (chunk) => {
          for await (const entity of this.table.listEntities<SuppressionEntity>({
            queryOptions: { filter: filterFor(chunk), select: ['RowKey'] },
          })) {
            const number = byKey.get(entity.rowKey ?? '');
            if (number) found.add(number);
          }
        });
        await Promise.all(rounds);
      }
      return found;
    });
  }

  private async read(rowKey: string): Promise<SuppressionEntity | undefined> {
    try {
      return await this.table.getEntity<SuppressionEntity>(PARTITION, rowKey);
    } catch (error) {
      if (hasStatus(error, 404)) return undefined;
      throw error;
    }
  }

  private async setState(number: string, fields: Partial<SuppressionEntity>): Promise<void> {
    await this.guard(() =>
      this.table.updateEntity(
        { partitionKey: PARTITION, rowKey: this.key(number), ...fields },
        'Merge',
      ),
    );
  }

  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await withTable(this.table, work);
    } catch (error) {
      throw new DependencyUnavailableError(
        'table-storage',
        `The suppression list cannot be read or written (${describeStorageError(error)}); nothing was sent.`,
      );
    }
  }
}

function filterFor(keys: string[]): string {
  const rows = keys.map((key) => odata`RowKey eq ${key}`).join(' or ');
  return `${odata`PartitionKey eq ${PARTITION}`} and (${rows})`;
}
