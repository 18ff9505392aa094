/**
 * Webhook authenticity beyond the function key: when a signing secret is configured, every
 * delivery must carry valid Standard Webhooks headers (`webhook-*`, or Svix's `svix-*`), within 5 minutes, with a webhook-id not
 * seen before. The id is claimed (an insert that fails on a duplicate) before the delivery is
 * handled, so a copy racing the original is refused too; a delivery that fails releases its
 * claim, so the sender's retry after a failure is still accepted; and a claim left behind by a
 * process that died mid-delivery is taken over after a while, so that retry is not refused.
 */
import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import type { HttpRequest } from '@azure/functions';
import { DependencyUnavailableError, UnauthorizedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SecretProvider } from '../secrets.js';
import { describeStorageError, hasStatus } from '../storage/storage-account.js';
import { withTable } from '../storage/table-storage.js';
import { deliveryHeaders, verifyWebhookSignature } from './webhook-signature.js';

const PARTITION = 'webhook-id';
/** A claim still `handling` after this long was abandoned: far beyond any delivery's duration. */
const ABANDONED_CLAIM_MS = 2 * 60_000;

interface WebhookIdEntity {
  partitionKey: string;
  rowKey: string;
  state: 'handling' | 'handled';
  /** When claimed (ms since the epoch); the daily purge uses it. */
  at: number;
}

const REASONS: Record<string, string> = {
  'missing-headers':
    'webhook-id, webhook-timestamp and webhook-signature headers (or svix-id, svix-timestamp and svix-signature) are required',
  'bad-timestamp': 'the timestamp header must be whole seconds since the epoch',
  'timestamp-out-of-tolerance': 'the timestamp header is more than 5 minutes away from now',
  'bad-signature': 'the signature does not match',
};

/** A verified delivery: its id and the time its sender signed it. */
export interface VerifiedDelivery {
  id: string;
  timestampSeconds: number;
}

export class WebhookAuthenticator {
  constructor(
    private readonly secret: SecretProvider | undefined,
    private readonly seenIds: TableClient,
  ) {}

  /** Returns the verified delivery (undefined when signing is off); throws 401 otherwise. */
  async verify(
    request: HttpRequest,
    rawBody: Buffer,
    log: Logger,
  ): Promise<VerifiedDelivery | undefined> {
    if (!this.secret) return undefined;
    const secret = await this.secret.get(log);
    let check;
    try {
      check = verifyWebhookSignature(
        secret,
        deliveryHeaders((name) => request.headers.get(name)),
        rawBody,
      );
    } catch {
      throw new DependencyUnavailableError(
        'configuration',
        'The webhook signing secret is not usable (expected whsec_<base64> or a plain string).',
        60_000,
      );
    }
    if (!check.ok) throw new UnauthorizedError(`Webhook rejected: ${REASONS[check.reason]}.`);
    await this.claim(check.id);
    return { id: check.id, timestampSeconds: check.timestampSeconds };
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

  /** Gives a claimed webhook-id back after a failed delivery, so the sender's retry is accepted. */
  async release(id: string, log: Logger): Promise<void> {
    try {
      await this.seenIds.deleteEntity(PARTITION, rowKey(id));
    } catch (error) {
      log.warn(`Could not release the webhook-id (${describeStorageError(error)}).`);
    }
  }

  private async claim(id: string, retried = false): Promise<void> {
    const entity: WebhookIdEntity = {
      partitionKey: PARTITION,
      rowKey: rowKey(id),
      state: 'handling',
      at: Date.now(),
    };
    try {
      await withTable(this.seenIds, () => this.seenIds.createEntity(entity));
      return;
    } catch (error) {
      if (!hasStatus(error, 409)) throw unavailable(error);
    }
    try {
      const existing = await this.seenIds.getEntity<WebhookIdEntity>(PARTITION, entity.rowKey);
      if (existing.state === 'handling' && existing.at + ABANDONED_CLAIM_MS < entity.at) {
        await this.seenIds.updateEntity(entity, 'Replace', { etag: existing.etag });
        return;
      }
    } catch (error) {
      if (hasStatus(error, 404) && !retried) return this.claim(id, true); // released meanwhile
      // 412: another retry took the abandoned claim first.
      if (!hasStatus(error, 404) && !hasStatus(error, 412)) throw unavailable(error);
    }
    throw new UnauthorizedError('Webhook rejected: this webhook-id was already handled.');
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
