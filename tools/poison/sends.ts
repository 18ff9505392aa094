/**
 * Replaying the send queue's poison messages (`sms-outbox-poison`, SEND_QUEUE_NAME): a send is
 * tracked by its status (shared/outbox/send-status.ts), and the app parks a send as `failed`.
 * The handler never sends a send whose status is final again, so replay first reopens it: the
 * status goes back to `queued` (its id, token and queue time kept; its failure forgotten), and
 * the original message (which carries the `id`) goes back on the queue, to be sent under the
 * same id; `GET /api/sms/{id}` and the status URL follow it again.
 *
 * - `failed`: reopened; put back as it was if the copy cannot be stored.
 * - `sent`: not replayed (it would not be sent again): it stays in poison, to be purged.
 * - `queued`, `scheduled`, `sending`, or no status (expired, or never written): replayed as it
 *   is; the handler carries on from there (a `sending` claim is taken over once stale).
 * - no `id` (a message the host moved before the handler wrote one in): replayed; its new
 *   Storage message id becomes its id.
 */
import {
  type SendStatus,
  SendStatusStore,
  type StoredStatus,
} from '../../shared/outbox/send-status.js';
import { parseSettings } from '../../shared/settings.js';
import type { QueueStorage } from '../queues/storage.js';
import type { PoisonEntry, ReplayGate } from './poison.js';

/** Thrown by the gate: the reason an entry stays in poison. */
class KeptInPoison extends Error {}

/**
 * The send statuses as the app keeps them under these settings (SEND_STATUS_TABLE_NAME,
 * SEND_STATUS_TTL_SECONDS, validated as the app validates them), and how long one is kept.
 */
export async function sendStatuses(
  storage: QueueStorage,
): Promise<{ statuses: SendStatusStore; ttlMs: number }> {
  const { SEND_STATUS_TABLE_NAME, SEND_STATUS_TTL_SECONDS } = parseSettings({
    SEND_STATUS_TABLE_NAME: storage.settings.SEND_STATUS_TABLE_NAME,
    SEND_STATUS_TTL_SECONDS: storage.settings.SEND_STATUS_TTL_SECONDS,
  });
  const ttlMs = SEND_STATUS_TTL_SECONDS * 1000;
  return {
    statuses: new SendStatusStore(await storage.table(SEND_STATUS_TABLE_NAME), ttlMs),
    ttlMs,
  };
}

/** `failed` → `queued` again, expected now; how long it can be looked up counts from now. */
export function reopened(status: SendStatus, now: number, ttlMs: number): SendStatus {
  const {
    answer: _answer,
    finishedAt: _finishedAt,
    claimedAt: _claimedAt,
    lastError: _lastError,
    ...kept
  } = status;
  return {
    ...kept,
    state: 'queued',
    expectedAt: now,
    expiresAt: Math.max(kept.expiresAt, now + ttlMs),
  };
}

export interface SendReplayNotes {
  /** A send's status was reopened (`failed` → `queued`). */
  reopened(entry: PoisonEntry, id: string): void;
  /** A send without an id went back: it is known by its new message id. */
  newId(entry: PoisonEntry, id: string): void;
}

/** The gate replay passes each send through (see the top of this file). */
export function sendReplayGate(
  statuses: SendStatusStore,
  ttlMs: number,
  notes: SendReplayNotes,
  now: () => number = Date.now,
): ReplayGate {
  return {
    async before(entry) {
      const id = entry.sendId;
      if (id === undefined) return undefined;
      const stored = await statuses.get(id);
      if (!stored) return undefined;
      const { state } = stored.status;
      if (state === 'sent') {
        throw new KeptInPoison(
          `send ${id} was sent already (its status is sent): not replayed; purge it`,
        );
      }
      if (state !== 'failed') return undefined;
      const reopenedStatus = await statuses.update(stored, reopened(stored.status, now(), ttlMs));
      if (!reopenedStatus) {
        throw new KeptInPoison(`send ${id}: its status changed while it was read; try again`);
      }
      notes.reopened(entry, id);
      return () => restore(statuses, reopenedStatus, stored);
    },
    after(entry, messageId) {
      if (entry.sendId === undefined) notes.newId(entry, messageId);
    },
  };
}

/** Puts a reopened status back as it was (only if nothing moved it on meanwhile). */
async function restore(
  statuses: SendStatusStore,
  reopenedStatus: StoredStatus,
  before: StoredStatus,
): Promise<void> {
  await statuses.update(reopenedStatus, before.status);
}
