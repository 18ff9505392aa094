/**
 * The suppression list: every number that opted out, kept in Table Storage before anything else
 * happens, so a number that opted out is never texted again even while Sendmode has not yet
 * taken the opt-out. Keys are canonical numbers (see `canonicalNumber`).
 *
 * A number can opt back in (or an operator can remove it): its row then stays, marked
 * `suppressed: false`, so that the order of events can still be judged. Each row keeps the time
 * of the latest change applied to it (`eventAt`: the signed webhook timestamp, else the arrival
 * time), and a change is applied only when it is later, by a write conditioned on the ETag read
 * (a concurrent writer makes it fail with 412 and the decision is re-made). So an opt-out and an
 * opt-in racing through two instances end in the state of the later one; at the same instant the
 * opt-out wins, so an opt-out is never lost to a tie. Every change asked for is written to the
 * audit trail (see `audit-trail.ts`), including those a later change made moot.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { odata, type TableClient } from '@azure/data-tables';
import {
  AppError,
  DependencyUnavailableError,
  NotFoundError,
  type SendmodeStatus,
} from '../errors.js';
import { canonicalNumber } from '../phone.js';
import { describeStorageError, hasStatus } from '../storage/storage-account.js';
import { withTable } from '../storage/table-storage.js';
import type { AuditTrail, ChangeAction, ChangeSource, TrailEntry } from './audit-trail.js';
import type { RecentOptOut } from './recent-optouts.js';

const PARTITION = 'optout';
/** Table queries allow 15 comparisons: the partition plus 14 numbers. */
const NUMBERS_PER_QUERY = 14;
const PARALLEL_QUERIES = 8;
/** Conditional writes lost to a concurrent writer before giving up (503): far beyond a real race. */
const MAX_WRITE_ATTEMPTS = 10;

export type SyncState = 'pending' | 'synced' | 'rejected';

interface SuppressionEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  /** Sendmode's side; absent on a row made by an opt-in for a number never opted out. */
  state?: SyncState;
  /** Absent on rows written before opt-ins existed: those are suppressed. */
  suppressed?: boolean;
  /** Event time (ms) of the latest change applied; absent on old rows (then `lastOptOutAt`). */
  eventAt?: number;
  /** When the current state (suppressed or not) began, ISO 8601; absent on old rows. */
  since?: string;
  /** The trail entry of the latest change applied (JSON), so the trail can be repaired. */
  lastChange?: string;
  optedOutAt?: string;
  lastOptOutAt?: string;
  optoutresponse?: string;
  returnedresponse?: string;
  syncedAt?: string;
  rejection?: string;
}

/** A change asked of the list. */
export interface ListChange {
  /** Normalised (`normalisePhoneNumber`); matched in canonical form. */
  number: string;
  action: ChangeAction;
  source: ChangeSource;
  /** When it happened (ms): the signed webhook timestamp, else its arrival. */
  eventAt: number;
  keyword?: string;
  reason?: string;
  by?: string;
  webhookId?: string;
  /** Kept with an opt-out (never returned by any route). */
  optoutresponse?: string;
  returnedresponse?: string;
}

export interface ChangeResult {
  /** False when a later change was already recorded: this one changed nothing. */
  applied: boolean;
  /** Whether the number is suppressed now. */
  suppressed: boolean;
  /** Whether Sendmode has already taken this number's opt-out (for an opt-out just applied). */
  synced: boolean;
}

/** One number's entry as the operator routes show it (no message text). */
export interface SuppressionEntry {
  /** Canonical: international digits without `+` or `00`. */
  number: string;
  suppressed: boolean;
  /** When the current state began (ISO 8601). */
  since?: string;
  firstOptedOutAt?: string;
  /** Sendmode's side of the opt-out: pending, synced or rejected. */
  sendmodeSync?: SyncState;
  /** The latest change applied. */
  lastChange?: TrailEntry;
}

export class SuppressionList {
  constructor(
    private readonly table: TableClient,
    private readonly trail: AuditTrail,
    private readonly defaultCountryCode?: string,
  ) {}

  /** The key under which `number` (normalised) is kept. */
  key(number: string): string {
    return canonicalNumber(number, this.defaultCountryCode);
  }

  /**
   * Applies a change if it is the latest for its number and records it in the trail.
   * `mustBeSuppressed`: a NotFoundError when the number is not suppressed (manual removal).
   */
  async apply(
    change: ListChange,
    options: { mustBeSuppressed?: boolean } = {},
  ): Promise<ChangeResult> {
    const rowKey = this.key(change.number);
    const entry = trailEntry(change);
    return this.guard(async () => {
      for (let attempt = 1; ; attempt++) {
        const existing = await this.read(rowKey);
        const current = existing ? currentState(existing) : undefined;
        if (options.mustBeSuppressed && !current?.suppressed) {
          throw new NotFoundError('The number is not on the suppression list.');
        }
        const later =
          current === undefined ||
          change.eventAt > current.eventAt ||
          (change.eventAt === current.eventAt && change.action === 'opt-out');
        if (!later) {
          await this.trail.append(rowKey, [{ ...entry, applied: false }]);
          return {
            applied: false,
            suppressed: current.suppressed,
            synced: existing?.state === 'synced',
          };
        }
        const fields = changedFields(rowKey, existing, change, entry);
        try {
          if (existing?.etag) {
            await this.table.updateEntity(fields, 'Merge', { etag: existing.etag });
          } else {
            await this.table.createEntity(fields);
          }
        } catch (error) {
          // Another instance wrote first: read again and decide again.
          if ((hasStatus(error, 412) || hasStatus(error, 409)) && attempt < MAX_WRITE_ATTEMPTS) {
            await sleep(Math.random() * 10 * attempt);
            continue;
          }
          throw error;
        }
        // The previous change goes in too, in case its own trail write failed (upserts: no duplicates).
        const previous = parseTrailEntry(existing?.lastChange);
        await this.trail.append(rowKey, previous ? [previous, entry] : [entry]);
        const suppressed = change.action === 'opt-out';
        return {
          applied: true,
          suppressed,
          synced: suppressed && fields.state === undefined && existing?.state === 'synced',
        };
      }
    });
  }

  /** What the opt-out queue should do: Sendmode has it, the number opted back in, or it is needed. */
  async syncNeeded(number: string): Promise<'synced' | 'not-suppressed' | 'needed'> {
    return this.guard(async () => {
      const existing = await this.read(this.key(number));
      if (existing && !currentState(existing).suppressed) return 'not-suppressed';
      return existing?.state === 'synced' ? 'synced' : 'needed';
    });
  }

  async markSynced(number: string): Promise<void> {
    await this.setState(number, { state: 'synced', syncedAt: new Date().toISOString() });
  }

  /** Sendmode refused the opt-out for good; the number stays suppressed here regardless. */
  async markRejected(number: string, upstream: SendmodeStatus): Promise<void> {
    await this.setState(number, { state: 'rejected', rejection: JSON.stringify(upstream) });
  }

  /** The numbers among `numbers` that are suppressed. Fails closed: no answer, no send. */
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
            queryOptions: { filter: filterFor(chunk), select: ['RowKey', 'suppressed'] },
          })) {
            if (entity.suppressed === false) continue; // opted back in
            const number = byKey.get(entity.rowKey ?? '');
            if (number) found.add(number);
          }
        });
        await Promise.all(rounds);
      }
      return found;
    });
  }

  /** One number's entry; undefined when it was never on the list. */
  async entry(number: string): Promise<SuppressionEntry | undefined> {
    return this.guard(async () => {
      const existing = await this.read(this.key(number));
      return existing ? toEntry(existing) : undefined;
    });
  }

  /**
   * Every entry after the canonical number `after` (exclusive), in key order, reading `pageSize`
   * rows at a time: a consumer that stops early reads no further pages.
   */
  async *entries(after: string | undefined, pageSize: number): AsyncGenerator<SuppressionEntry> {
    const filter = after
      ? odata`PartitionKey eq ${PARTITION} and RowKey gt ${after}`
      : odata`PartitionKey eq ${PARTITION}`;
    const pages = this.table
      .listEntities<SuppressionEntity>({ queryOptions: { filter } })
      .byPage({ maxPageSize: pageSize });
    const iterator = pages[Symbol.asyncIterator]();
    for (;;) {
      const page = await this.guard(() => iterator.next());
      if (page.done) return;
      for (const entity of page.value) yield toEntry(entity);
    }
  }

  /** The latest `count` opt-outs, masked, newest first (for the status page; recent-optouts.ts). */
  async recentOptOuts(count: number): Promise<RecentOptOut[]> {
    return count > 0 ? this.guard(() => this.trail.recentOptOuts(count)) : [];
  }

  /** The trail entries of one number (canonical), oldest first; the latest change included. */
  async history(number: string): Promise<TrailEntry[]> {
    return this.guard(async () => {
      const rowKey = this.key(number);
      const [entries, existing] = await Promise.all([this.trail.list(rowKey), this.read(rowKey)]);
      const last = parseTrailEntry(existing?.lastChange);
      // Its trail write may have failed; the row itself always has it.
      if (last && !entries.some((entry) => entry.changeId === last.changeId)) {
        entries.push(last);
        entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
      }
      return entries;
    });
  }

  private async read(rowKey: string): Promise<SuppressionEntity | undefined> {
    try {
      return await withTable(this.table, () =>
        this.table.getEntity<SuppressionEntity>(PARTITION, rowKey),
      );
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
      if (error instanceof AppError) throw error;
      throw new DependencyUnavailableError(
        'table-storage',
        `The suppression list cannot be read or written (${describeStorageError(error)}); nothing was sent.`,
      );
    }
  }
}

function currentState(entity: SuppressionEntity): { suppressed: boolean; eventAt: number } {
  const eventAt =
    typeof entity.eventAt === 'number'
      ? entity.eventAt
      : Date.parse(entity.lastOptOutAt ?? entity.optedOutAt ?? '') || 0;
  return { suppressed: entity.suppressed !== false, eventAt };
}

function trailEntry(change: ListChange): TrailEntry {
  return {
    changeId: randomUUID(),
    action: change.action,
    source: change.source,
    at: new Date(change.eventAt).toISOString(),
    recordedAt: new Date().toISOString(),
    applied: true,
    ...(change.keyword ? { keyword: change.keyword } : {}),
    ...(change.reason ? { reason: change.reason } : {}),
    ...(change.by ? { by: change.by } : {}),
    ...(change.webhookId ? { webhookId: change.webhookId } : {}),
  };
}

/** The row's fields after applying `change` (a Merge onto `existing`, or a new row). */
function changedFields(
  rowKey: string,
  existing: SuppressionEntity | undefined,
  change: ListChange,
  entry: TrailEntry,
): SuppressionEntity {
  const wasSuppressed = existing !== undefined && currentState(existing).suppressed;
  const fields: SuppressionEntity = {
    partitionKey: PARTITION,
    rowKey,
    eventAt: change.eventAt,
    lastChange: JSON.stringify(entry),
  };
  if (change.action === 'opt-out') {
    fields.suppressed = true;
    fields.lastOptOutAt = entry.recordedAt;
    if (!existing?.optedOutAt) fields.optedOutAt = entry.recordedAt;
    if (!wasSuppressed) {
      fields.since = entry.at;
      // Sendmode may have forgotten it meanwhile (an operator cleared it there): send it again.
      fields.state = 'pending';
    }
    if (change.optoutresponse) fields.optoutresponse = change.optoutresponse;
    if (change.returnedresponse) fields.returnedresponse = change.returnedresponse;
  } else {
    fields.suppressed = false;
    if (wasSuppressed || !existing) fields.since = entry.at;
  }
  return fields;
}

function toEntry(entity: SuppressionEntity): SuppressionEntry {
  const { suppressed } = currentState(entity);
  const since = entity.since ?? entity.optedOutAt;
  const lastChange = parseTrailEntry(entity.lastChange);
  return {
    number: entity.rowKey,
    suppressed,
    ...(since ? { since } : {}),
    ...(entity.optedOutAt ? { firstOptedOutAt: entity.optedOutAt } : {}),
    ...(entity.state ? { sendmodeSync: entity.state } : {}),
    ...(lastChange ? { lastChange } : {}),
  };
}

function parseTrailEntry(text: string | undefined): TrailEntry | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as TrailEntry;
  } catch {
    return undefined;
  }
}

function filterFor(keys: string[]): string {
  const rows = keys.map((key) => odata`RowKey eq ${key}`).join(' or ');
  return `${odata`PartitionKey eq ${PARTITION}`} and (${rows})`;
}
