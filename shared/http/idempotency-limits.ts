/**
 * The idempotency store's timing, in a module of its own so the settings (which load nothing
 * heavy) and the store share one number and cannot drift apart.
 */

/** A claim older than this is abandoned (its process died): well past the 5-minute function time-out. */
export const IN_FLIGHT_STALE_MS = 10 * 60_000;

/**
 * The shortest `IDEMPOTENCY_TTL_SECONDS`: five minutes past the in-flight guard, so a claim still
 * in flight never expires (to be taken over, sending twice) nor is purged by housekeeping.
 */
export const MIN_IDEMPOTENCY_TTL_SECONDS = IN_FLIGHT_STALE_MS / 1_000 + 5 * 60;
