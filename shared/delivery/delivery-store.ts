/**
 * Delivery reports against the sends they belong to, in Table Storage (DELIVERY_TABLE_NAME).
 *
 * Every Sendmode send call carries a reference, its `customerid`: the caller's own, or one the app
 * sets (`referenceOf`). Before the call, one row per recipient is written where a report will
 * look for it: partition `c-<hash of the reference>`, row `<international digits>-<hash of the
 * send id>`, so a report (`CustomerID`, `Phonenumber`) finds its row with one range query, and a
 * caller's reference reused for many sends to one number finds each of them (the latest one still
 * waiting takes the report). A call that cannot carry a reference (3.0's bulk send) also writes
 * `n-<digits>` → the reference, so its reports are matched by the number alone.
 *
 * A report moves a row only forward (report-format.ts `rankOf`), conditioned on its ETag. Each
 * call keeps a row in partition `sent` (newest first; written with the rest, taken back when the
 * call fails) that reports mark `reported` and `delivered`: the "nothing is ever delivered"
 * warning reads the latest of those. A report that
 * matches nothing is kept in partition `unmatched` with its reason (the number masked). Every row
 * expires with the send statuses (`expiresAt`, the daily purge).
 */
import { createHash, randomBytes } from 'node:crypto';

import type { TableClient, TableEntityResult, TransactionAction } from '@azure/data-tables';

import { canonicalNumber, maskPhoneNumber, normalisePhoneNumber } from '../phone.js';
import type { SendmodeApiVersion } from '../settings.js';
import { guardTable, hasStatus } from '../storage/table-storage.js';
import {
  callCarriesReference,
  type DeliveryReport,
  type DeliveryState,
  isFinal,
  rankOf,
} from './report-format.js';

/** The sends one Sendmode call carries, and the reference it carries. */
export interface CallPlan {
  reference: string;
  /** Whether the call carries the reference to Sendmode (report-format.ts). */
  carried: boolean;
  /** The `sent` row this call's reports mark. */
  callKey: string;
  sends: { id: string; recipients: string[] }[];
}

/** One recipient's delivery as `GET /api/sms/{id}` shows it. */
export interface RecipientDelivery {
  /** As the caller gave it. */
  recipient: string;
  state: DeliveryState;
  /** Sendmode's word (`DELIVRD`), once a report came. */
  sendmodeStatus?: string;
  /** When the row was written (right before the call), ms. */
  sentAt: number;
  /** When the latest report that moved it arrived, ms. */
  reportedAt?: number;
}

export type RecordOutcome =
  | { matched: true; changed: boolean; sendId: string; recipient: string; state: DeliveryState }
  | { matched: false; reason: string };

/** Figures for the warning: the latest calls old enough to have been reported. */
export interface WatchFigures {
  watched: number;
  reported: number;
  delivered: number;
}

type RecipientEntity = {
  partitionKey: string;
  rowKey: string;
  sendId: string;
  sendKey: string;
  recipient: string;
  callKey: string;
  sentAt: number;
  state: DeliveryState;
  sendmodeStatus?: string;
  eventId?: string;
  reportedAt?: number;
  expiresAt: number;
};

interface CallEntity {
  at?: number;
  recipients?: number;
  reported?: boolean;
  delivered?: boolean;
}

const SENT_PARTITION = 'sent';
const UNMATCHED_PARTITION = 'unmatched';
const PER_TRANSACTION = 100;
/** Number-index writes in flight at once (one partition each: no batch). */
const INDEX_WRITES_IN_FLIGHT = 32;
/** Up to this many rows are written one by one, in parallel, rather than in a batch. */
const SINGLE_WRITES = 4;
const WRITE_ATTEMPTS = 4;
/** Counting stops here: the status page shows "1000+". */
export const UNMATCHED_COUNT_CAP = 1_000;

const hash = (value: string, chars: number) =>
  createHash('sha256').update(value).digest('hex').slice(0, chars);

/** The `customerid` the app sets on a call without one of its own (letters and digits only). */
export function referenceOf(id: string): string {
  return `sm${hash(id, 24)}`;
}

/** A new call's key in `sent`: newest first, unique. */
export function newCallKey(at: number): string {
  return `${invertedTime(at)}-${randomBytes(4).toString('hex')}`;
}

function invertedTime(at: number): string {
  return String(Number.MAX_SAFE_INTEGER - Math.floor(at)).padStart(16, '0');
}

const referencePartition = (reference: string) => `c-${hash(reference, 40)}`;
const numberPartition = (digits: string) => `n-${digits}`;
const sendKeyOf = (id: string) => hash(id, 16);

const unavailableFor = (cause: string) =>
  `Table Storage is unavailable for delivery reports (${cause}).`;

export class DeliveryStore {
  constructor(
    private readonly table: TableClient,
    private readonly ttlMs: number,
    private readonly defaultCountryCode?: string,
  ) {}

  /** International digits of a recipient as the caller gave it (reports use these). */
  digitsOf(recipient: string): string {
    return canonicalNumber(normalisePhoneNumber(recipient) ?? recipient, this.defaultCountryCode);
  }

  /**
   * Writes the rows reports of `plan` will find, and the call's row; before the call, so no
   * report can beat them.
   */
  async expect(plan: CallPlan, now: number): Promise<void> {
    const partitionKey = referencePartition(plan.reference);
    const rows: RecipientEntity[] = plan.sends.flatMap((send) =>
      send.recipients.map((recipient) => ({
        partitionKey,
        rowKey: `${this.digitsOf(recipient)}-${sendKeyOf(send.id)}`,
        sendId: send.id,
        sendKey: sendKeyOf(send.id),
        recipient,
        callKey: plan.callKey,
        sentAt: now,
        state: 'pending' as const,
        expiresAt: now + this.ttlMs,
      })),
    );
    await this.guard(async () => {
      const writes: Promise<unknown>[] = [];
      if (rows.length <= SINGLE_WRITES) {
        // A few rows: one plain write each, at once (a batch costs more than that).
        for (const row of rows) writes.push(this.table.upsertEntity(row, 'Replace'));
      } else {
        for (let i = 0; i < rows.length; i += PER_TRANSACTION) {
          const actions = rows
            .slice(i, i + PER_TRANSACTION)
            .map((row): TransactionAction => ['upsert', row, 'Replace']);
          writes.push(this.table.submitTransaction(actions));
        }
      }
      // The call's own row, for the warning (taken back by callFailed). Merge: a report that
      // came first has marked it already.
      const recipients = rows.length;
      writes.push(
        this.table.upsertEntity(
          {
            partitionKey: SENT_PARTITION,
            rowKey: plan.callKey,
            at: now,
            recipients,
            expiresAt: now + this.ttlMs,
          },
          'Merge',
        ),
      );
      if (!plan.carried) writes.push(this.indexByNumber(rows, plan.reference));
      await Promise.all(writes);
    });
  }

  /**
   * `n-<digits>` → the reference, for a call that cannot carry it: one partition per number, so
   * no batch; a bounded number of writes in flight (a bulk send has up to 1,000 numbers).
   */
  private async indexByNumber(rows: RecipientEntity[], reference: string): Promise<void> {
    for (let i = 0; i < rows.length; i += INDEX_WRITES_IN_FLIGHT) {
      await Promise.all(
        rows.slice(i, i + INDEX_WRITES_IN_FLIGHT).map((row) =>
          this.table.upsertEntity(
            {
              partitionKey: numberPartition(row.rowKey.split('-')[0] ?? ''),
              rowKey: 'latest',
              reference,
              expiresAt: row.expiresAt,
            },
            'Replace',
          ),
        ),
      );
    }
  }

  /**
   * Takes back a call that failed: its `sent` row goes, so the warning does not count it (the
   * recipients' rows stay, unreported, with no status pointing at them).
   */
  async callFailed(plan: CallPlan): Promise<void> {
    await this.guard(async () => {
      try {
        await this.table.deleteEntity(SENT_PARTITION, plan.callKey);
      } catch (error) {
        if (!hasStatus(error, 404)) throw error;
      }
    });
  }

  /** Stores a report against its send, or apart when it matches none. */
  async record(report: DeliveryReport, now: number): Promise<RecordOutcome> {
    return this.guard(async () => {
      const reference = report.customerId || (await this.referenceByNumber(report.number));
      if (!reference) {
        return this.unmatched(report, now, 'no CustomerID, and no send to this number without one');
      }
      for (let attempt = 1; ; attempt++) {
        const row = await this.rowFor(reference, report.number);
        if (!row) {
          return this.unmatched(report, now, 'no send with this CustomerID went to this number');
        }
        const matched = { matched: true as const, sendId: row.sendId, recipient: row.recipient };
        if (rankOf(report.state) <= rankOf(row.state)) {
          return { ...matched, changed: false, state: row.state };
        }
        try {
          await this.table.updateEntity(
            {
              partitionKey: row.partitionKey,
              rowKey: row.rowKey,
              state: report.state,
              sendmodeStatus: report.sendmodeStatus,
              eventId: report.eventId,
              reportedAt: now,
            },
            'Merge',
            { etag: row.etag },
          );
        } catch (error) {
          if (hasStatus(error, 412) && attempt < WRITE_ATTEMPTS) continue; // another report: look again
          throw error;
        }
        await this.markCall(row.callKey, report.state);
        return { ...matched, changed: true, state: report.state };
      }
    });
  }

  /** The recipients of send `id`, carried under `reference`. */
  async deliveryOf(reference: string, id: string): Promise<RecipientDelivery[]> {
    const filter = `PartitionKey eq '${referencePartition(reference)}' and sendKey eq '${sendKeyOf(id)}'`;
    return this.guard(async () => {
      const found: RecipientDelivery[] = [];
      for await (const row of this.table.listEntities<RecipientEntity>({
        queryOptions: { filter },
      })) {
        if (row.sendId !== id) continue; // a hash's collision
        found.push({
          recipient: row.recipient,
          state: row.state,
          sentAt: row.sentAt,
          ...(row.sendmodeStatus ? { sendmodeStatus: row.sendmodeStatus } : {}),
          ...(typeof row.reportedAt === 'number' ? { reportedAt: row.reportedAt } : {}),
        });
      }
      return found;
    });
  }

  /** The latest `count` calls made before `before` (ms): how many were reported, delivered. */
  async watch(count: number, before: number): Promise<WatchFigures> {
    const filter = `PartitionKey eq '${SENT_PARTITION}' and RowKey ge '${invertedTime(before)}'`;
    return this.guard(async () => {
      const figures: WatchFigures = { watched: 0, reported: 0, delivered: 0 };
      const pages = this.table
        .listEntities<CallEntity>({ queryOptions: { filter } })
        .byPage({ maxPageSize: Math.min(count, 1_000) });
      for await (const page of pages) {
        for (const call of page) {
          // A row only a report made (its call's row taken back, the call timed out) is no send.
          if (typeof call.at !== 'number') continue;
          figures.watched++;
          if (call.reported) figures.reported++;
          if (call.delivered) figures.delivered++;
          if (figures.watched >= count) return figures;
        }
      }
      return figures;
    });
  }

  /** Reports kept apart because they matched no send (up to UNMATCHED_COUNT_CAP). */
  async unmatchedCount(): Promise<number> {
    const filter = `PartitionKey eq '${UNMATCHED_PARTITION}'`;
    return this.guard(async () => {
      let count = 0;
      const pages = this.table
        .listEntities({ queryOptions: { filter, select: ['RowKey'] } })
        .byPage({ maxPageSize: UNMATCHED_COUNT_CAP });
      for await (const page of pages) {
        count += page.length;
        if (count >= UNMATCHED_COUNT_CAP) return UNMATCHED_COUNT_CAP;
      }
      return count;
    });
  }

  private async referenceByNumber(digits: string): Promise<string | undefined> {
    try {
      const index = await this.table.getEntity<{ reference: string }>(
        numberPartition(digits),
        'latest',
      );
      return index.reference;
    } catch (error) {
      if (hasStatus(error, 404)) return undefined;
      throw error;
    }
  }

  /** The row a report for `digits` under `reference` belongs to: the latest still waiting, else the latest. */
  private async rowFor(
    reference: string,
    digits: string,
  ): Promise<TableEntityResult<RecipientEntity> | undefined> {
    const filter =
      `PartitionKey eq '${referencePartition(reference)}'` +
      ` and RowKey gt '${digits}-' and RowKey lt '${digits}.'`;
    let best: TableEntityResult<RecipientEntity> | undefined;
    for await (const row of this.table.listEntities<RecipientEntity>({
      queryOptions: { filter },
    })) {
      const better =
        !best ||
        (isFinal(best.state) && !isFinal(row.state)) ||
        (isFinal(best.state) === isFinal(row.state) && row.sentAt > best.sentAt);
      if (better) best = row;
    }
    return best;
  }

  private async markCall(callKey: string, state: DeliveryState): Promise<void> {
    const marks = { reported: true, ...(state === 'delivered' ? { delivered: true } : {}) };
    // Merge of flags that only ever turn true: no read, no race.
    await this.table.upsertEntity(
      { partitionKey: SENT_PARTITION, rowKey: callKey, ...marks },
      'Merge',
    );
  }

  private async unmatched(
    report: DeliveryReport,
    now: number,
    reason: string,
  ): Promise<RecordOutcome> {
    await this.table.createEntity({
      partitionKey: UNMATCHED_PARTITION,
      rowKey: newCallKey(now),
      reason,
      maskedNumber: maskPhoneNumber(report.number),
      sendmodeStatus: report.sendmodeStatus,
      customerId: report.customerId,
      eventId: report.eventId,
      at: now,
      expiresAt: now + this.ttlMs,
    });
    return { matched: false, reason };
  }

  private guard<T>(work: () => Promise<T>): Promise<T> {
    return guardTable(this.table, unavailableFor, work);
  }
}

/**
 * The plan for one call carrying `sends`: the caller's `customerid` as the reference when it gave
 * one, else one the app sets from `callId` (the send's id, or a merged call's).
 */
export function planCall(
  customerid: string | undefined,
  sends: CallPlan['sends'],
  callId: string,
  version: SendmodeApiVersion,
  now: number,
): CallPlan {
  const plan = { reference: customerid ?? referenceOf(callId), callKey: newCallKey(now) };
  return withSends(plan, sends, version);
}

/** The plan carrying `sends` instead (its reference and its call's row stay the same). */
export function withSends(
  plan: Pick<CallPlan, 'reference' | 'callKey'>,
  sends: CallPlan['sends'],
  version: SendmodeApiVersion,
): CallPlan {
  const recipients = sends.reduce((sum, send) => sum + send.recipients.length, 0);
  return { ...plan, sends, carried: callCarriesReference(version, recipients) };
}
