/**
 * Writes this instance's finished minutes to the history table, once a minute, off the path of
 * every call: a timer (unref'd, so it never keeps a process alive) takes the minutes counted in
 * memory (minute-counts.ts), samples the queue depths once, and writes one row for the minute
 * just ended (plus one for any earlier minute still held, e.g. after a late tick). That is one
 * write per minute per instance; a call only ever adds to a number in memory.
 *
 * History is best-effort: a failed write (or depth sample) is logged, without the figures or
 * anything from the storage error but its status and code, and the minute is dropped. Nothing
 * is retried and nothing is thrown, so neither the timer nor any caller ever sees the failure.
 */
import { randomBytes } from 'node:crypto';

import { describeStorageError } from '../storage/storage-account.js';
import type { HistoryRow, QueueDepth } from './history-store.js';
import {
  emptyCounts,
  type FinishedMinute,
  MINUTE_MS,
  minuteOf,
  takeFinishedMinutes,
} from './minute-counts.js';

/** How often the writer looks for finished minutes. */
export const HISTORY_WRITE_INTERVAL_MS = 60_000;

/**
 * The row key of this process's rows: App Service's instance id when there is one, else a
 * random one, then the process id (an instance may run more than one worker process, and each
 * counts its own calls).
 */
export function historyInstanceId(platformId?: string, pid = process.pid): string {
  // Row keys may not hold / \ # ? or control characters; App Service's ids are hex anyway.
  const instance = platformId?.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 200) || randomId;
  return `${instance}-${pid}`;
}

const randomId = `local${randomBytes(6).toString('hex')}`;

export interface HistoryWriterDeps {
  store: { write(row: HistoryRow): Promise<void> };
  /** This instance's row key (historyInstanceId). */
  instance: string;
  /** The main queues' depths and their poison queues' now. */
  sampleDepths(): Promise<Record<string, QueueDepth>>;
  /** Where the counted minutes come from: this process's counter unless a test says otherwise. */
  takeFinished?: (now: number) => FinishedMinute[];
  now?: () => number;
  /** A failed write's line (JSON): console.warn, the host's log, unless a test says otherwise. */
  warn?: (line: string) => void;
}

export class HistoryWriter {
  private timer: ReturnType<typeof setInterval> | undefined;
  private writing: Promise<void> | undefined;
  /** The latest minute a row was written for: a second tick in it writes no empty row again. */
  private lastWritten = -Infinity;
  private readonly takeFinished: (now: number) => FinishedMinute[];
  private readonly now: () => number;
  private readonly warn: (line: string) => void;
  /** When the writer was made: a minute over before then gets no empty row of its own. */
  private readonly since: number;

  constructor(private readonly deps: HistoryWriterDeps) {
    this.takeFinished = deps.takeFinished ?? takeFinishedMinutes;
    this.now = deps.now ?? Date.now;
    this.warn = deps.warn ?? ((line) => console.warn(line));
    this.since = this.now();
  }

  /** Starts the minute timer (once); it never keeps the process alive. */
  start(intervalMs = HISTORY_WRITE_INTERVAL_MS): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Writes the minutes finished by now; never throws. A tick while the last one still writes
   * waits for it instead (its minutes stay counted and go with the next tick).
   */
  tick(): Promise<void> {
    this.writing ??= this.writeFinished().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  private async writeFinished(): Promise<void> {
    const now = this.now();
    const justEnded = minuteOf(now) - MINUTE_MS;
    let finished: FinishedMinute[];
    try {
      finished = this.takeFinished(now);
    } catch {
      return; // nothing to write: the counter is in memory, this cannot really fail
    }
    // The minute just ended always gets a row, for its depths, even when nothing was counted
    // (once, and only if this instance was up for some of it).
    const lived = justEnded + MINUTE_MS > this.since;
    if (lived && justEnded > this.lastWritten && !finished.some((f) => f.minute === justEnded)) {
      finished.push({ minute: justEnded, counts: emptyCounts() });
    }
    if (finished.length === 0) return;
    let queues: Record<string, QueueDepth> | null = null;
    if (finished.some((f) => f.minute === justEnded)) {
      try {
        queues = await this.deps.sampleDepths();
      } catch (error) {
        this.dropped('depths', error); // the counts still go, without depths
      }
    }
    for (const { minute, counts } of finished) {
      try {
        await this.deps.store.write({
          minute,
          instance: this.deps.instance,
          counts,
          // Sampled now: they belong to the minute just ended, not to an earlier one.
          queues: minute === justEnded ? queues : null,
        });
        this.lastWritten = Math.max(this.lastWritten, minute);
      } catch (error) {
        this.dropped('write', error);
      }
    }
  }

  /** Best-effort: one line saying what was dropped; no figures, no URL, no message text. */
  private dropped(what: 'write' | 'depths', error: unknown): void {
    try {
      this.warn(
        JSON.stringify({
          operation: 'history',
          outcome: 'dropped',
          what,
          reason: describeStorageError(error),
        }),
      );
    } catch {
      // a logger that throws must not take the timer with it
    }
  }
}
