/**
 * The arithmetic of the shared limit, pure and storage-free: a log of entries, each occupying a
 * moment or a short interval of time, and the rule that no rolling window of `spanMs` may touch
 * more than a given number of them.
 *
 * - `i` / `b`: an admission (interactive / background) at one moment: the call was made then.
 * - `r` / `q`: a reservation for background work at `at` (`q`: a queued send's, which goes before
 *   other background work; `r`: anything else's). Its holder may call at any moment in
 *   `[at, at + toleranceMs]` (queue messages come back a little late), so it occupies that whole
 *   interval until it is claimed (then it becomes a `b` at the claim's moment, inside the
 *   interval) or goes stale (`at + toleranceMs` passed unclaimed; nobody may use it any more).
 *
 * Window W(x) = (x, x + span]. An entry occupying [start, end] counts in W(x) when
 * start <= x + span and end > x; for a moment (start = end = t) that is the usual x < t <= x + span.
 */
export type EntryKind = 'i' | 'b' | 'r' | 'q';

export function isReservation(entry: Entry): boolean {
  return entry.kind === 'r' || entry.kind === 'q';
}

export interface Entry {
  at: number;
  kind: EntryKind;
}

export interface WindowShape {
  /** The window plus the safety margin (ms). */
  spanMs: number;
  /** How late a reservation's holder may come and still use it (ms). */
  toleranceMs: number;
}

export function endOf(entry: Entry, shape: WindowShape): number {
  return isReservation(entry) ? entry.at + shape.toleranceMs : entry.at;
}

/** Drops entries no window from `now` on can count, and reservations too late to be claimed. */
export function prune(entries: Entry[], now: number, shape: WindowShape): Entry[] {
  return entries.filter((e) =>
    isReservation(e) ? e.at + shape.toleranceMs >= now : e.at > now - shape.spanMs,
  );
}

/** Index of the first element of ascending `values` greater than `x`. */
function upperBound(values: number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Starts and ends of the entries, each ascending, for counting windows by binary search. */
class Occupancy {
  private readonly starts: number[];
  private readonly ends: number[];

  constructor(
    entries: Entry[],
    private readonly shape: WindowShape,
  ) {
    this.starts = entries.map((e) => e.at).sort((a, b) => a - b);
    this.ends = entries.map((e) => endOf(e, shape)).sort((a, b) => a - b);
  }

  /** Entries counted in W(x). */
  countAt(x: number): number {
    return upperBound(this.starts, x + this.shape.spanMs) - upperBound(this.ends, x);
  }

  /** The fullest window that an entry occupying [start, end] would fall in. */
  peakOver(start: number, end: number): number {
    const span = this.shape.spanMs;
    // The count only rises where a window's end reaches an entry's start, so the peak over
    // x in [start - span, end) is at its left edge or at one of those points.
    let peak = this.countAt(start - span);
    for (let k = upperBound(this.starts, start); k < this.starts.length; k++) {
      const s = this.starts[k] as number;
      if (s - span >= end) break;
      peak = Math.max(peak, this.countAt(s - span));
    }
    return peak;
  }

  /** Moments from which a window no longer counts some entry, ascending. */
  freeingTimes(): number[] {
    return this.ends.map((end) => end + this.shape.spanMs);
  }
}

/** Whether one more entry occupying [start, end] keeps every window at or under `capacity`. */
export function fits(
  entries: Entry[],
  start: number,
  end: number,
  capacity: number,
  shape: WindowShape,
): boolean {
  return new Occupancy(entries, shape).peakOver(start, end) < capacity;
}

/**
 * The earliest moment at or after `from` at which an entry occupying [t, t + length] fits under
 * `capacity`. Room only ever appears when a window stops counting an entry, so the candidates
 * are `from` and those moments. Always found: after every entry has left, the log is empty.
 */
export function earliestFit(
  entries: Entry[],
  from: number,
  length: number,
  capacity: number,
  shape: WindowShape,
): number {
  const occupancy = new Occupancy(entries, shape);
  const candidates = [from, ...occupancy.freeingTimes().filter((t) => t > from)];
  for (const t of candidates) {
    if (occupancy.peakOver(t, t + length) < capacity) return t;
  }
  // Unreachable with capacity >= 1: the last freeing time leaves every window empty.
  return candidates.at(-1) as number;
}

/** The next moment after `now` at which a window stops counting some entry, if any. */
export function nextFreeing(entries: Entry[], now: number, shape: WindowShape): number | undefined {
  return new Occupancy(entries, shape).freeingTimes().find((t) => t > now);
}

/** The fullest window a call made at `now` would fall in. */
export function peakAt(entries: Entry[], now: number, shape: WindowShape): number {
  return new Occupancy(entries, shape).peakOver(now, now);
}

/** Admissions of each class the window ending at `now` counts, and reservations not yet used. */
export function census(
  entries: Entry[],
  now: number,
  shape: WindowShape,
): { admitted: { interactive: number; background: number }; reservedAhead: number } {
  let interactive = 0;
  let background = 0;
  let reservedAhead = 0;
  for (const e of entries) {
    if (isReservation(e)) reservedAhead++;
    else if (e.at > now - shape.spanMs) {
      if (e.kind === 'i') interactive++;
      else background++;
    }
  }
  return { admitted: { interactive, background }, reservedAhead };
}
