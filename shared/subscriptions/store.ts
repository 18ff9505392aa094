/**
 * Webhook subscriptions, in Table Storage (`SUBSCRIPTION_TABLE_NAME`), one partition: few rows
 * (at most `MAX_SUBSCRIPTIONS`), every one read for each event. Each keeps its signing secret as
 * it was shown once to the subscriber: deliveries must be signed with it, so it has to be
 * readable (Table Storage encrypts at rest; the secret is never logged or answered again).
 */
import { randomUUID } from 'node:crypto';

import { odata, type TableClient } from '@azure/data-tables';

import { UnprocessableError } from '../errors.js';
import { guardTable, hasStatus } from '../storage/table-storage.js';
import { type EventType, isEventType } from './event-types.js';
import { newWebhookSecret } from './signer.js';

/** Every event reads them all; a flow environment needs far fewer. */
export const MAX_SUBSCRIPTIONS = 100;

const PARTITION = 'subscription';
/** Ids are UUIDs: anything else is no subscription (and never reaches a table query). */
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface Subscription {
  id: string;
  callbackUrl: string;
  events: EventType[];
  /** `whsec_` + base64 of 32 random bytes (Standard Webhooks). */
  secret: string;
  createdAt: string;
}

interface SubscriptionEntity {
  partitionKey: string;
  rowKey: string;
  callbackUrl: string;
  /** Comma-separated event types. */
  events: string;
  secret: string;
  createdAt: string;
}

/** The URL that deletes a subscription: what `Location` gives, and what a trigger's removal calls. */
export function subscriptionUrlOf(origin: string, id: string): string {
  return `${origin}/api/subscriptions/${encodeURIComponent(id)}`;
}

export function isSubscriptionId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

export class SubscriptionStore {
  constructor(private readonly table: TableClient) {}

  /** Stores a new subscription with a new secret; 422 when `MAX_SUBSCRIPTIONS` exist already. */
  async create(input: { callbackUrl: string; events: EventType[] }): Promise<Subscription> {
    return this.guard(async () => {
      // Checked, not locked: subscribes racing at the cap may pass it by the number racing.
      if ((await this.count()) >= MAX_SUBSCRIPTIONS) {
        throw new UnprocessableError(
          `There are ${MAX_SUBSCRIPTIONS} subscriptions already, the most this app keeps: delete one first (DELETE its Location).`,
        );
      }
      const subscription: Subscription = {
        id: randomUUID(),
        callbackUrl: input.callbackUrl,
        events: input.events,
        secret: newWebhookSecret(),
        createdAt: new Date().toISOString(),
      };
      await this.table.createEntity<SubscriptionEntity>({
        partitionKey: PARTITION,
        rowKey: subscription.id,
        callbackUrl: subscription.callbackUrl,
        events: subscription.events.join(','),
        secret: subscription.secret,
        createdAt: subscription.createdAt,
      });
      return subscription;
    });
  }

  async get(id: string): Promise<Subscription | undefined> {
    if (!isSubscriptionId(id)) return undefined;
    return this.guard(async () => {
      try {
        return toSubscription(await this.table.getEntity<SubscriptionEntity>(PARTITION, id));
      } catch (error) {
        if (hasStatus(error, 404)) return undefined;
        throw error;
      }
    });
  }

  /** False when there was no such subscription. */
  async delete(id: string): Promise<boolean> {
    if (!isSubscriptionId(id)) return false;
    return this.guard(async () => {
      try {
        await this.table.deleteEntity(PARTITION, id);
        return true;
      } catch (error) {
        if (hasStatus(error, 404)) return false;
        throw error;
      }
    });
  }

  /** The subscriptions to `type`. */
  async matching(type: EventType): Promise<Subscription[]> {
    return this.guard(async () => {
      const found: Subscription[] = [];
      const rows = this.table.listEntities<SubscriptionEntity>({
        queryOptions: { filter: odata`PartitionKey eq ${PARTITION}` },
      });
      for await (const row of rows) {
        const subscription = toSubscription(row);
        if (subscription.events.includes(type)) found.push(subscription);
      }
      return found;
    });
  }

  private async count(): Promise<number> {
    let count = 0;
    const rows = this.table.listEntities({
      queryOptions: { filter: odata`PartitionKey eq ${PARTITION}`, select: ['RowKey'] },
    });
    for await (const _row of rows) count++;
    return count;
  }

  private guard<T>(work: () => Promise<T>): Promise<T> {
    return guardTable(
      this.table,
      (cause) => `The subscriptions cannot be read or written (${cause}).`,
      work,
    );
  }
}

function toSubscription(row: SubscriptionEntity): Subscription {
  return {
    id: row.rowKey,
    callbackUrl: row.callbackUrl,
    // A type this version no longer knows is left out, not delivered.
    events: String(row.events ?? '')
      .split(',')
      .filter(isEventType),
    secret: row.secret,
    createdAt: row.createdAt,
  };
}
