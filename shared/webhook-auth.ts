/**
 * Webhook authenticity beyond the function key: when a signing secret is configured, every
 * delivery must carry valid Standard Webhooks headers, within 5 minutes, with a webhook-id not
 * seen before. The id is claimed (an insert that fails on a duplicate) before the delivery is
 * handled, so a copy racing the original is refused too; a delivery that fails releases its
 * claim, so the sender's retry after a failure is still accepted.
 */
import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import type { HttpRequest } from '@azure/functions';
import { DependencyUnavailableError, UnauthorizedError } from './errors.js';
import type { Logger } from './logger.js';
import type { SecretProvider } from './secrets.js';
import { describeStorageError, hasStatus } from './storage-account.js';
import { withTable } from './table-storage.js';
import { verifyWebhookSignature } from './webhook-signature.js';

const PARTITION = 'webhook-id';

const REASONS: Record<string, string> = {
  'missing-headers': 'webhook-id, webhook-timestamp and webhook-signature headers are required',
  'bad-timestamp': 'webhook-timestamp must be whole seconds since the epoch',
  'timestamp-out-of-tolerance': 'webhook-timestamp is more than 5 minutes away from now',
  'bad-signature': 'webhook-signature does not match',
};

export class WebhookAuthenticator {
  constructor(
    private readonly secret: SecretProvider | undefined,
    private readonly seenIds: TableClient,
  ) {}

  /** Returns the verified webhook-id (undefined when signing is off); throws 401 otherwise. */
  async verify(request: HttpRequest, rawBody: Buffer, log: Logger): Promise<string | undefined> {
    if (!this.secret) return undefined;
    const secret = await this.secret.get(log);
    let check;
    try {
      check = verifyWebhookSignature(
        secret,
        {
          id: request.headers.get('webhook-id'),
          timestamp: request.headers.get('webhook-timestamp'),
          signature: request.headers.get('webhook-signature'),
        },
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
    return check.id;
  }

  /** Gives a claimed webhook-id back after a failed delivery, so the sender's retry is accepted. */
  async release(id: string, log: Logger): Promise<void> {
    try {
      await this.seenIds.deleteEntity(PARTITION, rowKey(id));
    } catch (error) {
      log.warn(`Could not release the webhook-id (${describeStorageError(error)}).`);
    }
  }

  private async claim(id: string): Promise<void> {
    try {
      await withTable(this.seenIds, () =>
        this.seenIds.createEntity({ partitionKey: PARTITION, rowKey: rowKey(id), at: Date.now() }),
      );
    } catch (error) {
      if (hasStatus(error, 409)) {
        throw new UnauthorizedError('Webhook rejected: this webhook-id was already handled.');
      }
      throw new DependencyUnavailableError(
        'table-storage',
        `Table Storage is unavailable (${describeStorageError(error)}); the webhook was not handled.`,
      );
    }
  }
}

function rowKey(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}
