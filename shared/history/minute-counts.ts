/**
 * What this instance did in each minute, counted in memory on the path of the work (a few
 * additions, no I/O): the status page's hour of history is made of these, written out once a
 * minute per instance, never on the path of a call.
 */
import type { WorkClass } from '../limit/admission-policy.js';

/** The per-minute figures an instance counts. */
export type MinuteField =
  /** Sendmode calls made, by class of work. */
  | WorkClass
  /** `429`s answered to callers because the shared limit had no slot in time. */
  | 'rateLimited'
  /** Queue messages put back until the shared limit has a slot for them. */
  | 'deferred'
  /** Queue messages parked in a poison queue. */
  | 'poisoned';

export type MinuteCounts = Record<MinuteField, number>;

export const MINUTE_MS = 60_000;
/**
 * Minutes kept while nobody takes them (no writer running): older ones are dropped, so the
 * counts stay a few hundred numbers whatever happens.
 */
export const MAX_KEPT_MINUTES = 180;

/** A finished minute (ms since the epoch at its start) and what was counted in it. */
export interface FinishedMinute {
  minute: number;
  counts: MinuteCounts;
}

export function emptyCounts(): MinuteCounts {
  return { interactive: 0, background: 0, rateLimited: 0, deferred: 0, poisoned: 0 };
}

export function minuteOf(at: number): number {
  return Math.floor(at / MINUTE_MS) * MINUTE_MS;
}

/**
 * One instance's counts by minute. The process has one (`countThisMinute`,
 * `takeFinishedMinutes`); tests make more, to stand for several instances in one process.
 */
export class MinuteCounter {
  /** Counts by minute (ms since the epoch at the minute's start). */
  private readonly minutes = new Map<number, MinuteCounts>();

  /** Adds `n` to the `field` of the minute `now` falls in. */
  count(field: MinuteField, n = 1, now = Date.now()): void {
    const minute = minuteOf(now);
    let counts = this.minutes.get(minute);
    if (!counts) {
      counts = emptyCounts();
      this.minutes.set(minute, counts);
      if (this.minutes.size > MAX_KEPT_MINUTES) {
        this.minutes.delete(Math.min(...this.minutes.keys()));
      }
    }
    counts[field] += n;
  }

  /** Removes and returns the minutes that ended before `now`, oldest first. */
  takeFinished(now = Date.now()): FinishedMinute[] {
    const current = minuteOf(now);
    const finished: FinishedMinute[] = [];
    for (const [minute, counts] of this.minutes) {
      if (minute >= current) continue;
      finished.push({ minute, counts });
      this.minutes.delete(minute);
    }
    return finished.sort((a, b) => a.minute - b.minute);
  }
}

/** This process's counter: what the history writer takes from (shared/history/history-writer.ts). */
export const thisInstance = new MinuteCounter();

/** Adds `n` to this minute's `field`. */
export function countThisMinute(field: MinuteField, n = 1, now = Date.now()): void {
  thisInstance.count(field, n, now);
}

/** Removes and returns the minutes that ended before `now`, oldest first. */
export function takeFinishedMinutes(now = Date.now()): FinishedMinute[] {
  return thisInstance.takeFinished(now);
}
