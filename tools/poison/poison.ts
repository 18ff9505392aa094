/**
 * A queue's poison messages (`<queue>-poison`), for operators: read them, replay them onto the
 * main queue, or delete them.
 *
 * Two kinds of poison message exist. The app parks what it gives up on as a record
 * `{ reason, errors?, upstream?, attempts, failedAt, message }` (shared/queues/queue-work.ts),
 * where `message` is the original payload. The Functions host moves a message whose function
 * kept throwing as the text it was, which may be plain JSON, base64 JSON or the app's retry
 * envelope. Both are read here; replay sends the original payload, without the envelope, so it
 * gets a fresh set of attempts.
 *
 * Replay never loses a message: each copy is stored on the main queue before its poison copy is
 * deleted. Interrupted half-way, a message is in one queue or (at worst, the one in flight) both.
 * A queue whose messages are tracked elsewhere (the send queue's statuses: sends.ts) passes a
 * `ReplayGate` that readies each message's record before its copy goes back.
 */
import type { QueueClient } from '@azure/storage-queue';

import { maskPhoneNumber } from '../../shared/phone.js';
import { decodeQueueMessage } from '../../shared/queues/decode.js';
import { encodeMessage } from '../../shared/queues/queue-storage.js';
import { openDelivery } from '../../shared/queues/queue-work.js';

export interface PoisonEntry {
  id: string;
  /** When it was parked (the app's `failedAt`, else when the poison copy was written). */
  when: string;
  reason: string;
  attempts?: number;
  errors?: unknown;
  upstream?: unknown;
  /** What replay sends: the original message, without the retry envelope. */
  payload: unknown;
  /** The masked phone number, when the payload has one (a send's first recipient, and how many more). */
  number?: string;
  /** A send's own id (the send queue's `id`), which its status is looked up by. */
  sendId?: string;
}

/**
 * What replay asks before it copies an entry back: `before` readies whatever tracks it (throws to
 * keep it in poison, the error's message saying why) and may return an undo, run when the copy
 * could not be stored; `after` runs once the copy is stored (with its new Storage message id).
 */
export interface ReplayGate {
  before(entry: PoisonEntry): Promise<(() => Promise<void>) | undefined>;
  after?(entry: PoisonEntry, messageId: string): void;
}

interface Received extends PoisonEntry {
  popReceipt: string;
}

/** How long a scan keeps the messages it read hidden, if it is interrupted before releasing them. */
const LEASE_SECONDS = 60;
const NEVER_EXPIRES = -1;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A send's request: bare, or wrapped in `message` (shared/outbox/outbox-message.ts). */
function sendRequestOf(payload: Record<string, unknown>): Record<string, unknown> {
  return !('messagetext' in payload) && isRecord(payload.message) ? payload.message : payload;
}

function phoneOf(payload: unknown): string | undefined {
  if (!isRecord(payload)) return undefined;
  const number =
    payload.mobilenumber ??
    (isRecord(payload.importdata) ? payload.importdata.mobilenumber : undefined);
  if (typeof number === 'string') return maskPhoneNumber(number);
  const recipients = sendRequestOf(payload).recipients;
  if (!Array.isArray(recipients)) return undefined;
  const numbers = recipients.filter((r): r is string => typeof r === 'string');
  if (numbers.length === 0) return undefined;
  const more = recipients.length - 1;
  return `${maskPhoneNumber(numbers[0]!)}${more > 0 ? ` +${more}` : ''}`;
}

function sendIdOf(payload: unknown): string | undefined {
  return isRecord(payload) && typeof payload.id === 'string' ? payload.id : undefined;
}

/** The fields read from a payload: its masked number and its send id, when it has them. */
function described(payload: unknown): Pick<PoisonEntry, 'number' | 'sendId'> {
  const number = phoneOf(payload);
  const sendId = sendIdOf(payload);
  return { ...(number ? { number } : {}), ...(sendId !== undefined ? { sendId } : {}) };
}

/** One poison message's text, understood. */
export function readPoisonText(text: string, id: string, insertedOn: Date): PoisonEntry {
  const decoded = decodeQueueMessage(text);
  if (isRecord(decoded) && typeof decoded.reason === 'string' && 'message' in decoded) {
    const payload = decoded.message;
    return {
      id,
      when: typeof decoded.failedAt === 'string' ? decoded.failedAt : insertedOn.toISOString(),
      reason: decoded.reason,
      ...(typeof decoded.attempts === 'number' ? { attempts: decoded.attempts } : {}),
      ...(decoded.errors !== undefined ? { errors: decoded.errors } : {}),
      ...(decoded.upstream !== undefined ? { upstream: decoded.upstream } : {}),
      payload,
      ...described(payload),
    };
  }
  // Moved by the host: the message as it was, perhaps in the retry envelope.
  const delivery = openDelivery(decoded, 1);
  const lastError =
    isRecord(decoded) && typeof decoded.lastError === 'string'
      ? `; last: ${decoded.lastError}`
      : '';
  return {
    id,
    when: insertedOn.toISOString(),
    reason: `Moved by the Functions host after its function failed on every delivery${lastError}`,
    ...(delivery.attempt > 1 ? { attempts: delivery.attempt - 1 } : {}),
    payload: delivery.payload,
    ...described(delivery.payload),
  };
}

/** The payload with every `mobilenumber` and every send's `recipients` masked, for printing. */
export function masked(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(masked);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === 'mobilenumber' && typeof inner === 'string'
        ? maskPhoneNumber(inner)
        : key === 'recipients' && Array.isArray(inner)
          ? inner.map((r) => (typeof r === 'string' ? maskPhoneNumber(r) : masked(r)))
          : masked(inner),
    ]),
  );
}

export class PoisonQueue {
  readonly main: QueueClient;
  readonly poison: QueueClient;

  constructor(main: QueueClient, poison: QueueClient) {
    this.main = main;
    this.poison = poison;
  }

  async count(): Promise<number> {
    if (!(await this.poison.exists())) return 0;
    return (await this.poison.getProperties()).approximateMessagesCount ?? 0;
  }

  /**
   * Every visible poison message, in batches of up to 32, each hidden for LEASE_SECONDS while
   * the caller handles it. Stops when the queue returns nothing new.
   */
  async *#scan(): AsyncGenerator<Received[]> {
    if (!(await this.poison.exists())) return;
    const seen = new Set<string>();
    for (;;) {
      const { receivedMessageItems } = await this.poison.receiveMessages({
        numberOfMessages: 32,
        visibilityTimeout: LEASE_SECONDS,
      });
      const fresh = receivedMessageItems.filter((m) => !seen.has(m.messageId));
      if (fresh.length === 0) return;
      for (const m of fresh) seen.add(m.messageId);
      yield fresh.map((m) => ({
        ...readPoisonText(m.messageText, m.messageId, m.insertedOn),
        popReceipt: m.popReceipt,
      }));
    }
  }

  /** Makes scanned-but-untouched messages visible again at once. */
  async #release(entries: Received[]): Promise<void> {
    await Promise.all(
      entries.map((e) =>
        this.poison.updateMessage(e.id, e.popReceipt, undefined, 0).catch(() => undefined),
      ),
    );
  }

  /** All poison messages, oldest first (read, then made visible again). */
  async list(): Promise<PoisonEntry[]> {
    const all: Received[] = [];
    try {
      for await (const batch of this.#scan()) all.push(...batch);
    } finally {
      await this.#release(all);
    }
    return all
      .map(({ popReceipt: _popReceipt, ...entry }) => entry)
      .sort((a, b) => a.when.localeCompare(b.when));
  }

  /**
   * Copies each selected message's payload onto the main queue, then deletes its poison copy.
   * `select` picks by entry; returns what was replayed.
   */
  async replay(
    select: (entry: PoisonEntry) => boolean,
    onReplayed: (entry: PoisonEntry) => void = () => {},
    gate?: ReplayGate,
  ): Promise<{ replayed: number; failed: { id: string; error: string }[] }> {
    await this.main.createIfNotExists();
    const untouched: Received[] = [];
    const failed: { id: string; error: string }[] = [];
    let replayed = 0;
    try {
      for await (const batch of this.#scan()) {
        const chosen = batch.filter(select);
        untouched.push(...batch.filter((e) => !chosen.includes(e)));
        await Promise.all(
          chosen.map(async (entry) => {
            let undo: (() => Promise<void>) | undefined;
            try {
              undo = await gate?.before(entry);
            } catch (error) {
              failed.push({ id: entry.id, error: describe(error) });
              untouched.push(entry); // its record refuses: stays in poison
              return;
            }
            let messageId: string;
            try {
              // A string payload is text no one could decode: it goes back as it came.
              const text =
                typeof entry.payload === 'string' ? entry.payload : encodeMessage(entry.payload);
              ({ messageId } = await this.main.sendMessage(text, {
                messageTimeToLive: NEVER_EXPIRES,
              }));
            } catch (error) {
              await undo?.().catch(() => undefined);
              failed.push({ id: entry.id, error: describe(error) });
              untouched.push(entry); // not copied: stays in poison
              return;
            }
            gate?.after?.(entry, messageId);
            try {
              await this.poison.deleteMessage(entry.id, entry.popReceipt);
            } catch (error) {
              // Copied but not deleted: it reappears in poison; replaying it again is a duplicate import (harmless).
              failed.push({
                id: entry.id,
                error: `copied, but the poison copy was not deleted: ${describe(error)}`,
              });
            }
            replayed++;
            onReplayed(entry);
          }),
        );
      }
    } finally {
      await this.#release(untouched);
    }
    return { replayed, failed };
  }

  /** Deletes the selected poison messages; returns how many. */
  async purge(select: (entry: PoisonEntry) => boolean): Promise<number> {
    const untouched: Received[] = [];
    let purged = 0;
    try {
      for await (const batch of this.#scan()) {
        for (const entry of batch) {
          if (!select(entry)) {
            untouched.push(entry);
            continue;
          }
          await this.poison.deleteMessage(entry.id, entry.popReceipt);
          purged++;
        }
      }
    } finally {
      await this.#release(untouched);
    }
    return purged;
  }
}

function describe(error: unknown): string {
  const e = error as { statusCode?: number; code?: string; message?: string };
  return (
    [e?.statusCode, e?.code].filter(Boolean).join(' ') ||
    e?.message?.split('\n')[0] ||
    String(error)
  );
}
