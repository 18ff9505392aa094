/**
 * limiter: what the shared rate limit costs and how much of the allowance it uses, on one
 * Azurite started here.
 *
 * 1. Decision latency: `RateLimiter.tryAcquire()` at 1, 8 and 32 concurrent callers (1 caller in
 *    one process; 8 and 32 split evenly over two child processes, `node --import tsx
 *    bench/limiter-worker.ts`, sharing one account's log), each caller alternating a decision
 *    with one raw Table read + conditional write pair (getEntity + updateEntity with the ETag, on
 *    a row of its own) on the same Azurite, so both are measured side by side under the same
 *    load. The limit is out of reach (1000 calls per 100 ms window), so every decision admits:
 *    this times decisions, not waits, and keeps the log about as short as the production
 *    default's (≤ 100 entries). Conflict retries per admission come from `stats()`.
 * 2. Allowance used under saturation: 3 processes × 8 callers of the real `checkCredits` handler
 *    (test/helpers/limit-worker.ts) against the Sendmode simulator, 20 calls per 2 s (+500 ms
 *    margin) for 10 s, counted from the simulator's arrival times (Sendmode's view).
 *
 * `npx tsx bench/limiter.bench.ts` runs it alone and prints the table.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { type Azurite, startAzurite } from '../test/helpers/azurite.js';
import {
  countIn,
  maxInAnyWindow,
  meanOccupancy,
  runLimitWorkers,
  shortestSpanOver,
  theoreticalMaximum,
} from '../test/helpers/limit-run.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { LatencyAnswer, LatencyCommand } from './limiter-worker.js';
import {
  type BenchResult,
  type BenchRow,
  formatMs,
  formatRatio,
  formatTable,
  ratio,
  rounded,
  summarise,
} from './stats.js';

export const name = 'limiter';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');

/** Concurrent callers per level, split over processes. */
const LEVELS: ReadonlyArray<{ callers: number; perProcess: number[] }> = [
  { callers: 1, perProcess: [1] },
  { callers: 8, perProcess: [4, 4] },
  { callers: 32, perProcess: [16, 16] },
];
const LEVEL_WARMUP_MS = 500;
const LEVEL_DURATION_MS = 4_000;
const OUT_OF_REACH = { maxCalls: 1_000, windowMs: 100 };
const RATIO_AIM = 1.5;

const SATURATION = {
  processes: 3,
  callersPerProcess: 8,
  maxCalls: 20,
  windowSeconds: 2,
  /** As in test/limit-multiprocess.test.ts: covers admission-to-arrival delays on a busy host. */
  safetyMarginMs: 500,
  maxWaitSeconds: 1,
  durationMs: 10_000,
};
const ALLOWANCE_AIM = 0.95;

interface Worker {
  send(command: LatencyCommand): Promise<LatencyAnswer>;
  close(): Promise<void>;
}

async function startWorker(connectionString: string): Promise<Worker> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'limiter-worker.ts')], {
    cwd: ROOT,
    env: { ...process.env, AzureWebJobsStorage: connectionString },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
  const exited = new Promise<number | null>((done) => child.once('exit', done));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async <T>(what: string): Promise<T> => {
    const line = await lines.next();
    if (line.done) throw new Error(`limiter worker ended before ${what}: ${stderr}`);
    return JSON.parse(line.value) as T;
  };
  await next<{ ready: true }>('it was ready');
  return {
    async send(command) {
      child.stdin.write(`${JSON.stringify(command)}\n`);
      return next<LatencyAnswer>('its answer');
    },
    async close() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function measureLatency(azurite: Azurite) {
  const workers = await Promise.all([
    startWorker(azurite.connectionString),
    startWorker(azurite.connectionString),
  ]);
  try {
    const levels = [];
    for (const level of LEVELS) {
      const account = `bench-${randomUUID().slice(0, 8)}`;
      const startAt = Date.now() + 200;
      const answers = await Promise.all(
        level.perProcess.map((callers, i) =>
          (workers[i] as Worker).send({
            callers,
            account,
            startAt,
            warmupMs: LEVEL_WARMUP_MS,
            durationMs: LEVEL_DURATION_MS,
            ...OUT_OF_REACH,
          }),
        ),
      );
      const decisions = summarise(answers.flatMap((a) => a.decisions));
      const raw = summarise(answers.flatMap((a) => a.raw));
      const total = (pick: (a: LatencyAnswer) => number) =>
        answers.reduce((sum, a) => sum + pick(a), 0);
      const admissions = total((a) => a.stats.admissions);
      levels.push({
        callers: level.callers,
        processes: level.perProcess.length,
        perProcess: level.perProcess,
        decisionMs: rounded(decisions),
        rawPairMs: rounded(raw),
        ratioP50: ratio(decisions.p50, raw.p50),
        ratioP99: ratio(decisions.p99, raw.p99),
        admissions,
        admissionsPerProcess: answers.map((a) => a.stats.admissions),
        refused: total((a) => a.refused),
        failed: total((a) => a.failed),
        failedPerProcess: answers.map((a) => a.failed),
        failedMs: rounded(summarise(answers.flatMap((a) => a.failedMs))),
        failures: answers.map((a) => a.failures),
        conflictRetries: total((a) => a.stats.conflictRetries),
        staleCacheConflicts: total((a) => a.stats.staleCacheConflicts),
        conflictsPerAdmission: ratio(
          total((a) => a.stats.conflictRetries),
          admissions,
        ),
        reads: total((a) => a.stats.reads),
        writes: total((a) => a.stats.writes),
        admissionsPerWrite: ratio(
          admissions,
          total((a) => a.stats.writes),
        ),
        logLengthAtEnd: Math.max(...answers.map((a) => a.logLength)),
      });
    }
    return levels;
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

async function measureSaturation(azurite: Azurite) {
  const apiKey = 'bench-limit-key-81c2';
  const simulator = await startSimulator({ apiKeys: [apiKey] });
  try {
    const s = SATURATION;
    const run = await runLimitWorkers({
      simulator,
      apiKey,
      storageConnectionString: azurite.connectionString,
      account: `benchsat-${randomUUID().slice(0, 8)}`,
      ...s,
      on429: 'retry-after-wait',
    });
    const windowMs = s.windowSeconds * 1000;
    const spanMs = windowMs + s.safetyMarginMs;
    const { arrivals, startAt, summaries } = run;
    const inPeriod = countIn(arrivals, startAt, startAt + s.durationMs);
    const theoretical = theoreticalMaximum(s.maxCalls, spanMs, s.durationMs);
    const total = (pick: (w: (typeof summaries)[number]) => number) =>
      summaries.reduce((sum, w) => sum + pick(w), 0);
    const admitted = total((w) => w.admitted);
    return {
      ...s,
      spanMs,
      admittedInPeriod: inPeriod,
      arrivalsInAll: arrivals.length,
      theoreticalMaximum: theoretical,
      allowanceUsed: inPeriod / theoretical,
      rateBasedMaximum: (s.maxCalls * s.durationMs) / spanMs,
      meanFillOfSpan: meanOccupancy(
        arrivals,
        s.maxCalls,
        spanMs,
        startAt + spanMs,
        startAt + s.durationMs,
      ),
      maxInAnyWindow: maxInAnyWindow(arrivals, windowMs),
      shortestSpanOfMaxPlusOneMs: shortestSpanOver(arrivals, s.maxCalls),
      allAuthorised: run.allAuthorised,
      answers: {
        ok: admitted,
        rateLimited: total((w) => w.rateLimited),
        unavailable: total((w) => w.unavailable),
        other: total((w) => w.other),
      },
      conflictRetries: total((w) => w.limiter.conflictRetries),
      conflictsPerAdmission: ratio(
        total((w) => w.limiter.conflictRetries),
        admitted,
      ),
      perProcessAdmitted: summaries.map((w) => w.admitted),
    };
  } finally {
    await simulator.close();
  }
}

const pct = (value: number) => (Number.isFinite(value) ? `${(value * 100).toFixed(1)} %` : 'n/a');
const two = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');

export async function run(): Promise<BenchResult> {
  const started = performance.now();
  const azurite = await startAzurite();
  try {
    const levels = await measureLatency(azurite);
    const saturation = await measureSaturation(azurite);
    const wallSeconds = (performance.now() - started) / 1000;

    const rows: BenchRow[] = [];
    for (const level of levels) {
      const where = level.processes === 1 ? '1 process' : `${level.processes} processes`;
      rows.push({
        label: `tryAcquire, ${level.callers} caller${level.callers > 1 ? 's' : ''} (${where})`,
        cells: [
          formatMs(level.decisionMs.p50),
          formatMs(level.decisionMs.p99),
          formatRatio(level.ratioP50),
          two(level.conflictsPerAdmission),
          level.failed,
          level.decisionMs.n,
        ],
      });
      rows.push({
        label: `  raw getEntity + updateEntity(etag), same callers`,
        cells: [
          formatMs(level.rawPairMs.p50),
          formatMs(level.rawPairMs.p99),
          '',
          '',
          level.rawPairMs.n,
        ],
      });
    }
    const s = saturation;
    rows.push({
      label: `allowance used, ${s.processes}×${s.callersPerProcess} callers, ${s.maxCalls}/${s.windowSeconds} s +${s.safetyMarginMs} ms, ${s.durationMs / 1000} s`,
      cells: [
        pct(s.allowanceUsed),
        '',
        '',
        two(s.conflictsPerAdmission),
        s.answers.unavailable,
        s.admittedInPeriod,
      ],
    });
    rows.push({
      label: `  mean fill of the rolling ${s.spanMs} ms span`,
      cells: [pct(s.meanFillOfSpan), '', '', '', '', ''],
    });

    const one = levels[0];
    const ratioAt1 = one?.ratioP50 ?? Number.NaN;
    const refused = levels.reduce((sum, l) => sum + l.refused, 0);
    return {
      title: `limiter (Azurite; decisions ${LEVEL_DURATION_MS / 1000} s per level, first ${LEVEL_WARMUP_MS} ms discarded)`,
      columns: ['p50 ms / used', 'p99 ms', 'ratio p50', 'conflicts/adm', 'failed', 'n'],
      rows,
      notes: [
        `aim: tryAcquire/raw pair ≤ ${RATIO_AIM}× at p50, 1 caller → ${formatRatio(ratioAt1)}: ${ratioAt1 <= RATIO_AIM ? 'met' : 'NOT met'}`,
        `aim: allowance used ≥ ${pct(ALLOWANCE_AIM)} → ${pct(s.allowanceUsed)}: ${s.allowanceUsed >= ALLOWANCE_AIM ? 'met' : 'NOT met'}`,
        `allowance used = calls arriving at the simulator in the ${s.durationMs / 1000} s period (${s.admittedInPeriod}) / the most any exact limiter could admit, ${s.maxCalls} × ceil(${s.durationMs} / ${s.spanMs}) = ${s.theoreticalMaximum} (rate-based ${s.rateBasedMaximum.toFixed(1)} → ${pct(s.admittedInPeriod / s.rateBasedMaximum)})`,
        `saturation, Sendmode's view: max ${s.maxInAnyWindow} calls in any ${s.windowSeconds} s window (limit ${s.maxCalls}); shortest span of ${s.maxCalls + 1} arrivals ${s.shortestSpanOfMaxPlusOneMs.toFixed(1)} ms; answers 200 ×${s.answers.ok}, 429 ×${s.answers.rateLimited}, 503 ×${s.answers.unavailable}, other ×${s.answers.other}`,
        `failed = decisions that failed closed (what the app answers with 503): ${levels.map((l) => `${l.failed} at ${l.callers}`).join(', ')}${levels.some((l) => l.failed > 0) ? ` (${[...new Set(levels.flatMap((l) => l.failures.flatMap((f) => Object.keys(f))))].join('; ')})` : ''}; with the limit out of reach every decision writes, so two processes race for the log back to back, and a process whose cached ETag is stale can lose many races in a row (the p99 tail is its conflict back-off)`,
        `decisions: the limit is out of reach (${OUT_OF_REACH.maxCalls} per ${OUT_OF_REACH.windowMs} ms; ${refused} refused); 8 and 32 callers share one log across 2 processes; admissions per write ${levels.map((l) => two(l.admissionsPerWrite)).join(' / ')} (batching)`,
        `${wallSeconds.toFixed(1)} s in all`,
      ],
      data: {
        wallSeconds: Math.round(wallSeconds * 10) / 10,
        levelWarmupMs: LEVEL_WARMUP_MS,
        levelDurationMs: LEVEL_DURATION_MS,
        outOfReachLimit: OUT_OF_REACH,
        levels,
        ratioAt1CallerP50: ratioAt1,
        ratioAim: RATIO_AIM,
        ratioAimMet: ratioAt1 <= RATIO_AIM,
        saturation,
        allowanceAim: ALLOWANCE_AIM,
        allowanceAimMet: s.allowanceUsed >= ALLOWANCE_AIM,
      },
    };
  } finally {
    await azurite.stop();
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  console.log(formatTable(await run()));
}
