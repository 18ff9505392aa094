/**
 * A status for every queued send, in Table Storage: queued → (scheduled) → sending → sent or
 * failed. The final answer is kept as the HTTP status and body a synchronous send would have
 * answered, so `GET /api/sms/{id}` can answer exactly that. Every change is conditioned on the
 * ETag it read: two deliveries of one send (a duplicate drop, a redelivery) cannot both claim it.
 *
 * Keys: the caller's id may hold characters Table Storage refuses in keys (`/`, `#`, `?`), so the
 * row key is its SHA-256; the first two hex digits spread records over 256 partitions.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import type { TableClient } from '@azure/data-tables';
import type { HttpResponseInit } from '@azure/functions';

import { DependencyUnavailableError } from '../errors.js';
import { describeStorageError } from '../storage/storage-account.js';
import { hasStatus, withTable } from '../storage/table-storage.js';

export type SendState = 'queued' | 'scheduled' | 'sending' | 'sent' | 'failed';

export interface SendStatus {
  id: string;
  state: SendState;
  /** ms since the epoch. */
  queuedAt: number;
  /** When it is expected to go (ms): the limiter's estimate, its slot, or its schedule. */
  expectedAt: number;
  /** When a delivery claimed it to call Sendmode (state `sending`). */
  claimedAt?: number;
  /** When Sendmode accepted it, or when it failed for good. */
  finishedAt?: number;
  /** The final answer (sent or failed): what a synchronous send would have answered. */
  answer?: { status: number; body: string };
  /** SHA-256 of the status URL's token (a status queued over HTTP); never the token itself. */
  tokenHash?: string;
  /** Why the last attempt failed, while it is retried (no numbers, no text). */
  lastError?: string;
  /** The `customerid` its call carried: where its delivery reports are kept (shared/delivery/). */
  reference?: string;
  expiresAt: number;
}

interface StatusEntity {
  partitionKey: string;
  rowKey: string;
  id: string;
  state: SendState;
  queuedAt: number;
  expectedAt: number;
  claimedAt?: number;
  finishedAt?: number;
  answerStatus?: number;
  /** The answer's body in chunks (a Table string property holds at most 32 K characters). */
  bodyChunks?: number;
  tokenHash?: string;
  lastError?: string;
  reference?: string;
  expiresAt: number;
  [chunk: `body${number}`]: string;
}

export interface StoredStatus {
  status: SendStatus;
  etag: string;
}

const CHUNK_CHARS = 30_000;

function keysOf(id: string): { partitionKey: string; rowKey: string } {
  const rowKey = createHash('sha256').update(id).digest('hex');
  return { partitionKey: rowKey.slice(0, 2), rowKey };
}

/** An HTTP answer as a status keeps it. */
export function answerOf(response: HttpResponseInit): { status: number; body: string } {
  return { status: response.status ?? 500, body: String(response.body ?? '') };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Whether `token` is the one this status was queued with (constant time). */
export function tokenMatches(status: SendStatus, token: string | null): boolean {
  if (!status.tokenHash || !token) return false;
  const expected = Buffer.from(status.tokenHash);
  const given = Buffer.from(hashToken(token));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function toEntity(status: SendStatus): StatusEntity {
  const { answer, ...rest } = status;
  const entity: StatusEntity = { ...keysOf(status.id), ...stripUndefined(rest) };
  if (answer) {
    entity.answerStatus = answer.status;
    const chunks = Math.ceil(answer.body.length / CHUNK_CHARS);
    entity.bodyChunks = chunks;
    for (let i = 0; i < chunks; i++) {
      entity[`body${i}`] = answer.body.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
    }
  }
  return entity;
}

function fromEntity(entity: StatusEntity): SendStatus {
  const status: SendStatus = {
    id: entity.id,
    state: entity.state,
    queuedAt: entity.queuedAt,
    expectedAt: entity.expectedAt,
    expiresAt: entity.expiresAt,
    ...optional('claimedAt', entity.claimedAt),
    ...optional('finishedAt', entity.finishedAt),
    ...optional('tokenHash', entity.tokenHash),
    ...optional('lastError', entity.lastError),
    ...optional('reference', entity.reference),
  };
  if (entity.answerStatus !== undefined) {
    let body = '';
    for (let i = 0; i < (entity.bodyChunks ?? 0); i++) body += entity[`body${i}`] ?? '';
    status.answer = { status: entity.answerStatus, body };
  }
  return status;
}

function optional<K extends string, V>(key: K, value: V | undefined | null) {
  return value === undefined || value === null ? {} : ({ [key]: value } as Record<K, V>);
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function unavailable(error: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(
    'table-storage',
    `Table Storage is unavailable for send statuses (${describeStorageError(error)}).`,
  );
}

export class SendStatusStore {
  constructor(
    private readonly table: TableClient,
    private readonly ttlMs: number,
  ) {}

  /** A new status for `id`; undefined when one exists already (the existing one is kept). */
  async create(
    fields: Omit<SendStatus, 'expiresAt'>,
    now: number,
  ): Promise<StoredStatus | undefined> {
    const status: SendStatus = { ...fields, expiresAt: now + this.ttlMs };
    try {
      const created = await withTable(this.table, () => this.table.createEntity(toEntity(status)));
      return { status, etag: created.etag ?? '' };
    } catch (error) {
      if (hasStatus(error, 409)) return undefined;
      throw unavailable(error);
    }
  }

  async get(id: string): Promise<StoredStatus | undefined> {
    const { partitionKey, rowKey } = keysOf(id);
    try {
      const entity = await withTable(this.table, () =>
        this.table.getEntity<StatusEntity>(partitionKey, rowKey),
      );
      // A row key is a hash: make sure it is this id's, not a collision's.
      if (entity.id !== id) return undefined;
      return { status: fromEntity(entity), etag: entity.etag };
    } catch (error) {
      if (hasStatus(error, 404)) return undefined;
      throw unavailable(error);
    }
  }

  /**
   * Replaces the status read as `stored` with `next`; the new ETag, or undefined when it changed
   * since it was read (someone else moved it on: read it again).
   */
  async update(stored: StoredStatus, next: SendStatus): Promise<StoredStatus | undefined> {
    try {
      const updated = await this.table.updateEntity(toEntity(next), 'Replace', {
        etag: stored.etag,
      });
      return { status: next, etag: updated.etag ?? '' };
    } catch (error) {
      if (hasStatus(error, 412) || hasStatus(error, 404)) return undefined;
      throw unavailable(error);
    }
  }

  /**
   * Makes a send's status final without reading it first (a merged call finishes many sends at
   * once): only the final fields are written, the rest of the status is kept. A status that is
   * gone (expired) stays gone.
   */
  async finish(
    id: string,
    answer: { status: number; body: string },
    finishedAt: number,
    reference?: string,
  ): Promise<void> {
    const state: SendState = answer.status < 400 ? 'sent' : 'failed';
    const { answerStatus, bodyChunks, ...chunks } = toEntity({
      id,
      state,
      queuedAt: 0,
      expectedAt: 0,
      expiresAt: 0,
      answer,
    });
    const entity = {
      partitionKey: chunks.partitionKey,
      rowKey: chunks.rowKey,
      state,
      finishedAt,
      answerStatus,
      bodyChunks,
      lastError: '',
      ...(reference !== undefined ? { reference } : {}),
      ...Object.fromEntries(Object.entries(chunks).filter(([key]) => /^body\d+$/.test(key))),
    };
    try {
      await this.table.updateEntity(entity, 'Merge');
    } catch (error) {
      if (!hasStatus(error, 404)) throw unavailable(error);
    }
  }

  /** Removes a status that was never queued (its message could not be written). */
  async discard(stored: StoredStatus): Promise<void> {
    const { partitionKey, rowKey } = keysOf(stored.status.id);
    await this.table.deleteEntity(partitionKey, rowKey, { etag: stored.etag }).catch(() => {});
  }
}
