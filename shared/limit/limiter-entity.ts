/**
 * How the rate limiter's sliding log is stored: one Table Storage entity per Sendmode account
 * (PartitionKey = account name, RowKey = `sliding-log`) holding `times` (JSON array of ms,
 * ascending), `kinds` (one letter per time: i = interactive, b = background, r = reservation,
 * q = a queued send's reservation), `tail` and `sendTail` (where the lines of deferred background
 * work and of deferred queued sends end, ms; 0 when none).
 *
 * A log written before classes existed has no `kinds`: its times count as interactive; one
 * written before the lines existed has no `tail` or `sendTail`: 0.
 */
import { DependencyUnavailableError } from '../errors.js';
import type { LogView } from './admission-policy.js';
import type { Entry, EntryKind } from './sliding-log.js';

export const RATE_LIMIT_ROW_KEY = 'sliding-log';

/** Table Storage string properties hold at most 64 KiB (32 K UTF-16 characters). */
const MAX_LOG_CHARS = 32 * 1024;
const KINDS = new Set<string>(['i', 'b', 'r', 'q']);

export interface LogEntity {
  partitionKey: string;
  rowKey: string;
  /** JSON array of entry times (ms since the epoch), ascending. */
  times: string;
  /** One letter per time: i, b, r or q. */
  kinds: string;
  /** ms since the epoch; 0 when no background work is lined up. */
  tail: number;
  /** ms since the epoch; 0 when no queued send is lined up. */
  sendTail: number;
}

/** The log entity as read: any of its properties may be missing, or not what was written. */
export type StoredLog = Partial<Record<'times' | 'kinds' | 'tail' | 'sendTail', unknown>>;

/**
 * The entity that stores `log` for `account`, its entries in time order. Throws
 * DependencyUnavailableError (configuration) when the log is too large for one entity.
 */
export function encodeLog(account: string, log: LogView): LogEntity {
  const sorted = [...log.entries].sort((a, b) => a.at - b.at);
  const times = JSON.stringify(sorted.map((e) => e.at));
  if (times.length > MAX_LOG_CHARS) {
    throw new DependencyUnavailableError(
      'configuration',
      `RATE_LIMIT_MAX_CALLS is too large for one log entity (${times.length} characters).`,
    );
  }
  return {
    partitionKey: account,
    rowKey: RATE_LIMIT_ROW_KEY,
    times,
    kinds: sorted.map((e) => e.kind).join(''),
    tail: log.tail,
    sendTail: log.sendTail,
  };
}

/** The stored log, or undefined when its entries cannot be read (the limiter then fails closed). */
export function decodeLog(entity: StoredLog): LogView | undefined {
  const entries = parseLog(entity.times, entity.kinds);
  if (!entries) return undefined;
  return { entries, tail: moment(entity.tail), sendTail: moment(entity.sendTail) };
}

/** A stored moment (ms), or 0 when absent or not a number (a log written before it existed). */
function moment(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** The stored log as entries, or undefined when it is not one. */
function parseLog(times: unknown, kinds: unknown): Entry[] | undefined {
  if (times === undefined) return [];
  if (typeof times !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(times);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((t) => Number.isFinite(t))) return undefined;
  const letters = kinds === undefined ? 'i'.repeat(parsed.length) : kinds;
  if (typeof letters !== 'string' || letters.length !== parsed.length) return undefined;
  if (![...letters].every((k) => KINDS.has(k))) return undefined;
  return (parsed as number[]).map((at, index) => ({ at, kind: letters[index] as EntryKind }));
}
