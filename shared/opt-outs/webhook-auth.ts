/**
 * Webhook authenticity beyond the function key: when a signing secret is configured, every
 * delivery must carry valid Standard Webhooks headers (`webhook-*`, or Svix's `svix-*`), within
 * 5 minutes, with a webhook-id not handled before. The id is claimed (an insert that fails on a
 * duplicate) before the delivery is handled, so a copy racing the original is refused too; a
 * delivery that fails releases its claim, so the sender's retry after a failure is still
 * accepted; and a claim left behind by a process that died mid-delivery is taken over after a
 * while, so that retry is not refused. The row keeps when the id was first seen and signed, on
 * every retry, so a retried delivery is ordered by its first attempt (see `event-order.ts`).
 *
 * A signature that fails against the cached secret is checked once more against the secret read
 * again from the vault (a rotated secret works at once), at most once per `REFRESH_INTERVAL_MS`,
 * so a flood of bad signatures cannot hammer the vault.
 */
import { createHash } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';
import type { HttpRequest } from '@azure/functions';

import { DependencyUnavailableError, UnauthorizedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SecretProvider } from '../secrets.js';
import { describeStorageError, hasStatus } from '../storage/storage-account.js';
import { withTable } from '../storage/table-storage.js';
import {
  deliveryHeaders,
  type SignatureCheck,
  verifyWebhookSignature,
  type WebhookHeaders,
} from './webhook-signature.js';

const PARTITION = 'webhook-id';
/** A claim still `handling` after this long was abandoned: far beyond any delivery's duration. */
const ABANDONED_CLAIM_MS = 2 * 60_000;
/** The least time between two re-reads of the secret prompted by a bad signature. */
export const REFRESH_INTERVAL_MS = 30_000;

interface WebhookIdEntity {
  partitionKey: string;
  rowKey: string;
  /** released: a delivery failed and gave the id back for the sender's retry. */
  state: 'handling' | 'handled' | 'released';
  /** When last claimed (ms since the epoch); the daily purge uses it. */
  at: number;
  /** When this app first saw the id (ms, its clock); absent on rows of older versions. */
  firstSeenAt?: number;
  /** The signed timestamp of that first attempt (ms, the sender's clock). */
  firstSignedAt?: number;
}

const REASONS: Record<string, string> = {
  'missing-headers':
    'webhook-id, webhook-timestamp and webhook-signature headers (or svix-id, svix-timestamp and svix-signature) are required',
  'bad-timestamp': 'the timestamp header must be whole seconds since the epoch',
  'timestamp-out-of-tolerance': 'the timestamp header is more than 5 minutes away from now',
  'bad-signature': 'the signature does not match',
};

/** A verified delivery: its id, and when its first attempt was seen here and signed there. */
export interface VerifiedDelivery {
  id: string;
  /** Ms since the epoch on this app's clock. */
  firstSeenAt: number;
  /** Ms since the epoch on the sender's clock. */
  firstSignedAt: number;
}

export class WebhookAuthenticator {
  private lastRefreshAt = -Infinity;

  constructor(
    private readonly secret: SecretProvider | undefined,
    private readonly seenIds: TableClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether deliveries must be signed (a signing secret is configured). */
  get signatureRequired(): boolean {
    return this.secret !== undefined;
  }

  /** Returns the verified delivery (undefined when signing is off); throws 401 otherwise. */
  async verify(
    request: HttpRequest,
    rawBody: Buffer,
    log: Logger,
  ): Promise<VerifiedDelivery | undefined> {
    if (!this.secret) return undefined;
    const headers = deliveryHeaders((name) => request.headers.get(name));
    const secret = await this.secret.get(log);
    let check = checkSignature(secret, headers, rawBody);
    if (!check.ok && check.reason === 'bad-signature' && this.mayRefresh()) {
      // Perhaps the secret was rotated in the vault: check once against its current value.
      const fresh = await this.secret.refresh(secret, log);
      if (fresh !== secret) check = checkSignature(fresh, headers, rawBody);
    }
    if (!check.ok) throw new UnauthorizedError(`Webhook rejected: ${REASONS[check.reason]}.`);
    return this.claim(check.id, check.timestampSeconds * 1000);
  }

  /** Marks a claimed webhook-id as handled: from now on a replay is refused for good. */
  async complete(id: string, log: Logger): Promise<void> {
    try {
      await this.seenIds.updateEntity(
        { partitionKey: PARTITION, rowKey: rowKey(id), state: 'handled' },
        'Merge',
      );
    } catch (error) {
      log.warn(`Could not mark the webhook-id handled (${describeStorageError(error)}).`);
    }
  }

  /**
   * Gives a claimed webhook-id back after a failed delivery, so the sender's retry is accepted;
   * the row stays, so the retry keeps the first attempt's times.
   */
  async release(id: string, log: Logger): Promise<void> {
    try {
      await this.seenIds.updateEntity(
        { partitionKey: PARTITION, rowKey: rowKey(id), state: 'released' },
        'Merge',
      );
    } catch (error) {
      log.warn(`Could not release the webhook-id (${describeStorageError(error)}).`);
    }
  }

  /** One re-read of the secret per interval, whatever the number of bad signatures. */
  private mayRefresh(): boolean {
    const now = this.now();
    if (now - this.lastRefreshAt < REFRESH_INTERVAL_MS) return false;
    this.lastRefreshAt = now;
    return true;
  }

  private async claim(id: string, signedAt: number, retried = false): Promise<VerifiedDelivery> {
    const now = this.now();
    const entity: WebhookIdEntity = {
      partitionKey: PARTITION,
      rowKey: rowKey(id),
      state: 'handling',
      at: now,
      firstSeenAt: now,
      firstSignedAt: signedAt,
    };
    try {
      await withTable(this.seenIds, () => this.seenIds.createEntity(entity));
      return { id, firstSeenAt: now, firstSignedAt: signedAt };
    } catch (error) {
      if (!hasStatus(error, 409)) throw unavailable(error);
    }
    try {
      const existing = await this.seenIds.getEntity<WebhookIdEntity>(PARTITION, entity.rowKey);
      const abandoned = existing.state === 'handling' && existing.at + ABANDONED_CLAIM_MS < now;
      if (existing.state === 'released' || abandoned) {
        // A retry: it is ordered by the first attempt, whenever that was.
        const firstSeenAt = existing.firstSeenAt ?? existing.at;
        const firstSignedAt = existing.firstSignedAt ?? signedAt;
        await this.seenIds.updateEntity({ ...entity, firstSeenAt, firstSignedAt }, 'Replace', {
          etag: existing.etag,
        });
        return { id, firstSeenAt, firstSignedAt };
      }
    } catch (error) {
      if (hasStatus(error, 404) && !retried) return this.claim(id, signedAt, true); // purged meanwhile
      // 412: another retry took the claim first.
      if (!hasStatus(error, 404) && !hasStatus(error, 412)) throw unavailable(error);
    }
    throw new UnauthorizedError('Webhook rejected: this webhook-id was already handled.');
  }
}

function checkSignature(secret: string, headers: WebhookHeaders, rawBody: Buffer): SignatureCheck {
  try {
    return verifyWebhookSignature(secret, headers, rawBody);
  } catch {
    throw new DependencyUnavailableError(
      'configuration',
      'The webhook signing secret is not usable (expected whsec_<base64> or a plain string).',
      60_000,
    );
  }
}

function unavailable(error: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(
    'table-storage',
    `Table Storage is unavailable (${describeStorageError(error)}); the webhook was not handled.`,
  );
}

function rowKey(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}
