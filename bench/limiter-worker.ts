/**
 * One process of the limiter benchmark (bench/limiter.bench.ts), run as
 * `node --import tsx bench/limiter-worker.ts` with AzureWebJobsStorage in the environment.
 *
 * It reads one JSON command per line on stdin and answers one JSON line on stdout:
 *   `{"callers":N,"account":"...","startAt":ms,"warmupMs":ms,"durationMs":ms}` runs N concurrent
 *   callers from startAt; each alternates one `RateLimiter.tryAcquire()` on `account` with one
 *   raw Table read + conditional write pair (getEntity, then updateEntity with the ETag read, on
 *   a row of its own, so the pair never conflicts), swapping which goes first every round. Times
 *   of both are kept after warmupMs, until durationMs. The answer holds every sample and the
 *   limiter's counters for the run.
 * It prints `{"ready":true}` once the table client is warm, and exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import type { TableClient } from '@azure/data-tables';

import { RateLimiter, type RateLimiterStats } from '../shared/limit/rate-limiter.js';
import { parseSettings } from '../shared/settings.js';
import { createTableClient, ensureTable } from '../shared/storage/table-storage.js';

export interface LatencyCommand {
  callers: number;
  account: string;
  startAt: number;
  warmupMs: number;
  durationMs: number;
  /** RateLimiter options: set so that no caller is ever refused. */
  maxCalls: number;
  windowMs: number;
}

export interface LatencyAnswer {
  pid: number;
  /** tryAcquire() times (ms), after the warm-up. */
  decisions: number[];
  /** getEntity + conditional updateEntity times (ms), after the warm-up. */
  raw: number[];
  /** Counter deltas of the limiter over the whole run (warm-up included). */
  stats: RateLimiterStats;
  /** Decisions that were refused (should be 0: the limit is set out of reach). */
  refused: number;
  /** Decisions that failed closed (conflicts beyond the bound, storage trouble): what became 503. */
  failed: number;
  /** How long the failed decisions took (ms). */
  failedMs: number[];
  /** Failure messages with their count. */
  failures: Record<string, number>;
  /** Entries in the stored log at the end. */
  logLength: number;
}

export const BENCH_TABLE = 'benchlimits';
const RAW_PARTITION = 'bench-raw';
/**
 * The raw row carries a log-sized property: 100 times, the production default's longest log and
 * about what the limiter's log holds at 1 caller here (~80-100 entries in its 100 ms window).
 */
const RAW_TIMES = JSON.stringify(Array.from({ length: 100 }, (_, i) => Date.now() + i));

async function runCommand(table: TableClient, command: LatencyCommand): Promise<LatencyAnswer> {
  const limiter = new RateLimiter(table, {
    maxCalls: command.maxCalls,
    windowMs: command.windowMs,
    safetyMarginMs: 0,
    account: command.account,
  });
  const rows = Array.from({ length: command.callers }, (_, i) => `p${process.pid}-${i}`);
  await Promise.all(
    rows.map((rowKey) =>
      table.upsertEntity({ partitionKey: RAW_PARTITION, rowKey, times: RAW_TIMES }, 'Replace'),
    ),
  );
  const answer: LatencyAnswer = {
    pid: process.pid,
    decisions: [],
    raw: [],
    stats: limiter.stats(),
    refused: 0,
    failed: 0,
    failedMs: [],
    failures: {},
    logLength: 0,
  };
  await sleep(Math.max(0, command.startAt - Date.now()));
  const keepFrom = command.startAt + command.warmupMs;
  const endAt = command.startAt + command.durationMs;

  async function decision(): Promise<void> {
    const started = performance.now();
    try {
      const admission = await limiter.tryAcquire();
      if (!admission.admitted) answer.refused++;
    } catch (error) {
      // Fail closed: conflicts beyond the bound (or storage trouble) end the decision with no
      // admission, which the app answers with 503. Counted, and timed apart.
      answer.failed++;
      answer.failedMs.push(performance.now() - started);
      answer.failures[String(error instanceof Error ? error.message : error)] =
        (answer.failures[String(error instanceof Error ? error.message : error)] ?? 0) + 1;
      return;
    }
    const elapsed = performance.now() - started;
    if (Date.now() >= keepFrom) answer.decisions.push(elapsed);
  }
  async function rawPair(rowKey: string): Promise<void> {
    const started = performance.now();
    const entity = await table.getEntity<{ times: string }>(RAW_PARTITION, rowKey);
    await table.updateEntity(
      { partitionKey: RAW_PARTITION, rowKey, times: entity.times },
      'Replace',
      { etag: entity.etag },
    );
    const elapsed = performance.now() - started;
    if (Date.now() >= keepFrom) answer.raw.push(elapsed);
  }

  await Promise.all(
    rows.map(async (rowKey) => {
      for (let round = 0; Date.now() < endAt; round++) {
        if (round % 2 === 0) {
          await decision();
          await rawPair(rowKey);
        } else {
          await rawPair(rowKey);
          await decision();
        }
      }
    }),
  );
  answer.stats = limiter.stats();
  const log = await table.getEntity<{ times: string }>(command.account, 'sliding-log');
  answer.logLength = (JSON.parse(log.times) as unknown[]).length;
  return answer;
}

const settings = parseSettings({ AzureWebJobsStorage: process.env.AzureWebJobsStorage });
const table = await createTableClient(settings, BENCH_TABLE);
await ensureTable(table);
// Warm the client's pipeline and connection before anything is timed.
for (let i = 0; i < 20; i++) {
  await table.upsertEntity({ partitionKey: RAW_PARTITION, rowKey: `warm-${process.pid}` });
}
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const answer = await runCommand(table, JSON.parse(line) as LatencyCommand);
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
