/**
 * Small things many test files need: waiting for a condition, base64 as the queues carry it, and
 * fresh names for what a test creates.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface UntilOptions {
  /** Gives up after this long (default 20 s). */
  timeoutMs?: number;
  /** Between probes (default 50 ms). */
  intervalMs?: number;
  /** Appended to the time-out error, e.g. the tail of a host's output. */
  detail?: () => string;
}

/**
 * Probes until `probe` gives a value other than `undefined` or `false` and returns it; throws
 * `Timed out waiting for <what>` after the time-out. A number is the time-out in ms.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: UntilOptions | number = {},
): Promise<T> {
  const {
    timeoutMs = 20_000,
    intervalMs = 50,
    detail,
  } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}${detail ? `:\n${detail()}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** `text` (UTF-8) in base64, as a base64-encoding queue producer writes it. */
export const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** `value` as JSON in base64: an older SDK's (or WebJobs') queue message. */
export const base64Json = (value: unknown): string => base64(JSON.stringify(value));

/** `length` random lowercase letters and digits: valid in every queue and table name. */
export function freshSuffix(length = 8): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}

/**
 * Queue and table names (and a Sendmode account, i.e. limiter partition) for one app instance
 * set, unique to this call: the settings that name them, as the app reads them.
 */
export function freshAppNames(suffix = freshSuffix()): Record<string, string> {
  return {
    SENDMODE_ACCOUNT_NAME: `acct${suffix}`,
    IMPORT_QUEUE_NAME: `imports-${suffix}`,
    OPT_OUT_QUEUE_NAME: `optouts-${suffix}`,
    SEND_QUEUE_NAME: `outbox-${suffix}`,
    EVENT_QUEUE_NAME: `events-${suffix}`,
    SEND_STATUS_TABLE_NAME: `status${suffix}`,
    SUPPRESSION_TABLE_NAME: `optouts${suffix}`,
    DELIVERY_TABLE_NAME: `deliveries${suffix}`,
    SUBSCRIPTION_TABLE_NAME: `subscriptions${suffix}`,
  };
}
