/**
 * The suppression list: every number that opted out, kept in Table Storage before anything else
 * happens, so a number that opted out is never texted again even while Sendmode has not yet
 * taken the opt-out. Keys are canonical numbers (see `canonicalNumber`).
 *
 * A number can opt back in (or an operator can remove it): its row then stays, marked
 * `suppressed: false`, so that the order of events can still be judged. Each row keeps the time
 * of the latest change applied to it (`eventAt`, as `event-order.ts` places it), and a change is applied only when it is later, by a write conditioned on the ETag read
 * (a concurrent writer makes it fail with 412 and the decision is re-made). So an opt-out and an
 * opt-in racing through two instances end in the state of the later one; at the same instant the
 * opt-out wins, so an opt-out is never lost to a tie. Every change asked for is written to the
 * audit trail (see `audit-trail.ts`), including those a later change made moot.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { odata, type TableClient } from '@azure/data-tables';

import { NotFoundError, type SendmodeStatus } from '../errors.js';
import { canonicalNumber } from '../phone.js';
import type { OptOutRequest } from '../sendmode/api.js';
import { hasStatus } from '../storage/storage-account.js';
import { guardTable, withTable } from '../storage/table-storage.js';
import type {
  AuditTrail,
  ChangeAction,
  ChangeSource,
  TrailEntry,
  TrailPage,
} from './audit-trail.js';
import type { RecentOptOut } from './recent-opt-outs.js';

const PARTITION = 'optout';
/** Table queries allow 15 comparisons: the partition plus 14 numbers. */
const NUMBERS_PER_QUERY = 14;
const PARALLEL_QUERIES = 8;
/** Conditional writes lost to a concurrent writer before giving up (503): far beyond a real race. */
const MAX_WRITE_ATTEMPTS = 10;
/** Repeats of an opt-out within this time of it are not written to the trail again. */
export const REPEAT_WINDOW_MS = 60 * 60_000;

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
  /** When the pending sweep last queued this opt-out's sync (ms). */
  sweptAt?: number;
}

/** A suppressed number whose opt-out Sendmode has not taken, found by the sweep. */
export interface StalePending {
  request: OptOutRequest;
  rowKey: string;
  etag: string;
}

/** A change asked of the list. */
export interface ListChange {
  /** Normalised (`normalisePhoneNumber`); matched in canonical form. */
  number: string;
  action: ChangeAction;
  source: ChangeSource;
  /** When it happened (ms), as ordered (see event-order.ts). */
  eventAt: number;
  keyword?: string;
  reason?: string;
  by?: string;
  /** Who the caller said it was, when nothing vouches for it (see TrailEntry.claimedBy). */
  claimedBy?: string;
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
  /** When the number's current suppression began (ISO 8601), while it is suppressed. */
  since?: string;
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

/** A change the list applied, as `onApplied` is told of it. */
export interface AppliedChange {
  /** Canonical: the list's key. */
  number: string;
  action: ChangeAction;
  source: ChangeSource;
  /** When it happened, as ordered (ISO 8601). */
  at: string;
}

export class SuppressionList {
  constructor(
    private readonly table: TableClient,
    private readonly trail: AuditTrail,
    private readonly defaultCountryCode?: string,
    /**
     * Told of every change applied (the `optout.changed` event); a throw reaches `apply`'s
     * caller, who retries: applying the same change again is harmless.
     */
    private readonly onApplied?: (change: AppliedChange) => Promise<void>,
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
    const result = await this.guard(async (): Promise<ChangeResult> => {
      for (let attempt = 1; ; attempt++) {
        const existing = await this.read(rowKey);
        const current = existing ? currentState(existing) : undefined;
        if (options.mustBeSuppressed && !current?.suppressed) {
          throw new NotFoundError('The number is not on the suppression list.');
        }
        // An opt-in must be strictly later; at a tie the opt-out stands (see event-order.ts).
        const later =
          current === undefined ||
          change.eventAt > current.eventAt ||
          (change.eventAt === current.eventAt && change.action === 'opt-out');
        if (!later) {
          await this.trail.append(rowKey, [{ ...entry, applied: false }]);
          const since = suppressionBegan(existing!);
          return {
            applied: false,
            suppressed: current.suppressed,
            synced: existing?.state === 'synced',
            ...(since !== undefined ? { since } : {}),
          };
        }
        const repeat = existing !== undefined && isRepeatedOptOut(existing, change);
        const fields = changedFields(rowKey, existing, change, repeat ? undefined : entry);
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
        if (!repeat) await this.trail.append(rowKey, previous ? [previous, entry] : [entry]);
        const suppressed = change.action === 'opt-out';
        const since = !suppressed
          ? undefined
          : (fields.since ?? (existing ? suppressionBegan(existing) : undefined));
        return {
          applied: true,
          suppressed,
          synced: suppressed && fields.state === undefined && existing?.state === 'synced',
          ...(since !== undefined ? { since } : {}),
        };
      }
    });
    // Outside the storage guard: the hook's own failure (the event queue) is passed on as it is.
    if (result.applied && this.onApplied) {
      await this.onApplied({
        number: rowKey,
        action: change.action,
        source: change.source,
        at: entry.at,
      });
    }
    return result;
  }

  /**
   * What the opt-out queue should do: Sendmode has it, the number opted back in, or it is
   * needed; with when the current suppression began, for `markSynced`.
   */
  async syncNeeded(
    number: string,
  ): Promise<{ need: 'synced' | 'not-suppressed' | 'needed'; since?: string }> {
    return this.guard(async () => {
      const existing = await this.read(this.key(number));
      if (!existing) return { need: 'needed' };
      const since = suppressionBegan(existing);
      if (since === undefined) return { need: 'not-suppressed' };
      return { need: existing.state === 'synced' ? 'synced' : 'needed', since };
    });
  }

  /**
   * Sendmode took the opt-out of the suppression that began at `since`. Written only while that
   * suppression lasts: after an opt-in and a new opt-out, the new one's sync decides.
   */
  async markSynced(number: string, since: string | undefined): Promise<void> {
    await this.setState(number, since, { state: 'synced', syncedAt: new Date().toISOString() });
  }

  /** Sendmode refused the opt-out for good; the number stays suppressed here regardless. */
  async markRejected(
    number: string,
    since: string | undefined,
    upstream: SendmodeStatus,
  ): Promise<void> {
    await this.setState(number, since, { state: 'rejected', rejection: JSON.stringify(upstream) });
  }

  /**
   * Opt-outs Sendmode has not taken whose latest change is older than `before` (ms) and that
   * were not swept since `sweptBefore` (ms): the sweep's work (see `pending-sweep.ts`).
   */
  async *stalePending(before: number, sweptBefore: number): AsyncGenerator<StalePending> {
    const filter = odata`PartitionKey eq ${PARTITION} and state eq ${'pending'}`;
    const rows = this.table.listEntities<SuppressionEntity>({ queryOptions: { filter } });
    const iterator = rows[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.guard(() => iterator.next());
      if (next.done) return;
      const row = next.value;
      const { suppressed, eventAt } = currentState(row);
      if (!suppressed || eventAt >= before || (row.sweptAt ?? 0) >= sweptBefore) continue;
      yield {
        request: {
          mobilenumber: numberOfKey(row.rowKey),
          ...(row.optoutresponse ? { optoutresponse: row.optoutresponse } : {}),
          ...(row.returnedresponse ? { returnedresponse: row.returnedresponse } : {}),
        },
        rowKey: row.rowKey,
        etag: row.etag ?? '*',
      };
    }
  }

  /** Notes that the sweep queued this opt-out's sync; false when the row changed meanwhile. */
  async markSwept(pending: StalePending, at: number): Promise<boolean> {
    return this.guard(async () => {
      try {
        await this.table.updateEntity(
          { partitionKey: PARTITION, rowKey: pending.rowKey, sweptAt: at },
          'Merge',
          { etag: pending.etag },
        );
        return true;
      } catch (error) {
        if (hasStatus(error, 412) || hasStatus(error, 404)) return false;
        throw error;
      }
    });
  }

  /**
   * The numbers among `numbers` that are suppressed. Fails closed: no answer, no send. A number
   * is looked up under its key and under the keys an older version of the app stored that same
   * number under (see `legacyKeys`): the row under its key decides when there is one; otherwise
   * an older row that suppresses it does.
   */
  async suppressed(numbers: string[]): Promise<Set<string>> {
    return this.guard(async () => {
      const candidates = new Map<string, string[]>();
      for (const number of numbers) {
        const key = this.key(number);
        candidates.set(number, [key, ...legacyKeys(key, this.defaultCountryCode)]);
      }
      const keys = [...new Set([...candidates.values()].flat())];
      const chunks: string[][] = [];
      for (let i = 0; i < keys.length; i += NUMBERS_PER_QUERY) {
        chunks.push(keys.slice(i, i + NUMBERS_PER_QUERY));
      }
      const rows = new Map<string, boolean>();
      for (let i = 0; i < chunks.length; i += PARALLEL_QUERIES) {
        const rounds = chunks.slice(i, i + PARALLEL_QUERIES).map(async (chunk) => {
          for await (const entity of this.table.listEntities<SuppressionEntity>({
            queryOptions: { filter: filterFor(chunk), select: ['RowKey', 'suppressed'] },
          })) {
            // `suppressed: false` is an opt-in; a row without the flag predates opt-ins.
            rows.set(entity.rowKey ?? '', entity.suppressed !== false);
          }
        });
        await Promise.all(rounds);
      }
      const found = new Set<string>();
      for (const [number, [key = '', ...older]] of candidates) {
        const own = rows.get(key);
        if (own ?? older.some((k) => rows.get(k) === true)) found.add(number);
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
   * rows at a time: a consumer that stops early reads no further pages. `since` (ms): the
   * service returns only rows whose state began (`since`, else on old rows `optedOutAt`) at or
   * after it, so old rows are never read; a few others may come too (a number first recorded
   * after `since` whose state began before it, by a signed timestamp), so callers check
   * `entry.since` as well.
   */
  async *entries(
    after: string | undefined,
    pageSize: number,
    since?: number,
  ): AsyncGenerator<SuppressionEntry> {
    const conditions = [odata`PartitionKey eq ${PARTITION}`];
    if (after) conditions.push(odata`RowKey gt ${after}`);
    if (since !== undefined) {
      const at = new Date(since).toISOString();
      // A missing property compares false: old rows without `since` are matched on `optedOutAt`.
      conditions.push(odata`(since ge ${at} or optedOutAt ge ${at})`);
    }
    const filter = conditions.join(' and ');
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

  /** The latest `count` opt-outs, masked, newest first (for the status page; recent-opt-outs.ts). */
  async recentOptOuts(count: number): Promise<RecentOptOut[]> {
    return count > 0 ? this.guard(() => this.trail.recentOptOuts(count)) : [];
  }

  /**
   * One page of a number's trail: its newest `limit` entries older than `olderThan` (a previous
   * page's), shown oldest first; the latest change included.
   */
  async history(
    number: string,
    options: { limit: number; olderThan?: string },
  ): Promise<TrailPage> {
    return this.guard(async () => {
      const rowKey = this.key(number);
      const existing = await this.read(rowKey);
      // Its trail write may have failed; the row itself always has it.
      const ensure = parseTrailEntry(existing?.lastChange);
      return this.trail.list(rowKey, { ...options, ...(ensure ? { ensure } : {}) });
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

  /** Writes Sendmode's side, conditioned on the ETag of a row still suppressed since `since`. */
  private async setState(
    number: string,
    since: string | undefined,
    fields: Partial<SuppressionEntity>,
  ): Promise<void> {
    const rowKey = this.key(number);
    await this.guard(async () => {
      for (let attempt = 1; ; attempt++) {
        const existing = await this.read(rowKey);
        if (!existing || since === undefined || suppressionBegan(existing) !== since) return;
        try {
          await this.table.updateEntity({ partitionKey: PARTITION, rowKey, ...fields }, 'Merge', {
            etag: existing.etag,
          });
          return;
        } catch (error) {
          if (!hasStatus(error, 412) || attempt >= MAX_WRITE_ATTEMPTS) throw error;
        }
      }
    });
  }

  private guard<T>(work: () => Promise<T>): Promise<T> {
    return guardTable(
      this.table,
      (cause) => `The suppression list cannot be read or written (${cause}); nothing was sent.`,
      work,
    );
  }
}

/** The number to give Sendmode for a key: national as written, else international with `+`. */
function numberOfKey(rowKey: string): string {
  return rowKey.startsWith('0') ? rowKey : `+${rowKey}`;
}

/** When the row's current suppression began; undefined when it is not suppressed. */
function suppressionBegan(entity: SuppressionEntity): string | undefined {
  if (!currentState(entity).suppressed) return undefined;
  return entity.since ?? entity.optedOutAt ?? '';
}

/**
 * A STOP for a suppressed number within `REPEAT_WINDOW_MS` of the last opt-out in its trail adds
 * nothing to the trail (its time still moves the row's `eventAt` on, for ordering), so a sender
 * repeating itself cannot grow the trail without bound.
 */
function isRepeatedOptOut(existing: SuppressionEntity, change: ListChange): boolean {
  if (change.action !== 'opt-out' || !currentState(existing).suppressed) return false;
  const last = parseTrailEntry(existing.lastChange);
  if (last?.action !== 'opt-out') return false;
  return change.eventAt - Date.parse(last.at) < REPEAT_WINDOW_MS;
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
    ...(change.claimedBy ? { claimedBy: change.claimedBy } : {}),
    ...(change.webhookId ? { webhookId: change.webhookId } : {}),
  };
}

/**
 * The row's fields after applying `change` (a Merge onto `existing`, or a new row). `entry`:
 * the change's trail entry, or undefined for a repeat that keeps the row's `lastChange`.
 */
function changedFields(
  rowKey: string,
  existing: SuppressionEntity | undefined,
  change: ListChange,
  entry: TrailEntry | undefined,
): SuppressionEntity {
  const wasSuppressed = existing !== undefined && currentState(existing).suppressed;
  const at = new Date(change.eventAt).toISOString();
  const fields: SuppressionEntity = {
    partitionKey: PARTITION,
    rowKey,
    eventAt: change.eventAt,
    ...(entry ? { lastChange: JSON.stringify(entry) } : {}),
  };
  if (change.action === 'opt-out') {
    fields.suppressed = true;
    fields.lastOptOutAt = new Date().toISOString();
    if (!existing?.optedOutAt) fields.optedOutAt = fields.lastOptOutAt;
    if (!wasSuppressed) {
      fields.since = at;
      // Sendmode may have forgotten it meanwhile (an operator cleared it there): send it again.
      fields.state = 'pending';
    }
    if (change.optoutresponse) fields.optoutresponse = change.optoutresponse;
    if (change.returnedresponse) fields.returnedresponse = change.returnedresponse;
  } else {
    fields.suppressed = false;
    if (wasSuppressed || !existing) fields.since = at;
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

/**
 * Keys an older version of the app may have stored this number under, before numbers were read
 * with the phone-number metadata (shared/schemas/phone-number.ts) and written in E.164: with a
 * default country code, a national number written without its trunk 0 was kept as written (its
 * national digits), one whose trunk 0 is part of the number (Italy) lost that 0, and
 * `+44 (0)20…` kept the 0. Erring towards a match only ever withholds a send.
 */
export function legacyKeys(key: string, defaultCountryCode?: string): string[] {
  if (!defaultCountryCode || !key.startsWith(defaultCountryCode)) return [];
  const national = key.slice(defaultCountryCode.length);
  if (national.length < 4) return [];
  const keys = [national, `${defaultCountryCode}0${national}`];
  if (national.startsWith('0')) keys.push(`${defaultCountryCode}${national.slice(1)}`);
  return keys.filter((k) => k !== key);
}

function filterFor(keys: string[]): string {
  const rows = keys.map((key) => odata`RowKey eq ${key}`).join(' or ');
  return `${odata`PartitionKey eq ${PARTITION}`} and (${rows})`;
}
