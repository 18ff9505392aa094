/**
 * The one shared Sendmode call limit: at most `maxCalls` calls in any rolling window, across every
 * instance of the app, kept exactly as a sliding log in Azure Table Storage, and shared between
 * two classes of work (see admission-policy.ts): interactive callers may use the whole allowance;
 * background work leaves `interactiveReserve` of every window to them, and when it meets the
 * limit it is handed a reservation for a future slot instead of a bare "try again later".
 *
 * One entity per Sendmode account holds the log (limiter-entity.ts: how it is stored). A
 * decision reads the log, decides on it in memory, and writes it back conditioned on the ETag
 * it read (412 → re-read and re-decide; a missing log is created with `createEntity`, 409 →
 * re-read). A slot is recorded before the call and never given back. Exact across instances
 * because every change is one linearised write of the log.
 *
 * In one process, concurrent callers are batched: one read + one conditional write decides for
 * every waiting caller, interactive ones first, so conflicts grow with the number of instances,
 * not with the number of callers. The last log this process read or wrote is kept with its
 * ETag; when it admits everyone the decision writes straight away (one round trip), and a 412
 * just means another instance wrote in between. Refusals are only ever made on a fresh read.
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
import { noteAdmitted } from '../telemetry/metrics.js';
import {
  decide as decidePolicy,
  type Decision,
  type Lane,
  type LogView,
  type Outcome,
  type PolicyConfig,
  type SlotRequest,
} from './admission-policy.js';
import { decodeLog, encodeLog, RATE_LIMIT_ROW_KEY, type StoredLog } from './limiter-entity.js';
import { census, earliestFit, type Entry, nextFreeing, peakAt, prune } from './sliding-log.js';

export interface RateLimiterOptions {
  /** RATE_LIMIT_MAX_CALLS. */
  maxCalls: number;
  /** RATE_LIMIT_WINDOW_SECONDS * 1000. */
  windowMs: number;
  /** RATE_LIMIT_SAFETY_MARGIN_MS: widens the window (clock skew + admission-to-arrival delay). */
  safetyMarginMs: number;
  /** RATE_LIMIT_INTERACTIVE_RESERVE: calls of every window background work leaves (default 0). */
  interactiveReserve?: number;
  /** RATE_LIMIT_RESERVATION_TOLERANCE_MS: how late a reservation may still be used (default 3000). */
  reservationToleranceMs?: number;
  /** SENDMODE_ACCOUNT_NAME: the PartitionKey; never the API key. */
  account: string;
  /** Bound on re-reads after ETag conflicts in one decision (default 20). */
  maxConflictRetries?: number;
  /** Time limit for one storage operation, SDK retries included (default 5000 ms). */
  operationTimeoutMs?: number;
  /** Injectable clock for tests (ms since the epoch). */
  now?: () => number;
}

export type { Decision as Admission, Lane, SlotRequest, WorkClass } from './admission-policy.js';

export interface RateLimiterStats {
  /** Re-decisions forced by a 412/409 (someone else wrote the log first). */
  conflictRetries: number;
  /** Of those, writes made from this process's cached log that turned out stale. */
  staleCacheConflicts: number;
  admissions: number;
  denials: number;
  /** Background requests handed a future slot. */
  reservations: number;
  /** Reservations used by their holders. */
  claims: number;
  /** Reservations taken by interactive work because nothing else was free. */
  reservationsTaken: number;
  /** Background requests told to come back later without a reservation (the horizon was full). */
  linedUp: number;
  reads: number;
  writes: number;
}

/** The limiter's window now, as GET /api/status shows it. */
export interface LimitSnapshot {
  maxCalls: number;
  windowSeconds: number;
  interactiveReserve: number;
  admitted: { interactive: number; background: number; total: number };
  reservedAhead: number;
  free: { interactive: number; background: number };
  /** The next moment a window stops counting a call (ms; undefined when the log is empty). */
  nextSlotFreesAt: number | undefined;
  /** Where the line of background work deferred without a reservation ends (ms), if ahead. */
  backgroundLinedUpUntil: number | undefined;
  /** Where the line of queued sends deferred without a reservation ends (ms), if ahead. */
  sendsLinedUpUntil: number | undefined;
  at: number;
}

const CONFLICT_BACKOFF_START_MS = 5;
const CONFLICT_BACKOFF_CAP_MS = 200;
const CONFLICTS_EXHAUSTED_RETRY_MS = 2_000;
const STORAGE_FAILURE_RETRY_MS = 5_000;
const WAIT_JITTER_MS = 25;
/** After a stale cached write, skip the cache for this many decisions, doubling up to the cap. */
const CACHE_PENALTY_CAP = 16;
/**
 * Lined-up background work comes back this long before its turn, and then waits in-process for
 * the slot it reserves (queue work waits up to 2 s: shared/queues/queue-work.ts).
 */
const LINE_LEAD_MS = 1_000;

interface LogState extends LogView {
  /** ETag of the stored log; undefined when it does not exist yet. */
  etag: string | undefined;
  /** The stored log could not be parsed: it is replaced by a full log (fail closed, self-heal). */
  corrupt?: boolean;
}

interface Waiter {
  request: SlotRequest;
  resolve(decision: Decision): void;
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

const INTERACTIVE: SlotRequest = { workClass: 'interactive' };

export class RateLimiter {
  private readonly policy: PolicyConfig;
  private readonly windowMs: number;
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
    reservations: 0,
    claims: 0,
    reservationsTaken: 0,
    linedUp: 0,
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
    const reserve = options.interactiveReserve ?? 0;
    if (!Number.isInteger(reserve) || reserve < 0 || reserve >= options.maxCalls) {
      throw new RangeError('interactiveReserve must be an integer from 0 to maxCalls - 1.');
    }
    const spanMs = options.windowMs + options.safetyMarginMs;
    this.policy = {
      maxCalls: options.maxCalls,
      interactiveReserve: reserve,
      spanMs,
      toleranceMs: Math.max(0, options.reservationToleranceMs ?? 3_000),
      // One window ahead: the log never holds more than about two windows' worth of entries.
      horizonMs: spanMs,
      lineLeadMs: LINE_LEAD_MS,
    };
    this.windowMs = options.windowMs;
    this.account = options.account;
    this.maxConflictRetries = options.maxConflictRetries ?? 20;
    this.operationTimeoutMs = options.operationTimeoutMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * One decision: admitted (a slot is now recorded) or not, with the wait until a slot frees and,
   * for background work, the reservation it now holds for that moment.
   */
  tryAcquire(request: SlotRequest = INTERACTIVE): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.pumping) {
        this.pumping = true;
        // Let callers arriving in the same tick join the first batch.
        queueMicrotask(() => void this.pump());
      }
    });
  }

  /**
   * Waits for a slot up to `maxWaitMs` in total, sleeping until the slot frees (plus a little
   * jitter; a reservation is claimed at its moment exactly). Throws RateLimitedError, carrying
   * any reservation handed out, when no slot can be had within the wait.
   */
  async acquire(maxWaitMs: number, request: SlotRequest = INTERACTIVE): Promise<void> {
    const deadline = performance.now() + Math.max(0, maxWaitMs);
    let current = request;
    for (;;) {
      const decision = await this.tryAcquire(current);
      if (decision.admitted) return;
      const remaining = deadline - performance.now();
      if (decision.retryAfterMs > remaining) {
        throw new RateLimitedError(decision.retryAfterMs, undefined, decision.reservation);
      }
      if (decision.reservation !== undefined) {
        current = { ...current, reservation: decision.reservation };
        await sleep(decision.retryAfterMs);
      } else {
        await sleep(Math.min(remaining, decision.retryAfterMs + Math.random() * WAIT_JITTER_MS));
      }
    }
  }

  stats(): RateLimiterStats {
    return { ...this.counters };
  }

  /** The window as the stored log shows it now: one entity read, no change. */
  async snapshot(): Promise<LimitSnapshot> {
    const state = await this.readUnchanged();
    const now = this.now();
    const entries = prune(state.entries, now, this.policy);
    const counts = census(entries, now, this.policy);
    const { maxCalls, interactiveReserve } = this.policy;
    const occupied = peakAt(entries, now, this.policy);
    return {
      maxCalls,
      windowSeconds: this.windowMs / 1000,
      interactiveReserve,
      admitted: {
        ...counts.admitted,
        total: counts.admitted.interactive + counts.admitted.background,
      },
      reservedAhead: counts.reservedAhead,
      free: {
        interactive: Math.max(0, maxCalls - occupied),
        background: Math.max(0, maxCalls - interactiveReserve - occupied),
      },
      nextSlotFreesAt: nextFreeing(entries, now, this.policy),
      backgroundLinedUpUntil: state.tail > now ? state.tail : undefined,
      sendsLinedUpUntil: state.sendTail > now ? state.sendTail : undefined,
      at: now,
    };
  }

  /**
   * When background work of `lane` that has `ahead` others of its lane before it is expected to
   * be admitted (ms): the log's free background slots in turn (a queued send counts other
   * background work's reservations as free: it may displace them), then one background slot
   * apart. An estimate on the stored log (one read, no write).
   */
  async expectedStart(ahead: number, lane: Lane = 'sends'): Promise<number> {
    const state = await this.readUnchanged();
    const now = this.now();
    const capacity = this.policy.maxCalls - this.policy.interactiveReserve;
    const live = prune(state.entries, now, this.policy);
    const entries = cloneEntries(lane === 'sends' ? live.filter((e) => e.kind !== 'r') : live);
    const reserved = entries.filter((e) => e.kind === (lane === 'sends' ? 'q' : 'r')).length;
    // Those holding reservations are in `entries` already.
    let toPlace = Math.max(0, Math.floor(ahead) - reserved) + 1;
    let at = lane === 'sends' ? now : Math.max(now, state.sendTail);
    for (let placed = 0; toPlace > 0 && placed < 2 * this.policy.maxCalls; placed++, toPlace--) {
      at = earliestFit(entries, at, 0, capacity, this.policy);
      entries.push({ at, kind: 'b' });
    }
    const estimate = at + toPlace * (this.policy.spanMs / capacity);
    // Work lined up beyond the horizon goes no earlier than its line's end.
    const lineEnd = lane === 'sends' ? state.sendTail : state.tail;
    return ahead > reserved && lineEnd > now ? Math.max(estimate, lineEnd) : estimate;
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        // Interactive callers first: they are served before background work in this process.
        const batch = this.queue
          .splice(0)
          .sort((a, b) => priority(a.request) - priority(b.request));
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

  /** Decides for every waiter of `batch` in order, and stores the log they changed. */
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
      const log: LogView = {
        entries: cloneEntries(prune(state.entries, now, this.policy)),
        tail: state.tail,
        sendTail: state.sendTail,
      };
      const results = batch.map((waiter) => decidePolicy(log, waiter.request, now, this.policy));

      const everyoneAdmitted = results.every(
        (r) => r.outcome === 'admitted' || r.outcome === 'claimed',
      );
      if (fromCache && !everyoneAdmitted) {
        state = undefined; // the cache may be behind: refuse or reserve only on a fresh read
        continue;
      }
      const changed = results.some((r) => r.outcome !== 'denied') || state.corrupt;
      if (changed) {
        try {
          const etag = await this.write(log, state.etag);
          // Without an ETag in the answer the next decision simply reads first.
          this.cached = etag ? { ...log, etag } : undefined;
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

      batch.forEach((waiter, index) => {
        const { decision, outcome } = results[index] as (typeof results)[number];
        this.count(outcome);
        waiter.resolve(decision);
      });
      return;
    }
  }

  private count(outcome: Outcome): void {
    const c = this.counters;
    if (outcome === 'admitted' || outcome === 'claimed' || outcome === 'took-reservation') {
      c.admissions++;
      if (outcome === 'claimed') c.claims++;
      if (outcome === 'took-reservation') c.reservationsTaken++;
      return;
    }
    c.denials++;
    if (outcome === 'reserved') c.reservations++;
    if (outcome === 'lined-up') c.linedUp++;
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

  /**
   * The stored log for a look that changes nothing (snapshot, estimate). A storage failure or
   * time-out is a 503 here as on the admission path, never an unexpected error.
   */
  private async readUnchanged(): Promise<LogState> {
    try {
      await ensureTable(this.table, { abortSignal: this.signal() });
      return await this.read();
    } catch (error) {
      throw storageUnavailable(error, this.operationTimeoutMs);
    }
  }

  private async read(): Promise<LogState> {
    this.counters.reads++;
    let entity: StoredLog & { etag: string };
    try {
      entity = await this.table.getEntity<StoredLog>(this.account, RATE_LIMIT_ROW_KEY, {
        abortSignal: this.signal(),
      });
    } catch (error) {
      if (hasStatus(error, 404)) {
        if (storageErrorCode(error) === 'TableNotFound') {
          await ensureTable(this.table, { recheck: true, abortSignal: this.signal() });
        }
        return { entries: [], tail: 0, sendTail: 0, etag: undefined };
      }
      throw error;
    }
    const log = decodeLog(entity);
    if (!log) {
      // Unreadable log: treat it as full from now on (denies for one window, then heals).
      const now = this.now();
      return {
        entries: Array.from({ length: this.policy.maxCalls }, () => ({
          at: now,
          kind: 'i' as const,
        })),
        tail: 0,
        sendTail: 0,
        etag: entity.etag,
        corrupt: true,
      };
    }
    this.noteWindow(log.entries);
    return { ...log, etag: entity.etag };
  }

  /** What the window holds now, for the `sendmode.limit.admitted` gauge. */
  private noteWindow(entries: Entry[]): void {
    const now = this.now();
    noteAdmitted(census(prune(entries, now, this.policy), now, this.policy).admitted);
  }

  /** Writes `log` conditioned on `etag` (create when undefined); returns the new ETag. */
  private async write(log: LogView, etag: string | undefined): Promise<string | undefined> {
    this.counters.writes++;
    this.noteWindow(log.entries);
    const entity = encodeLog(this.account, log);
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

/** Interactive callers first, then queued sends, then other background work. */
function priority(request: SlotRequest): number {
  if (request.workClass === 'interactive') return 0;
  return request.lane === 'sends' ? 1 : 2;
}

function cloneEntries(entries: Entry[]): Entry[] {
  return entries.map((e) => ({ ...e }));
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
    settings.RATE_LIMIT_INTERACTIVE_RESERVE,
    settings.RATE_LIMIT_RESERVATION_TOLERANCE_MS,
  ]);
  let limiter = limiters.get(key);
  if (!limiter) {
    limiter = createTableClient(settings, settings.RATE_LIMIT_TABLE_NAME).then(
      (table) =>
        new RateLimiter(table, {
          maxCalls: settings.RATE_LIMIT_MAX_CALLS,
          windowMs: settings.RATE_LIMIT_WINDOW_SECONDS * 1000,
          safetyMarginMs: settings.RATE_LIMIT_SAFETY_MARGIN_MS,
          interactiveReserve: settings.RATE_LIMIT_INTERACTIVE_RESERVE,
          reservationToleranceMs: settings.RATE_LIMIT_RESERVATION_TOLERANCE_MS,
          account: settings.SENDMODE_ACCOUNT_NAME,
        }),
    );
    limiters.set(key, limiter);
    limiter.catch(() => limiters.delete(key));
  }
  return limiter;
}
