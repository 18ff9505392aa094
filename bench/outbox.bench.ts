/**
 * outbox: the send queue (`POST /api/sms` with `Prefer: respond-async`, drained by the
 * `sendQueuedSms` queue handler) against Azurite and the Sendmode simulator.
 *
 * 1. Answer time: the exported `sendSms` handler in this process with a real HttpRequest /
 *    InvocationContext, its 202 (validate, status row, queue write) beside a synchronous send's
 *    200 (validate, limiter, Sendmode call), interleaved call by call, the limit out of reach,
 *    a fresh account and send queue per round.
 * 2. Drain: 300 sends queued (through the same handler, 202 each, distinct texts) at 10 calls per
 *    2 s with the default interactive reserve, drained by several app instances (child processes,
 *    bench/outbox-worker.ts, each running the queue handlers as the Functions host does), from the
 *    first enqueue to the last send's arrival at the simulator, beside the ideal for the
 *    background capacity (maxCalls − reserve per window + margin).
 * 3. Priority: 100 sends queued during a 1,000-import backlog that is already draining, beside the
 *    same 100 sends with no backlog, repeated in ABBA order; medians.
 *
 * Every measured run has its own Sendmode account (limiter log), queues and status table, and
 * every drain its own Azurite, started for it: under heavy queue churn the emulator's once-a-minute
 * queue clean-up freezes it for seconds (see the README), which Azure Storage does not do. The
 * simulator runs in a process of its own, so arrival times are taken on an event loop no instance
 * shares.
 *
 * `npx tsx bench/outbox.bench.ts` runs it alone. OUTBOX_INSTANCES=2 and OUTBOX_REPEATS=1 change
 * how many instances drain and how many pairs of row 3 are run; OUTBOX_SCALE=0.2 shrinks it all
 * for a quick look; OUTBOX_TRACE=/tmp/outbox writes each drain's recorded calls and every handler
 * outcome line (with its moment) to /tmp/outbox-<run>.json.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { TableClient } from '@azure/data-tables';
import azureFunctions, { type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';

import { poisonQueueOf } from '../shared/queue-names.js';
import { resetServices } from '../shared/services.js';
import { parseSettings, resetSettings, settingNames } from '../shared/settings.js';
import { type Azurite, startAzurite } from '../test/helpers/azurite.js';
import { busiestWindow } from '../test/helpers/limit-run.js';
import { type SimulatorProcess, startSimulatorProcess } from '../test/helpers/processes.js';
import type { WorkerSummary } from './outbox-worker.js';
import {
  type BenchResult,
  type BenchRow,
  formatMs,
  formatRatio,
  formatTable,
  median,
  ratio,
  rotation,
  rounded,
  summarise,
  type Summary,
} from './stats.js';

export const name = 'outbox';

const { HttpRequest, InvocationContext } = azureFunctions;
type HttpRequest = InstanceType<typeof HttpRequest>;
type InvocationContext = InstanceType<typeof InvocationContext>;
type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const WORKER = join(HERE, 'outbox-worker.ts');

const API_KEY = 'bench-outbox-key-5d21';

// --- row 1: answer time ---------------------------------------------------------------------
const LATENCY_ROUNDS = Math.max(3, Math.round(20 * Number(process.env.OUTBOX_SCALE ?? 1)));
const LATENCY_MEASURED_PER_ROUND = 50;
const LATENCY_WARMUP_PER_ROUND = 5;
const LATENCY_WARMUP_ROUNDS = 1;

// --- rows 2 and 3: drains -------------------------------------------------------------------
const LIMIT = { maxCalls: 10, windowSeconds: 2 };
/** RATE_LIMIT_INTERACTIVE_RESERVE is left unset: the default, a fifth of the limit. */
const RESERVE = parseSettings({
  RATE_LIMIT_MAX_CALLS: String(LIMIT.maxCalls),
}).RATE_LIMIT_INTERACTIVE_RESERVE;
const MARGIN_MS = 200;
/**
 * RATE_LIMIT_RESERVATION_TOLERANCE_MS. The default (3 s, against a 61 s window in production) is
 * longer than this benchmark's whole 2.2 s window; scaled down as backlog.bench.ts does.
 */
const TOLERANCE_MS = 250;
const SPAN_MS = LIMIT.windowSeconds * 1000 + MARGIN_MS;
const CAPACITY = LIMIT.maxCalls - RESERVE;
/** Background calls per second the limiter can hand out: capacity per span. */
const IDEAL_PER_SECOND = CAPACITY / (SPAN_MS / 1000);
const INSTANCES = Number(process.env.OUTBOX_INSTANCES ?? 3);
/** OUTBOX_SCALE=0.2 shrinks every row for a quick look (the table then says so). */
const SCALE = Number(process.env.OUTBOX_SCALE ?? 1);
const DRAIN_SENDS = Math.round(300 * SCALE);
const PRIORITY_SENDS = Math.round(100 * SCALE);
const BACKLOG_IMPORTS = Math.round(1000 * SCALE);
/** Imports that must have reached the simulator before the sends are queued ("draining"). */
const BACKLOG_HEAD = 3 * CAPACITY;
/** Pairs of row 3 (sends alone, sends during the backlog), run in ABBA order. */
const REPEATS = Number(process.env.OUTBOX_REPEATS ?? 2);
/** How many POST /api/sms are in flight at once while a run queues its sends. */
const ENQUEUE_CONCURRENCY = 10;

const AIM_DRAIN = 1.25;
const AIM_PRIORITY = 1.1;

const micro = (ms: number) => Math.round(ms * 1000) / 1000;
const tag = () => Math.random().toString(36).slice(2, 8);

/** Imports the handler with console.warn muted (@azure/functions' test-mode notice). */
async function loadHandler(): Promise<Handler> {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    return (await import('../functions/send-sms.js')).sendSms;
  } finally {
    console.warn = warn;
  }
}

/** Sets this process's app settings to exactly `values` (nothing from the developer's shell). */
async function setAppSettings(values: Record<string, string>): Promise<void> {
  for (const setting of settingNames()) delete process.env[setting];
  Object.assign(process.env, values);
  resetSettings();
  await resetServices();
}

function request(body: string, respondAsync: boolean): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'https://sms.example.net/api/sms',
    headers: {
      'content-type': 'application/json',
      ...(respondAsync ? { prefer: 'respond-async' } : {}),
    },
    body: { string: body },
  });
}

const noLog = () => undefined;
const context = () => new InvocationContext({ functionName: 'send-sms', logHandler: noLog });

interface Env {
  simulator: SimulatorProcess;
  sendSms: Handler;
}

// --- row 1 ----------------------------------------------------------------------------------

interface LatencyResult {
  async: Summary;
  sync: Summary;
  samples: { async: number[]; sync: number[] };
  wallSeconds: number;
}

async function measureAnswers(env: Env): Promise<LatencyResult> {
  const azurite = await startAzurite();
  try {
    return await measureAnswersOn(env, azurite);
  } finally {
    await resetServices();
    await azurite.stop();
  }
}

async function measureAnswersOn(env: Env, azurite: Azurite): Promise<LatencyResult> {
  const variants = ['async', 'sync'] as const;
  const samples: Record<(typeof variants)[number], number[]> = { async: [], sync: [] };
  const failures: string[] = [];
  const started = performance.now();
  for (let round = 0; round < LATENCY_WARMUP_ROUNDS + LATENCY_ROUNDS; round++) {
    const id = tag();
    const settings = {
      SENDMODE_BASE_URL: env.simulator.url,
      SENDMODE_API_KEY: API_KEY,
      AzureWebJobsStorage: azurite.connectionString,
      SENDMODE_ACCOUNT_NAME: `oblat${round}x${id}`,
      SEND_QUEUE_NAME: `ob-lat-${round}-${id}`,
      SEND_STATUS_TABLE_NAME: `oblat${round}x${id}`,
      RATE_LIMIT_MAX_CALLS: '1000',
      RATE_LIMIT_MAX_WAIT_SECONDS: '0',
    };
    await setAppSettings(settings);
    const keep = round >= LATENCY_WARMUP_ROUNDS;
    for (let i = 0; i < LATENCY_WARMUP_PER_ROUND + LATENCY_MEASURED_PER_ROUND; i++) {
      for (const index of rotation(variants.length, i)) {
        const variant = variants[index]!;
        const body = JSON.stringify({
          messagetext: `Your order ${round}-${i} has shipped`,
          recipients: ['+353 87 123 4567'],
        });
        // Built outside the timed part: the host hands the handler a ready request.
        const req = request(body, variant === 'async');
        const ctx = context();
        const t0 = performance.now();
        const response = await env.sendSms(req, ctx);
        const elapsed = performance.now() - t0;
        const expected = variant === 'async' ? 202 : 200;
        if (response.status !== expected) {
          failures.push(`${variant}: HTTP ${response.status} ${String(response.body)}`);
        }
        if (keep && i >= LATENCY_WARMUP_PER_ROUND) samples[variant].push(elapsed);
      }
    }
    if (failures.length > 0) {
      throw new Error(`outbox answers: ${failures.length} calls failed, e.g. ${failures[0]}`);
    }
    await cleanUp(
      azurite.connectionString,
      [settings.SEND_QUEUE_NAME],
      [settings.SEND_STATUS_TABLE_NAME],
    );
  }
  return {
    async: summarise(samples.async),
    sync: summarise(samples.sync),
    samples,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

// --- rows 2 and 3: instances ----------------------------------------------------------------

interface Instance {
  child: ChildProcessWithoutNullStreams;
  lines: AsyncIterator<string>;
  stderr(): string;
  exited: Promise<number | null>;
}

async function nextJson<T>(instance: Instance, what: string): Promise<T> {
  const next = await instance.lines.next();
  if (next.done) throw new Error(`An outbox worker ended before ${what}: ${instance.stderr()}`);
  return JSON.parse(next.value) as T;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}.`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startInstances(count: number, settings: Record<string, string>) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of settingNames()) delete env[setting];
  Object.assign(env, settings);
  const instances: Instance[] = Array.from({ length: count }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { cwd: ROOT, env });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
    const exited = new Promise<number | null>((done) => child.once('exit', done));
    return {
      child,
      lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](),
      stderr: () => stderr,
      exited,
    };
  });
  const kill = () => {
    for (const i of instances) {
      if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGKILL');
    }
  };
  try {
    await withTimeout(
      Promise.all(instances.map((i) => nextJson(i, 'it was ready'))),
      90_000,
      'the outbox workers to load',
    );
  } catch (error) {
    kill();
    throw error;
  }
  return {
    async stop(): Promise<WorkerSummary[]> {
      try {
        for (const i of instances) i.child.stdin.end('stop\n');
        return await withTimeout(
          Promise.all(instances.map((i) => nextJson<WorkerSummary>(i, 'its summary'))),
          30_000,
          'the outbox workers to stop',
        );
      } finally {
        await Promise.race([Promise.all(instances.map((i) => i.exited)), sleep(5_000)]);
        kill();
      }
    },
    kill,
  };
}

// --- rows 2 and 3: one drain ----------------------------------------------------------------

interface DrainRun {
  label: string;
  sends: number;
  imports: number;
  /** First enqueue to the last send's arrival (s). */
  drainSeconds: number;
  idealSeconds: number;
  /** How long queueing the sends took (first POST to the last 202) (s). */
  enqueueSeconds: number;
  /** 202 answer times while instances were draining (ms). */
  answersMs: Summary;
  /** Distinct sends that arrived, and duplicates (a text arriving more than once). */
  sent: number;
  duplicates: number;
  /** Imports that arrived between the first send's enqueue and the last send's arrival. */
  importsDuringSends: number;
  /** Imports that had arrived before the sends were queued. */
  importsBefore: number;
  /** Most calls (sends and imports) the simulator saw in any window. */
  maxInAnyWindow: number;
  deferralsPerSend: number;
  reservedDeferralsPerSend: number;
  maxDeferrals: number;
  sendOutcomes: Record<string, number>;
  importOutcomes: Record<string, number>;
  limiter: Record<string, number>;
  /** The longest time between two calls of any kind at the simulator during the drain (ms). */
  longestSilenceMs: number;
  /** A storage round trip timed every 250 ms during the drain (ms), and the slowest's moment. */
  probeMs: Summary;
  slowestProbeAtSeconds: number;
  /** When the last send arrived (ms since the epoch). */
  lastArrival: number;
  /** How long the run's emulator had been up when the last send arrived (s). */
  emulatorAgeSeconds: number;
  errors: string[];
}

async function drain(env: Env, label: string, sends: number, imports: number): Promise<DrainRun> {
  // A fresh emulator per drain, so its first queue clean-up (60 s after start) falls after the
  // measured part of a 100-send run, and no run inherits another's messages.
  const azurite = await startAzurite();
  const azuriteStarted = Date.now();
  try {
    const result = await drainOn(env, azurite, label, sends, imports);
    return { ...result, emulatorAgeSeconds: (result.lastArrival - azuriteStarted) / 1000 };
  } finally {
    await resetServices();
    await azurite.stop();
  }
}

async function drainOn(
  env: Env,
  azurite: Azurite,
  label: string,
  sends: number,
  imports: number,
): Promise<Omit<DrainRun, 'emulatorAgeSeconds'>> {
  const id = tag();
  const account = `ob${sends}i${imports}x${id}`;
  const settings = {
    SENDMODE_BASE_URL: env.simulator.url,
    SENDMODE_API_KEY: API_KEY,
    AzureWebJobsStorage: azurite.connectionString,
    SENDMODE_ACCOUNT_NAME: account,
    SEND_QUEUE_NAME: `ob-send-${id}`,
    IMPORT_QUEUE_NAME: `ob-import-${id}`,
    SEND_STATUS_TABLE_NAME: `obstatus${id}`,
    RATE_LIMIT_MAX_CALLS: String(LIMIT.maxCalls),
    RATE_LIMIT_WINDOW_SECONDS: String(LIMIT.windowSeconds),
    RATE_LIMIT_SAFETY_MARGIN_MS: String(MARGIN_MS),
    RATE_LIMIT_RESERVATION_TOLERANCE_MS: String(TOLERANCE_MS),
  };
  // This process queues the sends (POST /api/sms, 202): the same settings as the instances.
  await setAppSettings(settings);
  const instances = await startInstances(INSTANCES, settings);
  let summaries: WorkerSummary[] = [];
  try {
    // The instances' warm-up calls (on accounts of their own) are not part of the run.
    await resetSimulator(env.simulator);

    if (imports > 0) {
      const producer = new QueueClient(azurite.connectionString, settings.IMPORT_QUEUE_NAME);
      await producer.createIfNotExists();
      for (let start = 0; start < imports; start += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, imports - start) }, (_, k) =>
            producer.sendMessage(
              JSON.stringify({
                group: 'outbox-bench',
                mobilenumber: `+35386${String(10_000_000 + start + k).slice(1)}`,
              }),
            ),
          ),
        );
      }
      const deadline = Date.now() + 60_000;
      while ((await env.simulator.calls('import')).length < BACKLOG_HEAD) {
        if (Date.now() > deadline) throw new Error('The import backlog did not start draining.');
        await sleep(100);
      }
    }

    const probe = storageProbe(azurite.connectionString, settings.SEND_QUEUE_NAME);
    const texts = Array.from({ length: sends }, (_, i) => `outbox ${id} send ${i}`);
    const answers: number[] = [];
    const failures: string[] = [];
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: ENQUEUE_CONCURRENCY }, async () => {
        while (next < texts.length) {
          const text = texts[next++]!;
          const req = request(
            JSON.stringify({ messagetext: text, recipients: ['+353871234567'] }),
            true,
          );
          const t0 = performance.now();
          const response = await env.sendSms(req, context());
          answers.push(performance.now() - t0);
          if (response.status !== 202) {
            failures.push(`HTTP ${response.status} ${String(response.body)}`);
          }
        }
      }),
    );
    const enqueueSeconds = (Date.now() - started) / 1000;
    if (failures.length > 0) {
      throw new Error(`${label}: ${failures.length} sends were not queued, e.g. ${failures[0]}`);
    }

    const idealSeconds = sends / IDEAL_PER_SECOND;
    const deadline = Date.now() + (idealSeconds * 3 + 60) * 1000;
    const wanted = new Set(texts);
    let arrived: { text: string; at: number }[] = [];
    for (;;) {
      arrived = (await env.simulator.calls('send'))
        .map((c) => ({ text: textOf(c.payload), at: c.arrivedAt }))
        .filter((c) => wanted.has(c.text));
      if (new Set(arrived.map((c) => c.text)).size >= sends) break;
      if (Date.now() > deadline) {
        throw new Error(`${label}: only ${arrived.length} of ${sends} sends arrived in time`);
      }
      await sleep(200);
    }
    const last = Math.max(...arrived.map((c) => c.at));
    const probed = await probe.stop();
    const all = await env.simulator.calls();
    summaries = await instances.stop();

    const during = arrivalsBetween(all, started, last);
    const importTimes = all.filter((c) => c.operation === 'import').map((c) => c.arrivedAt);
    const arrivals = all.map((c) => c.arrivedAt).sort((a, b) => a - b);
    const sum = (pick: (s: WorkerSummary) => number) => summaries.reduce((t, s) => t + pick(s), 0);
    const merge = (pick: (s: WorkerSummary) => Record<string, number>) => {
      const merged: Record<string, number> = {};
      for (const s of summaries) {
        for (const [key, value] of Object.entries(pick(s)))
          merged[key] = (merged[key] ?? 0) + value;
      }
      return merged;
    };
    const sendOutcomes = merge((s) => s.sends.outcomes);
    if (process.env.OUTBOX_TRACE) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(
        `${process.env.OUTBOX_TRACE}-${label.replace(/\W+/g, '-')}-${id}.json`,
        JSON.stringify({ started, last, calls: all, summaries, probed }),
      );
    }
    const drainSeconds = (last - started) / 1000;
    return {
      label,
      sends,
      imports,
      drainSeconds,
      idealSeconds,
      enqueueSeconds,
      answersMs: summarise(answers),
      sent: new Set(arrived.map((c) => c.text)).size,
      duplicates: arrived.length - new Set(arrived.map((c) => c.text)).size,
      importsDuringSends: importTimes.filter((t) => t >= started && t <= last).length,
      importsBefore: importTimes.filter((t) => t < started).length,
      maxInAnyWindow: busiestWindow(arrivals, LIMIT.windowSeconds * 1000).count,
      deferralsPerSend: (sendOutcomes.defer ?? 0) / sends,
      reservedDeferralsPerSend: sum((s) => s.sends.deferredWithReservation) / sends,
      maxDeferrals: Math.max(0, ...summaries.map((s) => s.sends.maxDeferrals)),
      sendOutcomes,
      importOutcomes: merge((s) => s.imports.outcomes),
      limiter: merge((s) => s.limiter as unknown as Record<string, number>),
      longestSilenceMs: longestGap(during),
      lastArrival: last,
      probeMs: summarise(probed.map((p) => p.ms)),
      slowestProbeAtSeconds:
        (probed.reduce((a, b) => (b.ms > a.ms ? b : a), { at: started, ms: 0 }).at - started) /
        1000,
      errors: summaries.flatMap((s) => s.errors).slice(0, 5),
    };
  } finally {
    if (summaries.length === 0) instances.kill();
  }
}

/**
 * Times one cheap storage round trip (the send queue's properties) every 250 ms until stopped:
 * a stall of the emulator or the machine shows here, whatever the app was doing.
 */
export function storageProbe(connectionString: string, queueName: string) {
  const queue = new QueueClient(connectionString, queueName);
  const samples: { at: number; ms: number }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      const t0 = performance.now();
      await queue.getProperties().catch(() => undefined);
      samples.push({ at, ms: performance.now() - t0 });
      await sleep(250);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

/** Arrival times (ascending) of every recorded call from `from` to `to`, both included. */
function arrivalsBetween(calls: { arrivedAt: number }[], from: number, to: number): number[] {
  return [from, ...calls.map((c) => c.arrivedAt).filter((t) => t >= from && t <= to), to].sort(
    (a, b) => a - b,
  );
}

function longestGap(ascending: number[]): number {
  let longest = 0;
  for (let i = 1; i < ascending.length; i++) {
    longest = Math.max(longest, ascending[i]! - ascending[i - 1]!);
  }
  return longest;
}

/**
 * Deletes the queues (with their poison queues) and tables a round made. Azurite keeps every
 * queue's messages in one collection and scans it on each request, so messages left behind would
 * make later rounds' queue calls slower; Azure has no such cost.
 */
async function cleanUp(connectionString: string, queues: string[], tables: string[]) {
  await Promise.all([
    ...[...queues, ...queues.map(poisonQueueOf)].map((queue) =>
      new QueueClient(connectionString, queue).deleteIfExists(),
    ),
    ...tables.map((table) =>
      TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true })
        .deleteTable()
        .catch(() => undefined),
    ),
  ]);
}

/** The message text of a recorded send (v2: the decoded `message` object). */
function textOf(payload: unknown): string {
  const text = (payload as { messagetext?: unknown } | null)?.messagetext;
  return typeof text === 'string' ? text : '';
}

export async function resetSimulator(simulator: SimulatorProcess): Promise<void> {
  const res = await fetch(`${simulator.origin}/__admin/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`Could not reset the simulator: HTTP ${res.status}`);
}

// --- the table ------------------------------------------------------------------------------

const two = (value: number) => value.toFixed(2);
const seconds = (value: number) => `${value.toFixed(1)} s`;
const aimNote = (value: number, aim: number) => (value <= aim ? 'met' : 'NOT met');

export async function run(): Promise<BenchResult> {
  const started = performance.now();
  const savedEnv = Object.fromEntries(settingNames().map((n) => [n, process.env[n]]));
  const [simulator, sendSms] = await Promise.all([startSimulatorProcess(API_KEY), loadHandler()]);
  const env: Env = { simulator, sendSms };
  try {
    const answers = await measureAnswers(env);
    const big = await drain(env, `${DRAIN_SENDS} sends`, DRAIN_SENDS, 0);
    const alone: DrainRun[] = [];
    const busy: DrainRun[] = [];
    for (let pair = 0; pair < REPEATS; pair++) {
      // ABBA: neither variant always runs first, or always on a machine warmed by the other.
      const order = pair % 2 === 0 ? (['alone', 'busy'] as const) : (['busy', 'alone'] as const);
      for (const which of order) {
        if (which === 'alone') {
          alone.push(await drain(env, `${PRIORITY_SENDS} sends alone`, PRIORITY_SENDS, 0));
        } else {
          busy.push(
            await drain(
              env,
              `${PRIORITY_SENDS} sends during ${BACKLOG_IMPORTS} imports`,
              PRIORITY_SENDS,
              BACKLOG_IMPORTS,
            ),
          );
        }
      }
    }
    return table(answers, big, alone, busy, (performance.now() - started) / 1000);
  } finally {
    await resetServices();
    for (const [setting, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[setting];
      else process.env[setting] = value;
    }
    resetSettings();
    await simulator.stop();
  }
}

function table(
  answers: LatencyResult,
  big: DrainRun,
  alone: DrainRun[],
  busy: DrainRun[],
  wallSeconds: number,
): BenchResult {
  const answerRatio = ratio(answers.async.p50, answers.sync.p50);
  const drainRatio = big.drainSeconds / big.idealSeconds;
  const aloneSeconds = median(alone.map((r) => r.drainSeconds));
  const busySeconds = median(busy.map((r) => r.drainSeconds));
  const priorityRatio = busySeconds / aloneSeconds;
  const priorityIdeal = PRIORITY_SENDS / IDEAL_PER_SECOND;
  const ms = (s: Summary) => [s.p50, s.p99, s.mean].map((v) => `${formatMs(v)} ms`);
  const drainCells = (drainSeconds: number, against: number) => [
    seconds(drainSeconds),
    seconds(against),
    formatRatio(drainSeconds / against),
  ];
  const n = LATENCY_ROUNDS * LATENCY_MEASURED_PER_ROUND;
  const rows: BenchRow[] = [
    { label: `POST /api/sms, Prefer: respond-async → 202`, cells: ms(answers.async) },
    { label: `POST /api/sms, synchronous → 200`, cells: ms(answers.sync) },
    { label: 'ratio async/sync (p50)', cells: ['', '', formatRatio(answerRatio)] },
    {
      label: `${big.sends} queued sends: drain, ideal, drain/ideal`,
      cells: drainCells(big.drainSeconds, big.idealSeconds),
    },
    {
      label: `${PRIORITY_SENDS} sends alone: drain, ideal, drain/ideal`,
      cells: drainCells(aloneSeconds, priorityIdeal),
    },
    {
      label: `${PRIORITY_SENDS} sends during ${BACKLOG_IMPORTS} imports: drain, alone, ratio`,
      cells: drainCells(busySeconds, aloneSeconds),
    },
  ];
  const runNote = (r: DrainRun) =>
    `${r.label}: ${seconds(r.drainSeconds)} (queued in ${seconds(r.enqueueSeconds)}, 202 p50 ${formatMs(r.answersMs.p50)} ms); ${r.sent} sent, ${r.duplicates} duplicates; deferrals/send ${two(r.deferralsPerSend)} (${two(r.reservedDeferralsPerSend)} with a reservation, at most ${r.maxDeferrals} for one send); max ${r.maxInAnyWindow}/${LIMIT.maxCalls} calls in any ${LIMIT.windowSeconds} s` +
    (r.imports > 0
      ? `; imports before the sends ${r.importsBefore}, during ${r.importsDuringSends}`
      : '') +
    `; longest silence at the simulator ${seconds(r.longestSilenceMs / 1000)}, storage probe p50 ${formatMs(r.probeMs.p50)} ms max ${formatMs(r.probeMs.max)} ms (at +${r.slowestProbeAtSeconds.toFixed(1)} s), emulator up ${seconds(r.emulatorAgeSeconds)} at the end` +
    `; limiter conflicts ${r.limiter.conflictRetries ?? 0}, reservations ${r.limiter.reservations ?? 0}, claims ${r.limiter.claims ?? 0}, lined up ${r.limiter.linedUp ?? 0}` +
    (r.sendOutcomes.retry || r.sendOutcomes.poison
      ? `; sends retried ${r.sendOutcomes.retry ?? 0}, parked ${r.sendOutcomes.poison ?? 0}`
      : '') +
    (r.errors.length > 0 ? `; errors: ${r.errors.join(' | ')}` : '');
  return {
    title: `outbox (answers: N=${n} per variant, interleaved)`,
    columns: ['p50 | drain', 'p99 | ideal/alone', 'mean | ratio'],
    rows,
    notes: [
      `drains: ${LIMIT.maxCalls} calls per ${LIMIT.windowSeconds} s, interactive reserve ${RESERVE} (the default, a fifth), margin ${MARGIN_MS} ms, reservation tolerance ${TOLERANCE_MS} ms, ${INSTANCES} instances${SCALE === 1 ? '' : `, OUTBOX_SCALE=${SCALE}`}`,
      `aim: 202 answer at p50 ${formatRatio(answerRatio)} of a synchronous send's (no aim set; the 202 makes no Sendmode call)`,
      `aim: ${big.sends} sends drain ≤ ${AIM_DRAIN}× ideal → ${formatRatio(drainRatio)} ${aimNote(drainRatio, AIM_DRAIN)}`,
      `aim: ${PRIORITY_SENDS} sends during the backlog ≤ ${AIM_PRIORITY}× alone → ${formatRatio(priorityRatio)} ${aimNote(priorityRatio, AIM_PRIORITY)} (medians of ${REPEATS} runs each, ABBA)`,
      `ideal = sends ÷ ((maxCalls − reserve) per (window + margin)) = sends ÷ (${CAPACITY} per ${(SPAN_MS / 1000).toFixed(1)} s = ${two(IDEAL_PER_SECOND)}/s); drain = first enqueue to the last send's arrival at the simulator`,
      `instances are child processes, each with one listener per queue: batch 8, next batch at ≤ 4 running, 100 ms polls when empty; sends queued by POST /api/sms (202), ${ENQUEUE_CONCURRENCY} at a time; imports dropped as plain JSON, the sends queued once ${BACKLOG_HEAD} imports had arrived; a fresh Azurite per drain`,
      `per run: the 202s' p50 while instances drain (${ENQUEUE_CONCURRENCY} in flight at once, so queueing at Azurite is included), deferrals per send, the busiest ${LIMIT.windowSeconds} s window, the longest time with no call at all, a storage probe every 250 ms (an emulator stall shows there), the limiter's counters summed over instances`,
      runNote(big),
      ...alone.map(runNote),
      ...busy.map(runNote),
      `${seconds(wallSeconds)} in all (answers ${seconds(answers.wallSeconds)})`,
    ],
    data: {
      limit: LIMIT,
      interactiveReserve: RESERVE,
      marginMs: MARGIN_MS,
      toleranceMs: TOLERANCE_MS,
      instances: INSTANCES,
      answers: {
        samplesPerVariant: n,
        asyncMs: rounded(answers.async),
        syncMs: rounded(answers.sync),
        ratioAsyncOverSyncP50: Math.round(answerRatio * 1000) / 1000,
        samplesMs: {
          async: answers.samples.async.map(micro),
          sync: answers.samples.sync.map(micro),
        },
      },
      drain: { ...big, answersMs: rounded(big.answersMs), ratio: drainRatio, aim: AIM_DRAIN },
      priority: {
        aloneSeconds,
        busySeconds,
        ratio: priorityRatio,
        aim: AIM_PRIORITY,
        idealSeconds: priorityIdeal,
        alone: alone.map((r) => ({ ...r, answersMs: rounded(r.answersMs) })),
        busy: busy.map((r) => ({ ...r, answersMs: rounded(r.answersMs) })),
      },
      wallSeconds,
    },
  };
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  console.log(formatTable(await run()));
}
