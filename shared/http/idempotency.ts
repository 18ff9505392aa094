/**
 * Idempotent sends. The first outcome of a request that may have reached Sendmode is stored
 * under the caller's Idempotency-Key with a fingerprint of the request; a retry with the same
 * key and request replays it and calls nothing. Logic Apps retries on 408, 429 and 5xx: this is
 * what keeps those retries from sending an SMS twice.
 */
import { createHash } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';
import type { HttpResponseInit } from '@azure/functions';

import {
  ConflictError,
  DependencyUnavailableError,
  mayHaveReachedSendmode,
  UnprocessableError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import { describeStorageError } from '../storage/storage-account.js';
import { hasStatus, withTable } from '../storage/table-storage.js';
import { REPLAYED_HEADER } from './idempotency-key.js';
import { IN_FLIGHT_STALE_MS } from './idempotency-limits.js';
import { problemResponse } from './problem.js';

interface StoredOutcome {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface IdempotencyEntity {
  partitionKey: string;
  rowKey: string;
  fingerprint: string;
  state: 'in-flight' | 'done';
  claimedAt: number;
  expiresAt: number;
  outcome?: string;
}

interface Claim {
  partitionKey: string;
  rowKey: string;
  etag: string;
  entity: IdempotencyEntity;
}

export class IdempotencyStore {
  constructor(
    private readonly table: TableClient,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs `send` at most once per key within the TTL. `send` resolves to the response, or throws;
   * a throw that may have reached Sendmode is stored as its problem response, any other releases
   * the key so a retry can try again.
   */
  async run(
    key: string,
    fingerprint: string,
    send: () => Promise<HttpResponseInit>,
    log: Logger,
    invocationId?: string,
  ): Promise<HttpResponseInit> {
    const begun = await this.begin(key, fingerprint);
    if ('replay' in begun) return replayed(begun.replay);
    try {
      const response = await send();
      await this.complete(begun, response, log);
      return response;
    } catch (error) {
      if (mayHaveReachedSendmode(error)) {
        await this.complete(begun, problemResponse(error, invocationId), log);
      } else {
        await this.release(begun, log);
      }
      throw error;
    }
  }

  private async begin(
    key: string,
    fingerprint: string,
  ): Promise<Claim | { replay: StoredOutcome }> {
    // Hash the key: callers' keys may hold characters Table Storage does not allow in keys.
    const rowKey = createHash('sha256').update(key).digest('hex');
    const partitionKey = rowKey.slice(0, 2);
    const now = this.now();
    const entity: IdempotencyEntity = {
      partitionKey,
      rowKey,
      fingerprint,
      state: 'in-flight',
      claimedAt: now,
      expiresAt: now + this.ttlMs,
    };
    try {
      const created = await withTable(this.table, () => this.table.createEntity(entity));
      return { partitionKey, rowKey, etag: created.etag ?? '', entity };
    } catch (error) {
      if (!hasStatus(error, 409)) throw unavailable(error);
    }

    let existing: IdempotencyEntity & { etag: string };
    try {
      existing = await this.table.getEntity<IdempotencyEntity>(partitionKey, rowKey);
    } catch (error) {
      if (hasStatus(error, 404))
        throw new ConflictError('The request with this key changed state; retry.');
      throw unavailable(error);
    }
    const abandoned =
      existing.state === 'in-flight' && existing.claimedAt + IN_FLIGHT_STALE_MS <= now;
    if (existing.expiresAt <= now || abandoned) {
      return this.takeOver(entity, existing.etag);
    }
    if (existing.fingerprint !== fingerprint) {
      throw new UnprocessableError(
        'This Idempotency-Key was used with a different request; use a new key for a new message.',
        [{ field: 'Idempotency-Key', message: 'was used with a different request body' }],
      );
    }
    if (existing.state === 'in-flight' || !existing.outcome) {
      throw new ConflictError(
        'A request with this Idempotency-Key is still in progress; retry shortly.',
      );
    }
    return { replay: JSON.parse(existing.outcome) as StoredOutcome };
  }

  private async takeOver(entity: IdempotencyEntity, etag: string): Promise<Claim> {
    try {
      const updated = await this.table.updateEntity(entity, 'Replace', { etag });
      return {
        partitionKey: entity.partitionKey,
        rowKey: entity.rowKey,
        etag: updated.etag ?? '',
        entity,
      };
    } catch (error) {
      if (hasStatus(error, 412))
        throw new ConflictError('Another request took this key first; retry.');
      throw unavailable(error);
    }
  }

  private async complete(claim: Claim, response: HttpResponseInit, log: Logger): Promise<void> {
    const outcome: StoredOutcome = {
      status: response.status ?? 200,
      headers: { ...(response.headers as Record<string, string> | undefined) },
      body: String(response.body ?? ''),
    };
    const done: IdempotencyEntity = {
      ...claim.entity,
      state: 'done',
      outcome: JSON.stringify(outcome),
    };
    try {
      await this.table.updateEntity(done, 'Replace', { etag: claim.etag });
    } catch (error) {
      // The send happened; the caller gets its answer. Retries see 409 until the claim goes stale.
      log.error(`Could not store the idempotent outcome (${describeStorageError(error)}).`);
    }
  }

  private async release(claim: Claim, log: Logger): Promise<void> {
    try {
      await this.table.deleteEntity(claim.partitionKey, claim.rowKey, { etag: claim.etag });
    } catch (error) {
      log.warn(`Could not release the Idempotency-Key claim (${describeStorageError(error)}).`);
    }
  }
}

function replayed(outcome: StoredOutcome): HttpResponseInit {
  return {
    status: outcome.status,
    headers: { ...outcome.headers, [REPLAYED_HEADER]: 'true' },
    body: outcome.body,
  };
}

function unavailable(error: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(
    'table-storage',
    `Table Storage is unavailable (${describeStorageError(error)}); nothing was sent.`,
  );
}
