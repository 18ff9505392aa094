/**
 * One app instance for the multi-process limit test (test/limit-multiprocess.test.ts) and the
 * limiter benchmark: many concurrent callers in this process, each calling the exported
 * `checkCredits` handler with a real HttpRequest / InvocationContext, so every call takes the
 * app's own path: API key → shared limiter (Azurite) → undici client → the Sendmode simulator.
 *
 * Run as `node --import tsx test/helpers/limit-worker.ts` with the app's settings in the
 * environment (SENDMODE_BASE_URL, SENDMODE_API_KEY, AzureWebJobsStorage, SENDMODE_ACCOUNT_NAME,
 * RATE_LIMIT_*), plus:
 *   LIMIT_WORKER_CALLERS      concurrent callers (default 8)
 *   LIMIT_WORKER_DURATION_MS  how long callers start new calls (default 10000)
 *   LIMIT_WORKER_ON_429       what a caller does after a 429 (default `jitter`):
 *     `jitter`            sleep 20–100 ms at random, then call again;
 *     `retry-after-wait`  sleep Retry-After minus RATE_LIMIT_MAX_WAIT_SECONDS seconds (never
 *                         less than 0), plus 0–20 ms, then call again, letting the app wait for
 *                         the rest inside the request. Retry-After is rounded up, so after that
 *                         sleep the slot frees within the app's wait.
 *
 * Protocol on stdout, one JSON object per line: `{"ready":true}` once loaded; then it reads one
 * line from stdin, the start time (ms since the epoch), sleeps until then, runs the callers for
 * the duration and prints the summary (`WorkerSummary`) before exiting.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import functions, { type HttpResponseInit } from '@azure/functions';

import { rateLimiterFromSettings, type RateLimiterStats } from '../../shared/limit/rate-limiter.js';
import { getServices, resetServices } from '../../shared/services.js';
import { resetSettings } from '../../shared/settings.js';

export interface WorkerSummary {
  pid: number;
  callers: number;
  /** Answers 200: each one is exactly one upstream call. */
  admitted: number;
  /** Answers 429 (the shared limit; no upstream call). */
  rateLimited: number;
  /** Answers 503 (storage or another dependency unavailable). */
  unavailable: number;
  /** Anything else. */
  other: number;
  /** Every status answered, with its count. */
  statuses: Record<string, number>;
  /** Retry-After values of the 429s (seconds), with their count. */
  retryAfter: Record<string, number>;
  /** The times the limiter recorded for this process's admissions (its clock, Date.now()). */
  admittedAt: number[];
  /** The process's limiter counters (conflict retries, reads, writes, ...). */
  limiter: RateLimiterStats;
  /** When callers began and stopped starting calls (ms since the epoch). */
  startedAt: number;
  endedAt: number;
  /** Handler latency of admitted calls (ms), p50 / p99. */
  admittedLatencyMs: { p50: number; p99: number };
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number.`);
  return value;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function header(response: HttpResponseInit, name: string): string | undefined {
  return (response.headers as Record<string, string> | undefined)?.[name];
}

function emit(value: unknown): Promise<void> {
  return new Promise((resolve) =>
    process.stdout.write(`${JSON.stringify(value)}\n`, () => resolve()),
  );
}

const callers = intEnv('LIMIT_WORKER_CALLERS', 8);
const durationMs = intEnv('LIMIT_WORKER_DURATION_MS', 10_000);
const maxWaitSeconds = intEnv('RATE_LIMIT_MAX_WAIT_SECONDS', 0);
const on429 = process.env.LIMIT_WORKER_ON_429 ?? 'jitter';
if (on429 !== 'jitter' && on429 !== 'retry-after-wait') {
  throw new Error('LIMIT_WORKER_ON_429 must be jitter or retry-after-wait.');
}

// Outside the Functions host, @azure/functions warns when a function registers: noise here.
const warn = console.warn;
console.warn = () => undefined;
const { checkCredits } = await import('../../functions/check-credits.js');
console.warn = warn;
// Node's ESM loader does not see these as named exports of the CommonJS @azure/functions.
const { HttpRequest, InvocationContext } = functions;
const noLog = () => undefined;

// Warm the whole path up first (module code, the Table Storage SDK pipeline, the HTTP client),
// on an account of this process's own so no slot of the shared limit is taken. A test scales
// the window down 30 times but not a cold process's first-call delay between admission and
// arrival (~200–350 ms seen here), which the production margin of one second is there to cover
// and a scaled-down margin is not. The parent clears the simulator's record after the warm-up.
const account = process.env.SENDMODE_ACCOUNT_NAME ?? 'default';
await useAccount(`warmup-${process.pid}`);
for (let round = 0; round < 3; round++) {
  await Promise.all(Array.from({ length: callers }, () => call()));
}
await useAccount(account);
const { settings } = await getServices();
const limiter = await rateLimiterFromSettings(settings);
// Watch (not change) the limiter the app uses: keep the time each admission was recorded as.
const admittedAt: number[] = [];
const tryAcquire = limiter.tryAcquire.bind(limiter);
limiter.tryAcquire = async () => {
  const admission = await tryAcquire();
  if (admission.admitted) admittedAt.push(admission.at);
  return admission;
};

async function useAccount(name: string): Promise<void> {
  process.env.SENDMODE_ACCOUNT_NAME = name;
  resetSettings();
  await resetServices();
  await getServices();
}

function call(index = 0, n = 0): Promise<HttpResponseInit> {
  const request = new HttpRequest({ method: 'GET', url: 'http://localhost/api/credits' });
  const context = new InvocationContext({
    functionName: 'check-credits',
    invocationId: `w${process.pid}-${index}-${n}`,
    logHandler: noLog,
  });
  return checkCredits(request, context);
}

await emit({ ready: true });
const lines = createInterface({ input: process.stdin });
const [line] = (await once(lines, 'line')) as [string];
lines.close();
process.stdin.destroy();
const startAt = Number(line);
if (!Number.isFinite(startAt)) throw new Error(`Expected a start time on stdin, got ${line}.`);
await sleep(Math.max(0, startAt - Date.now()));

const summary: WorkerSummary = {
  pid: process.pid,
  callers,
  admitted: 0,
  rateLimited: 0,
  unavailable: 0,
  other: 0,
  statuses: {},
  retryAfter: {},
  admittedAt,
  limiter: limiter.stats(),
  startedAt: Date.now(),
  endedAt: 0,
  admittedLatencyMs: { p50: NaN, p99: NaN },
};
const latencies: number[] = [];
const endAt = summary.startedAt + durationMs;

async function caller(index: number): Promise<void> {
  for (let n = 0; Date.now() < endAt; n++) {
    const started = performance.now();
    const response = await call(index, n);
    const status = response.status ?? 200;
    summary.statuses[status] = (summary.statuses[status] ?? 0) + 1;
    if (status === 200) {
      summary.admitted++;
      latencies.push(performance.now() - started);
      continue; // straight back for another slot
    }
    if (status === 429) {
      summary.rateLimited++;
      const retryAfter = Number(header(response, 'retry-after'));
      summary.retryAfter[retryAfter] = (summary.retryAfter[retryAfter] ?? 0) + 1;
      if (on429 === 'retry-after-wait' && Number.isFinite(retryAfter)) {
        await sleep(Math.max(0, retryAfter - maxWaitSeconds) * 1000 + Math.random() * 20);
      } else {
        await sleep(20 + Math.random() * 80);
      }
      continue;
    }
    if (status === 503) summary.unavailable++;
    else summary.other++;
    await sleep(100);
  }
}

await Promise.all(Array.from({ length: callers }, (_, i) => caller(i)));
summary.endedAt = Date.now();
summary.limiter = limiter.stats();
summary.admittedLatencyMs = { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
await resetServices();
await emit(summary);
process.exit(0);
