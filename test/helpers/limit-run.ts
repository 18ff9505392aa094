/**
 * Drives several app instances (test/helpers/limit-worker.ts child processes) against one
 * Azurite table and one Sendmode simulator, and checks the simulator's record of arrivals: the
 * upstream's own view of the shared limit. Used by test/limit-multiprocess.test.ts and
 * bench/limiter.bench.ts.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { Simulator } from '../../tools/sendmode-simulator/types.js';
import type { WorkerSummary } from './limit-worker.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const WORKER = join(HERE, 'limit-worker.ts');

/** Settings a developer's shell could hold that would change what the workers do. */
const APP_SETTINGS = [
  'KEY_VAULT_URI',
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage__clientId',
  'RATE_LIMIT_TABLE_NAME',
];

export interface LimitRunOptions {
  simulator: Simulator;
  apiKey: string;
  storageConnectionString: string;
  /** SENDMODE_ACCOUNT_NAME, the same for every worker (one shared limit). */
  account: string;
  processes: number;
  callersPerProcess: number;
  maxCalls: number;
  windowSeconds: number;
  safetyMarginMs: number;
  maxWaitSeconds: number;
  durationMs: number;
  on429: 'jitter' | 'retry-after-wait';
  /** How long to wait for every worker to load (tsx compiles on the fly). */
  readyTimeoutMs?: number;
}

export interface LimitRunResult {
  summaries: WorkerSummary[];
  /** The agreed start (ms since the epoch, the workers' clock). */
  startAt: number;
  /** Arrival times at the simulator, ascending, converted to the Date.now() clock. */
  arrivals: number[];
  /** Every recorded call was authorised and was a credits call. */
  allAuthorised: boolean;
  /** The times the limiter recorded for every admission, all processes, ascending. */
  admittedAt: number[];
}

/** Lines of JSON from a child's stdout, one at a time. */
function jsonLines(child: ChildProcessWithoutNullStreams): AsyncIterator<string> {
  return createInterface({ input: child.stdout })[Symbol.asyncIterator]();
}

async function nextJson<T>(lines: AsyncIterator<string>, what: string, stderr: () => string) {
  const next = await lines.next();
  if (next.done) throw new Error(`A limit worker ended before ${what}: ${stderr()}`);
  return JSON.parse(next.value) as T;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms waiting for ${what}.`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function runLimitWorkers(options: LimitRunOptions): Promise<LimitRunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of APP_SETTINGS) delete env[name];
  Object.assign(env, {
    SENDMODE_BASE_URL: options.simulator.url,
    SENDMODE_API_KEY: options.apiKey,
    AzureWebJobsStorage: options.storageConnectionString,
    SENDMODE_ACCOUNT_NAME: options.account,
    RATE_LIMIT_MAX_CALLS: String(options.maxCalls),
    RATE_LIMIT_WINDOW_SECONDS: String(options.windowSeconds),
    RATE_LIMIT_SAFETY_MARGIN_MS: String(options.safetyMarginMs),
    RATE_LIMIT_MAX_WAIT_SECONDS: String(options.maxWaitSeconds),
    LIMIT_WORKER_CALLERS: String(options.callersPerProcess),
    LIMIT_WORKER_DURATION_MS: String(options.durationMs),
    LIMIT_WORKER_ON_429: options.on429,
  });

  const children = Array.from({ length: options.processes }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { cwd: ROOT, env });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { child, lines: jsonLines(child), stderr: () => stderr, exited };
  });
  try {
    await withTimeout(
      Promise.all(children.map((c) => nextJson(c.lines, 'it was ready', c.stderr))),
      options.readyTimeoutMs ?? 30_000,
      'the limit workers to load',
    );
    // The workers' warm-up calls (on accounts of their own) are not part of the run.
    options.simulator.reset();
    // Everyone loaded: start together a little later (time to read stdin and wake up).
    const startAt = Date.now() + 250;
    for (const c of children) c.child.stdin.end(`${startAt}\n`);
    const summaries = await withTimeout(
      Promise.all(
        children.map(async (c) => {
          const summary = await nextJson<WorkerSummary>(c.lines, 'its summary', c.stderr);
          const code = await c.exited;
          if (code !== 0) throw new Error(`A limit worker exited with ${code}: ${c.stderr()}`);
          return summary;
        }),
      ),
      options.durationMs + 30_000,
      'the limit workers to finish',
    );
    // The simulator stamps arrivals with performance.timeOrigin + performance.now(); the
    // workers use Date.now(). Both run on this machine's clock; align the small offset.
    const offset = Date.now() - (performance.timeOrigin + performance.now());
    const calls = options.simulator.calls();
    return {
      summaries,
      startAt,
      arrivals: calls.map((c) => c.arrivedAt + offset).sort((a, b) => a - b),
      allAuthorised: calls.every((c) => c.authorized && c.operation === 'credits'),
      admittedAt: summaries.flatMap((s) => s.admittedAt).sort((a, b) => a - b),
    };
  } finally {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    }
  }
}

/**
 * The busiest half-open window [t, t + spanMs) of `times` (ascending): the index of its first
 * time and how many it holds.
 */
export function busiestWindow(
  times: readonly number[],
  spanMs: number,
): { start: number; count: number } {
  let best = { start: 0, count: 0 };
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= spanMs) start++;
    if (end - start + 1 > best.count) best = { start, count: end - start + 1 };
  }
  return best;
}

/** The largest number of `times` (ascending) inside any half-open window [t, t + spanMs). */
export function maxInAnyWindow(times: readonly number[], spanMs: number): number {
  return busiestWindow(times, spanMs).count;
}

/**
 * The shortest time spanned by maxCalls + 1 consecutive `times` (ascending): the limit holds in
 * every rolling window of windowMs exactly when this is at least windowMs. How far above it
 * is the headroom left by the safety margin.
 */
export function shortestSpanOver(times: readonly number[], maxCalls: number): number {
  let best = Infinity;
  for (let i = maxCalls; i < times.length; i++) {
    best = Math.min(best, (times[i] as number) - (times[i - maxCalls] as number));
  }
  return best;
}

/**
 * Admission-to-arrival delays, estimated by pairing the k-th admission with the k-th arrival
 * (both ascending; exact when calls reach the upstream in the order they were admitted, close
 * otherwise). The spread of these is what the safety margin has to cover.
 */
export function pairedDelays(admittedAt: readonly number[], arrivals: readonly number[]): number[] {
  const n = Math.min(admittedAt.length, arrivals.length);
  return Array.from({ length: n }, (_, k) => (arrivals[k] as number) - (admittedAt[k] as number));
}

/** How many of `times` (ascending) lie in [from, to). */
export function countIn(times: readonly number[], from: number, to: number): number {
  return times.filter((t) => t >= from && t < to).length;
}

/**
 * The most admissions any limiter that keeps at most `maxCalls` per span can make in a period of
 * `durationMs` (starting from an empty log): the period is covered by ceil(duration / span)
 * half-open spans, each holding at most `maxCalls`, and bursts at 0, span, 2·span, ... reach it.
 */
export function theoreticalMaximum(maxCalls: number, spanMs: number, durationMs: number): number {
  return maxCalls * Math.ceil(durationMs / spanMs);
}

/**
 * The mean fill of the rolling span, sampled every `stepMs` over [from, to): for each t, the
 * arrivals in [t − spanMs, t) divided by maxCalls, capped at 1 (arrivals lag admissions by a
 * varying few ms, so a span of arrivals can hold a little more than the limiter's span did).
 * Independent of where bursts fall relative to the period's end, unlike a count against the
 * ceil() bound. 1.0 = every span fully used.
 */
export function meanOccupancy(
  times: readonly number[],
  maxCalls: number,
  spanMs: number,
  from: number,
  to: number,
  stepMs = 5,
): number {
  let sum = 0;
  let samples = 0;
  let lo = 0;
  let hi = 0;
  for (let t = from; t < to; t += stepMs) {
    while (hi < times.length && (times[hi] as number) < t) hi++;
    while (lo < hi && (times[lo] as number) < t - spanMs) lo++;
    sum += Math.min(1, (hi - lo) / maxCalls);
    samples++;
  }
  return samples === 0 ? NaN : sum / samples;
}
