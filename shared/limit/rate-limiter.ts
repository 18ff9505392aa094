/**
 * The one shared Sendmode call limit: at most `maxCalls` admissions in any rolling window, across
 * every instance of the app, kept exactly as a sliding log in Azure Table Storage.
 *
 * One entity per Sendmode account (PartitionKey = account name, RowKey = `sliding-log`) holds the
 * times of the latest admissions, oldest first. A decision reads the log, drops the times that
 * left the window (`windowMs + safetyMarginMs`), and when fewer than `maxCalls` remain appends the
 * new time(s) with a write conditioned on the ETag it read (412 → re-read and re-decide; a missing
 * log is created with `createEntity`, 409 → re-read). A slot is recorded before the call and never
 * given back. Exact across instances because every admission is one linearised write of the log.
 *
 * In one process, concurrent callers are batched: one read + one conditional write admits as many
 * of the waiting callers as there are free slots, so conflicts grow with the number of instances,
 * not with the number of callers. The last log this process read or wrote is kept with its ETag;
 * when it shows a free slot the decision writes straight away (one round trip), and a 412 just
 * means another instance wrote in between.
 *
 * Fail closed: any storage failure, and conflicts beyond `maxConflictRetries`, end in a
 * DependencyUnavailableError and no admission; never an unmetered call.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableClient } from '@azure/data-tables';
import { AppError, DependencyUnavailableError, RateLimitedError } from '../errors.js';
import type { Settings } from '../settings.js';
import { describeStorageError } from '../storage/storage-account.js';
import {
  createTableClient,
  ensureTable,
  hasStatus,
  storageErrorCode,
} from '../storage/table-storage.js';

export interface RateLimiterOptions {
  /** RATE_LIMIT_MAX_CALLS. */
  maxCalls: number;
  /** RATE_LIMIT_WINDOW_SECONDS * 1000. */
  windowMs: number;
  /** RATE_LIMIT_SAFETY_MARGIN_MS: widens the window (clock skew + admission-to-arrival delay). */
  safetyMarginMs: number;
  /** SENDMODE_ACCOUNT_NAME: the PartitionKey; never the API key. */
  account: string;
  /** Bound on re-reads after ETag conflicts in one decision (default 20). */
  maxConflictRetries?: number;
  /** Time limit for one storage operation, SDK retries included (default 5000 ms). */
  operationTimeoutMs?: number;
  /** Injectable clock for tests (ms since the epoch). */
  now?: () => number;
}

export type Admission = { admitted: true; at: number } | { admitted: false; retryAfterMs: number };

export interface RateLimiterStats {
  /** Re-decisions forced by a 412/409 (someone else wrote the log first). */
  conflictRetries: number;
  /** Of those, writes made from this process's cached log that turned out stale. */
  staleCacheConflicts: number;
  admissions: number;
  denials: number;
  reads: number;
  writes: number;
}

export const RATE_LIMIT_ROW_KEY = 'sliding-log';

/** Table Storage string properties hold at most 64 KiB (32 K UTF-16 characters). */
const MAX_LOG_CHARS = 32 * 1024;
const CONFLICT_BACKOFF_START_MS = 5;
const CONFLICT_BACKOFF_CAP_MS = 200;
const CONFLICTS_EXHAUSTED_RETRY_MS = 2_000;
const STORAGE_FAILURE_RETRY_MS = 5_000;
const WAIT_JITTER_MS = 25;
/** After a stale cached write, skip the cache for this many decisions, doubling up to the cap. */
const CACHE_PENALTY_CAP = 16;

interface LogEntity {
  partitionKey: string;
  rowKey: string;
  /** JSON array of admission times (ms since the epoch), oldest first. */
  times: string;
}

interface LogState {
  /** Admission times, ascending. */
  times: number[];
  /** ETag of the stored log; undefined when it does not exist yet. */
  etag: string | undefined;
  /** The stored log could not be parsed: it is replaced by a full log (fail closed, self-heal). */
  corrupt?: boolean;
}

interface Waiter {
  resolve(admission: Admission): void;
  reject(error: unknown): void;
}

function jittered(ms: number): number {
  return ms / 2 + Math.random() * (ms / 2);
}

/** A storage failure as a value without secrets: status and code only, never URLs or bodies. */
function storageUnavailable(error: unknown, timeoutMs: number): DependencyUnavailableError {
  if (error instanceof AppError) {
    return error instanceof DependencyUnavailableError
      ? error
      : new DependencyUnavailableError('table-storage', error.message, STORAGE_FAILURE_RETRY_MS);
  }
  const name = error instanceof Error ? error.name : '';
  if (name === 'AbortError' || name === 'TimeoutError') {
    return new DependencyUnavailableError(
      'table-storage',
      `Table Storage did not answer within ${timeoutMs} ms.`,
      STORAGE_FAILURE_RETRY_MS,
    );
  }
  return new DependencyUnavailableError(
    'table-storage',
    `Table Storage is unavailable (${describeStorageError(error)}).`,
    STORAGE_FAILURE_RETRY_MS,
  );
}

export class RateLimiter {
  private readonly maxCalls: number;
  private readonly spanMs: number;
  private readonly account: string;
  private readonly maxConflictRetries: number;
  private readonly operationTimeoutMs: number;
  private readonly now: () => number;

  private readonly queue: Waiter[] = [];
  private pumping = false;
  /** The latest log this process read or wrote, with its ETag. */
  private cached: LogState | undefined;
  private cacheSkips = 0;
  private cachePenalty = 1;
  private readonly counters: RateLimiterStats = {
    conflictRetries: 0,
    staleCacheConflicts: 0,
    admissions: 0,
    denials: 0,
    reads: 0,
    writes: 0,
  };

  constructor(
    private readonly table: TableClient,
    options: RateLimiterOptions,
  ) {
    if (!Number.isInteger(options.maxCalls) || options.maxCalls < 1) {
      throw new RangeError('maxCalls must be a positive integer.');
    }
    if (!(options.windowMs > 0) || !(options.safetyMarginMs >= 0)) {
      throw new RangeError('windowMs must be positive and safetyMarginMs not negative.');
    }
    this.maxCalls = options.maxCalls;
    this.spanMs = options.windowMs + options.safetyMarginMs;
    this.account = options.account;
    this.maxConflictRetries = options.maxConflictRetries ?? 20;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** One decision: admitted (a slot is now recorded) or not, with the wait until a slot frees. */
  tryAcquire(): Promise<Admission> {
    return new Promise<Admission>((resolve, reject) => {
      this.queue.push({ resolve, reject });
      if (!this.pumping) {
        this.pumping = true;
        // Let callers arriving in the same tick join the first batch.
        queueMicrotask(() => void this.pump());
      }
    });
  }

  /**
   * Waits for a slot up to `maxWaitMs` in total, sleeping until the oldest slot frees (plus a
   * little jitter). Throws RateLimitedError when no slot can free within the wait, at once when
   * the log already says so.
   */
  async acquire(maxWaitMs: number): Promise<void> {
    const deadline = performance.now() + Math.max(0, maxWaitMs);
    for (;;) {
      const admission = await this.tryAcquire();
      if (admission.admitted) return;
      const remaining = deadline - performance.now();
      if (admission.retryAfterMs > remaining) throw new RateLimitedError(admission.retryAfterMs);
      await sleep(Math.min(remaining, admission.retryAfterMs + Math.random() * WAIT_JITTER_MS));
    }
  }

  stats(): RateLimiterStats {
    return { ...this.counters };
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        try {
          await this.decide(batch);
        } catch (error) {
          const failure = storageUnavailable(error, this.operationTimeoutMs);
          for (const waiter of batch) waiter.reject(failure);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Admits as many of `batch` as there are free slots (in order); denies the rest. */
  private async decide(batch: Waiter[]): Promise<void> {
    await ensureTable(this.table, { abortSignal: this.signal() });
    let conflicts = 0;
    let state = this.useCache() ? this.cached : undefined;
    let fromCache = state !== undefined;

    for (;;) {
      if (!state) {
        state = await this.read();
        this.cached = state;
        fromCache = false;
      }
      const now = this.now();
      const horizon = now - this.spanMs;
      const live = state.times.filter((t) => t > horizon);
      const free = Math.max(0, this.maxCalls - live.length);

      if (free === 0 && fromCache) {
        state = undefined; // the cache may be behind: deny only on a fresh read
        continue;
      }
      const admitCount = Math.min(free, batch.length);
      let log = live;
      let at = now;
      if (admitCount > 0 || state.corrupt) {
        // Recorded as max(now, newest) so the log stays sorted even across skewed clocks.
        at = Math.max(now, live.at(-1) ?? now);
        log = live.concat(Array.from({ length: admitCount }, () => at));
        try {
          const etag = await this.write(log, state.etag);
          // Without an ETag in the answer the next decision simply reads first.
          this.cached = etag ? { times: log, etag } : undefined;
          if (fromCache) this.cachePenalty = 1;
        } catch (error) {
          state = undefined;
          this.cached = undefined;
          if (hasStatus(error, 404) && storageErrorCode(error) === 'TableNotFound') {
            await ensureTable(this.table, { recheck: true, abortSignal: this.signal() });
          } else if (!(hasStatus(error, 412) || hasStatus(error, 409) || hasStatus(error, 404))) {
            throw error; // 404 without TableNotFound: the log was deleted; re-read creates it
          }
          this.counters.conflictRetries++;
          if (fromCache) {
            this.counters.staleCacheConflicts++;
            this.cacheSkips = this.cachePenalty;
            this.cachePenalty = Math.min(CACHE_PENALTY_CAP, this.cachePenalty * 2);
            continue; // another instance wrote since our last look: re-read at once
          }
          if (++conflicts > this.maxConflictRetries) {
            throw new DependencyUnavailableError(
              'table-storage',
              `The rate-limit log stayed contended through ${this.maxConflictRetries} retries.`,
              CONFLICTS_EXHAUSTED_RETRY_MS,
            );
          }
          const backoff = Math.min(
            CONFLICT_BACKOFF_CAP_MS,
            CONFLICT_BACKOFF_START_MS * 2 ** (conflicts - 1),
          );
          await sleep(jittered(backoff));
          continue;
        }
      }

      this.counters.admissions += admitCount;
      this.counters.denials += batch.length - admitCount;
      batch.forEach((waiter, index) => {
        if (index < admitCount) {
          waiter.resolve({ admitted: true, at });
        } else {
          // Full: a slot frees when the entry that keeps the count at maxCalls leaves the window.
          const freeing = log[log.length - this.maxCalls] ?? now;
          waiter.resolve({
            admitted: false,
            retryAfterMs: Math.max(1, Math.ceil(freeing + this.spanMs - now)),
          });
        }
      });
      return;
    }
  }

  private useCache(): boolean {
    if (!this.cached) return false;
    if (this.cacheSkips > 0) {
      this.cacheSkips--;
      return false;
    }
    return true;
  }

  private signal(): AbortSignal {
    return AbortSignal.timeout(this.operationTimeoutMs);
  }

  private async read(): Promise<LogState> {
    this.counters.reads++;
    let entity: { times?: unknown; etag: string };
    try {
      entity = await this.table.getEntity<{ times?: unknown }>(this.account, RATE_LIMIT_ROW_KEY, {
        abortSignal: this.signal(),
      });
    } catch (error) {
      if (hasStatus(error, 404)) {
        if (storageErrorCode(error) === 'TableNotFound') {
          await ensureTable(this.table, { recheck: true, abortSignal: this.signal() });
        }
        return { times: [], etag: undefined };
      }
      throw error;
    }
    const times = parseLog(entity.times);
    if (!times) {
      // Unreadable log: treat it as full from now on (denies for one window, then heals).
      return {
        times: Array.from({ length: this.maxCalls }, () => this.now()),
        etag: entity.etag,
        corrupt: true,
      };
    }
    return { times, etag: entity.etag };
  }

  /** Writes `times` conditioned on `etag` (create when undefined); returns the new ETag. */
  private async write(times: number[], etag: string | undefined): Promise<string | undefined> {
    this.counters.writes++;
    const serialised = JSON.stringify(times);
    if (serialised.length > MAX_LOG_CHARS) {
      throw new DependencyUnavailableError(
        'configuration',
        `RATE_LIMIT_MAX_CALLS is too large for one log entity (${serialised.length} characters).`,
      );
    }
    const entity: LogEntity = {
      partitionKey: this.account,
      rowKey: RATE_LIMIT_ROW_KEY,
      times: serialised,
    };
    if (etag === undefined) {
      return (await this.table.createEntity(entity, { abortSignal: this.signal() })).etag;
    }
    // Never unconditional: the SDK treats a missing ETag as "*" (overwrite whatever is there).
    if (etag === '' || etag === '*') {
      throw new DependencyUnavailableError('table-storage', 'The rate-limit log has no ETag.');
    }
    const response = await this.table.updateEntity(entity, 'Replace', {
      etag,
      abortSignal: this.signal(),
    });
    return response.etag;
  }
}

/** The stored log as ascending numbers, or undefined when it is not one. */
function parseLog(value: unknown): number[] | undefined {
  if (value === undefined) return [];
  if (typeof value !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (!Array.isArray(parsed) || !parsed.every((t) => Number.isFinite(t))) return undefined;
    return (parsed as number[]).sort((a, b) => a - b);
  } catch {
    return undefined;
  }
}

const limiters = new Map<string, Promise<RateLimiter>>();

/** The process's limiter for these settings (memoised: one log cache and one batch queue). */
export function rateLimiterFromSettings(settings: Settings): Promise<RateLimiter> {
  const key = JSON.stringify([
    settings.AzureWebJobsStorage,
    settings.AzureWebJobsStorage__accountName,
    settings.AzureWebJobsStorage__tableServiceUri,
    settings.AzureWebJobsStorage__clientId,
    settings.RATE_LIMIT_TABLE_NAME,
    settings.SENDMODE_ACCOUNT_NAME,
    settings.RATE_LIMIT_MAX_CALLS,
    settings.RATE_LIMIT_WINDOW_SECONDS,
    settings.RATE_LIMIT_SAFETY_MARGIN_MS,
  ]);
  let limiter = limiters.get(key);
  if (!limiter) {
    limiter = createTableClient(settings, settings.RATE_LIMIT_TABLE_NAME).then(
      (table) =>
        new RateLimiter(table, {
          maxCalls: settings.RATE_LIMIT_MAX_CALLS,
          windowMs: settings.RATE_LIMIT_WINDOW_SECONDS * 1000,
          safetyMarginMs: settings.RATE_LIMIT_SAFETY_MARGIN_MS,
          account: settings.SENDMODE_ACCOUNT_NAME,
        }),
    );
    limiters.set(key, limiter);
    limiter.catch(() => limiters.delete(key));
  }
  return limiter;
}
