/**
 * merge: merged calls (shared/merge/), queued sends on the send queue that share a text, sender
 * id, schedule, customerid and account going out in one Sendmode call, beside `SEND_MERGE=off`,
 * at 10 calls per 2 s (the limits of outbox.bench.ts), with the app instances of
 * outbox.bench.ts (child processes running the queue handlers as the Functions host does,
 * bench/outbox-worker.ts), a fresh Azurite per part and the simulator in a process of its own.
 *
 * 1. A broadcast, merged: 2,000 single-recipient sends of one text dropped on the send queue at
 *    once (the Storage SDK, `{ id, messagetext, recipients: [one number] }`), SEND_MERGE=on;
 *    drained to the last recipient's arrival at the simulator and to every send's status final;
 *    calls used, recipients per second, and every recipient checked against the simulator's
 *    record (duplicates, missing).
 * 2. The same broadcast with SEND_MERGE=off, measured for a fixed period (draining it would take
 *    some nine minutes at this limit): recipients per second, calls, the drain projected at that
 *    rate, and the ratio merged/off in recipients per second.
 * 3. A lone send on an idle app, merged beside off: one send at a time (the next once the last
 *    has reached the simulator and a pause longer than SEND_MERGE_WINDOW_MS has passed, so its
 *    key is idle), enqueue to arrival at the simulator. Two instance sets run side by side on
 *    one Azurite, one with SEND_MERGE=on and one with off (each its own queue, account, status
 *    and merge tables), and the sends alternate between them (AB BA AB …): both sets poll all
 *    along, so both variants run on the same loaded machine, and no instance restarts between
 *    samples.
 *
 * `npx tsx bench/merge.bench.ts` runs it alone. MERGE_INSTANCES=2 changes how many instances
 * drain (per set in part 3); MERGE_SENDS=500, MERGE_OFF_SECONDS=20 and MERGE_LONE=10 shrink it
 * for a quick look; MERGE_TRACE=/tmp/merge writes each broadcast's recorded calls, the instances'
 * outcome lines (with their moments) and the statuses' finishing times to
 * /tmp/merge-<on|off>-<run>.json.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

import { TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';

import { poisonQueueOf } from '../shared/queue-names.js';
import { parseSettings } from '../shared/settings.js';
import { type Azurite, startAzurite } from '../test/helpers/azurite.js';
import { busiestWindow } from '../test/helpers/limit-run.js';
import { type SimulatorProcess, startSimulatorProcess } from '../test/helpers/processes.js';
import { resetSimulator, startInstances, storageProbe } from './outbox.bench.js';
import type { ListenerSummary, WorkerSummary } from './outbox-worker.js';
import {
  type BenchResult,
  type BenchRow,
  formatMs,
  formatRatio,
  formatTable,
  ratio,
  rotation,
  rounded,
  summarise,
  type Summary,
} from './stats.js';

export const name = 'merge';

const API_KEY = 'bench-merge-key-8c03';

const LIMIT = { maxCalls: 10, windowSeconds: 2 };
/** RATE_LIMIT_INTERACTIVE_RESERVE is left unset (the default, a fifth), as in outbox.bench.ts. */
const DEFAULTS = parseSettings({ RATE_LIMIT_MAX_CALLS: String(LIMIT.maxCalls) });
const RESERVE = DEFAULTS.RATE_LIMIT_INTERACTIVE_RESERVE;
const MARGIN_MS = 200;
/** Scaled down to this 2.2 s window, as backlog.bench.ts and outbox.bench.ts do. */
const TOLERANCE_MS = 250;
const SPAN_MS = LIMIT.windowSeconds * 1000 + MARGIN_MS;
const CAPACITY = LIMIT.maxCalls - RESERVE;
/** SEND_MERGE_WINDOW_MS and SEND_MAX_RECIPIENTS_PER_CALL are left at their defaults. */
const WINDOW_MS = DEFAULTS.SEND_MERGE_WINDOW_MS;
const MAX_PER_CALL = DEFAULTS.SEND_MAX_RECIPIENTS_PER_CALL;

const INSTANCES = Number(process.env.MERGE_INSTANCES ?? 3);
const SENDS = Number(process.env.MERGE_SENDS ?? 2000);
/** Part 2's fixed measuring period, from the first enqueue (s). */
const OFF_SECONDS = Number(process.env.MERGE_OFF_SECONDS ?? 45);
/** Part 3: kept samples per variant, and pairs discarded first. */
const LONE_SAMPLES = Number(process.env.MERGE_LONE ?? 30);
const LONE_WARMUP = 2;
/** Part 3: the pause after a lone send's arrival before the next is queued. */
const LONE_PAUSE_MS = WINDOW_MS + 500;
/** How many sendMessage calls are in flight at once while a broadcast is dropped. */
const DROP_CONCURRENCY = 50;
/** How long the merged broadcast may take before the run gives up waiting (s). */
const MERGED_DEADLINE_SECONDS = 150;

const AIM_CALLS = 40;
const AIM_DRAIN_SECONDS = 60;
const AIM_LONE = 1.1;

const micro = (ms: number) => Math.round(ms * 1000) / 1000;
const tag = () => Math.random().toString(36).slice(2, 8);
const digits = (number: string) => number.replace(/\D/g, '');
/** A distinct, valid Irish mobile number for each index (+353 8x 2xx xxxx). */
const numberOf = (prefix: string, i: number) => `+353${prefix}${2_000_000 + i}`;

type Mode = 'on' | 'off';

function appSettings(simulator: SimulatorProcess, azurite: Azurite, id: string, mode: Mode) {
  return {
    SENDMODE_BASE_URL: simulator.url,
    SENDMODE_API_KEY: API_KEY,
    AzureWebJobsStorage: azurite.connectionString,
    SENDMODE_ACCOUNT_NAME: `mg${mode}x${id}`,
    SEND_QUEUE_NAME: `mg-send-${mode}-${id}`,
    IMPORT_QUEUE_NAME: `mg-import-${mode}-${id}`,
    SEND_STATUS_TABLE_NAME: `mgstatus${mode}${id}`,
    SEND_MERGE_TABLE_NAME: `mgmerge${mode}${id}`,
    SEND_MERGE: mode,
    RATE_LIMIT_MAX_CALLS: String(LIMIT.maxCalls),
    RATE_LIMIT_WINDOW_SECONDS: String(LIMIT.windowSeconds),
    RATE_LIMIT_SAFETY_MARGIN_MS: String(MARGIN_MS),
    RATE_LIMIT_RESERVATION_TOLERANCE_MS: String(TOLERANCE_MS),
  };
}

interface SendCall {
  arrivedAt: number;
  httpStatus: number;
  text: string;
  recipients: string[];
}

async function sendCalls(simulator: SimulatorProcess): Promise<SendCall[]> {
  return (await simulator.calls('send')).map((c) => {
    const payload = c.payload as { messagetext?: unknown; recipients?: unknown } | null;
    return {
      arrivedAt: c.arrivedAt,
      httpStatus: c.httpStatus,
      text: typeof payload?.messagetext === 'string' ? payload.messagetext : '',
      recipients: Array.isArray(payload?.recipients)
        ? payload.recipients.filter((r): r is string => typeof r === 'string').map(digits)
        : [],
    };
  });
}

function mergeCounts(summaries: WorkerSummary[], pick: (s: WorkerSummary) => ListenerSummary) {
  const merged: Record<string, number> = {};
  for (const s of summaries) {
    for (const [key, value] of Object.entries(pick(s).outcomes)) {
      merged[key] = (merged[key] ?? 0) + value;
    }
  }
  return merged;
}

function limiterCounts(summaries: WorkerSummary[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const s of summaries) {
    for (const [key, value] of Object.entries(s.limiter as unknown as Record<string, number>)) {
      merged[key] = (merged[key] ?? 0) + value;
    }
  }
  return merged;
}

// --- parts 1 and 2: a broadcast -------------------------------------------------------------

interface Broadcast {
  mode: Mode;
  sends: number;
  /** Off: the fixed period measured (s); on: undefined (drained to the end). */
  periodSeconds?: number;
  /** First enqueue to the last message dropped (s). */
  dropSeconds: number;
  /** On: first enqueue to the last recipient's arrival at the simulator (s). */
  lastArrivalSeconds: number;
  /** On: first enqueue to the last send's status final (its `finishedAt`), once all are (s). */
  allFinalSeconds?: number;
  /** Sends whose status was final when the run ended. */
  finalStatuses: number;
  /** Send calls of the broadcast's text that arrived in the measured time. */
  calls: number;
  /** Calls not answered 200. */
  failedCalls: number;
  recipientsPerCall: Summary;
  /** Distinct recipients that arrived in the measured time, extra arrivals, and those missing. */
  recipients: number;
  duplicates: number;
  missing: number;
  duplicateExamples: string[];
  missingExamples: string[];
  /** Arrived recipients ÷ (last arrival, or the period) (per s). */
  recipientsPerSecond: number;
  /** Most calls the simulator saw in any window. */
  maxInAnyWindow: number;
  sendOutcomes: Record<string, number>;
  /** Deliveries per send (first deliveries, deferrals coming back, redeliveries). */
  deliveriesPerSend: number;
  limiter: Record<string, number>;
  probeMs: Summary;
  /** When the slowest probe was made, from the first enqueue (s). */
  slowestProbeAtSeconds: number;
  /** Each call: when it arrived (s from the first enqueue) and how many recipients it carried. */
  timeline: { atSeconds: number; recipients: number }[];
  /** How long the run's emulator had been up at the end of the measured time (s). */
  emulatorAgeSeconds: number;
  errors: string[];
}

async function broadcast(simulator: SimulatorProcess, mode: Mode): Promise<Broadcast> {
  const azurite = await startAzurite();
  const azuriteStarted = Date.now();
  try {
    return await broadcastOn(simulator, azurite, azuriteStarted, mode);
  } finally {
    await azurite.stop();
  }
}

async function broadcastOn(
  simulator: SimulatorProcess,
  azurite: Azurite,
  azuriteStarted: number,
  mode: Mode,
): Promise<Broadcast> {
  const id = tag();
  const settings = {
    ...appSettings(simulator, azurite, id, mode),
    ...(process.env.MERGE_TRACE ? { OUTBOX_TRACE: '1' } : {}),
  };
  const instances = await startInstances(INSTANCES, settings);
  let summaries: WorkerSummary[] | undefined;
  try {
    // The instances' warm-up calls (accounts of their own) are not part of the run.
    await resetSimulator(simulator);
    const producer = new QueueClient(azurite.connectionString, settings.SEND_QUEUE_NAME);
    await producer.createIfNotExists();
    const text = `Our summer sale starts today (${id})`;
    const ids = Array.from({ length: SENDS }, (_, i) => `bc-${id}-${i}`);
    const numbers = ids.map((_, i) => numberOf('86', i));
    const wanted = new Set(numbers.map(digits));
    const probe = storageProbe(azurite.connectionString, settings.SEND_QUEUE_NAME);

    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: DROP_CONCURRENCY }, async () => {
        while (next < SENDS) {
          const i = next++;
          await producer.sendMessage(
            JSON.stringify({ id: ids[i], messagetext: text, recipients: [numbers[i]] }),
          );
        }
      }),
    );
    const dropSeconds = (Date.now() - started) / 1000;

    let calls: SendCall[] = [];
    let end: number;
    if (mode === 'off') {
      end = started + OFF_SECONDS * 1000;
      await sleep(Math.max(0, end - Date.now()));
      calls = (await sendCalls(simulator)).filter((c) => c.text === text && c.arrivedAt <= end);
    } else {
      const deadline = started + MERGED_DEADLINE_SECONDS * 1000;
      for (;;) {
        calls = (await sendCalls(simulator)).filter((c) => c.text === text);
        const seen = new Set(
          calls.filter((c) => c.httpStatus === 200).flatMap((c) => c.recipients),
        );
        if ([...wanted].every((n) => seen.has(n)) || Date.now() > deadline) break;
        const parked = await firstParked(azurite, settings.SEND_QUEUE_NAME);
        if (parked) throw new Error(`The merged broadcast had a send ${parked}`);
        await sleep(500);
      }
      end = Math.max(started, ...calls.map((c) => c.arrivedAt));
    }
    const probed = await probe.stop();

    // Statuses: on, wait (briefly) for every one to be final; off, count those that are.
    const statuses = TableClient.fromConnectionString(
      azurite.connectionString,
      settings.SEND_STATUS_TABLE_NAME,
      { allowInsecureConnection: true },
    );
    const ours = new Set(ids);
    const readFinal = async () => {
      const finishedAt: number[] = [];
      for await (const e of statuses.listEntities<{
        id: string;
        state: string;
        finishedAt?: number;
      }>({ queryOptions: { select: ['id', 'state', 'finishedAt'] } })) {
        if (ours.has(e.id) && (e.state === 'sent' || e.state === 'failed')) {
          finishedAt.push(Number(e.finishedAt ?? 0));
        }
      }
      return finishedAt;
    };
    let final = await readFinal();
    if (mode === 'on') {
      const deadline = Date.now() + 30_000;
      while (final.length < SENDS && Date.now() < deadline) {
        await sleep(500);
        final = await readFinal();
      }
    }
    summaries = await instances.stop();
    if (process.env.MERGE_TRACE) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(
        `${process.env.MERGE_TRACE}-${mode}-${id}.json`,
        JSON.stringify({ started, calls: await simulator.calls('send'), summaries, final }),
      );
    }

    const ok = calls.filter((c) => c.httpStatus === 200);
    const counts = new Map<string, number>();
    for (const n of ok.flatMap((c) => c.recipients)) counts.set(n, (counts.get(n) ?? 0) + 1);
    const duplicated = [...counts].filter(([, count]) => count > 1);
    const strangers = [...counts.keys()].filter((n) => !wanted.has(n));
    const missing = [...wanted].filter((n) => !counts.has(n));
    const recipients = [...counts.keys()].filter((n) => wanted.has(n)).length;
    const measuredSeconds = (end - started) / 1000;
    const sendOutcomes = mergeCounts(summaries, (s) => s.sends);
    const handled = summaries.reduce((sum, s) => sum + s.sends.handled, 0);
    const errors = summaries.flatMap((s) => s.errors);
    const parked = await firstParked(azurite, settings.SEND_QUEUE_NAME);
    if (parked) errors.unshift(parked);
    if (strangers.length > 0) errors.unshift(`${strangers.length} numbers not in the broadcast`);
    return {
      mode,
      sends: SENDS,
      ...(mode === 'off' ? { periodSeconds: OFF_SECONDS } : {}),
      dropSeconds,
      lastArrivalSeconds: measuredSeconds,
      ...(mode === 'on' && final.length === SENDS
        ? { allFinalSeconds: (Math.max(...final) - started) / 1000 }
        : {}),
      finalStatuses: final.length,
      calls: calls.length,
      failedCalls: calls.length - ok.length,
      recipientsPerCall: summarise(ok.map((c) => c.recipients.length)),
      recipients,
      duplicates: duplicated.reduce((sum, [, count]) => sum + count - 1, 0),
      missing: mode === 'on' ? missing.length : 0,
      duplicateExamples: duplicated.slice(0, 5).map(([n, count]) => `${n}×${count}`),
      missingExamples: mode === 'on' ? missing.slice(0, 5) : [],
      recipientsPerSecond: recipients / measuredSeconds,
      maxInAnyWindow: busiestWindow(
        calls.map((c) => c.arrivedAt).sort((a, b) => a - b),
        LIMIT.windowSeconds * 1000,
      ).count,
      sendOutcomes,
      deliveriesPerSend: handled / SENDS,
      limiter: limiterCounts(summaries),
      probeMs: summarise(probed.map((p) => p.ms)),
      slowestProbeAtSeconds:
        (probed.reduce((a, b) => (b.ms > a.ms ? b : a), { at: started, ms: 0 }).at - started) /
        1000,
      timeline: calls
        .map((c) => ({
          atSeconds: Math.round((c.arrivedAt - started) / 100) / 10,
          recipients: c.recipients.length,
        }))
        .sort((a, b) => a.atSeconds - b.atSeconds),
      emulatorAgeSeconds: (end - azuriteStarted) / 1000,
      errors: errors.slice(0, 5),
    };
  } finally {
    if (!summaries) instances.kill();
  }
}

// --- part 3: lone sends ---------------------------------------------------------------------

interface LoneResult {
  on: Summary;
  off: Summary;
  samples: { on: number[]; off: number[] };
  /** Enqueue to the handler's start (the queue's part), per variant (ms). */
  pickup: { on: Summary; off: Summary };
  /** The handler's start to the call's arrival at the simulator (the app's part) (ms). */
  toCall: { on: Summary; off: Summary };
  /** The handler's whole run, the work after the call included (ms). */
  handlerMs: { on: Summary; off: Summary };
  /** Each kept sample's two parts (ms), in order. */
  partSamples: Record<Mode, { pickup: number[]; toCall: number[] }>;
  outcomes: { on: Record<string, number>; off: Record<string, number> };
  wallSeconds: number;
  errors: string[];
}

async function loneSends(simulator: SimulatorProcess): Promise<LoneResult> {
  const azurite = await startAzurite();
  try {
    return await loneSendsOn(simulator, azurite);
  } finally {
    await azurite.stop();
  }
}

async function loneSendsOn(simulator: SimulatorProcess, azurite: Azurite): Promise<LoneResult> {
  const id = tag();
  const variants = ['on', 'off'] as const;
  // OUTBOX_TRACE keeps each outcome line with its moment: the handler's start is that moment
  // less its durationMs, which splits a latency into the queue's part and the app's part.
  const extra = { OUTBOX_TRACE: '1' };
  const settings = {
    on: { ...appSettings(simulator, azurite, id, 'on'), ...extra },
    off: { ...appSettings(simulator, azurite, id, 'off'), ...extra },
  };
  const started = await Promise.allSettled(
    variants.map((v) => startInstances(INSTANCES, settings[v])),
  );
  const sets = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed || sets.length !== 2) {
    for (const set of sets) set.kill();
    throw (failed as PromiseRejectedResult | undefined)?.reason ?? new Error('No instances.');
  }
  const [onSet, offSet] = sets as [(typeof sets)[0], (typeof sets)[0]];
  let stopped = false;
  try {
    await resetSimulator(simulator);
    const producers = {
      on: new QueueClient(azurite.connectionString, settings.on.SEND_QUEUE_NAME),
      off: new QueueClient(azurite.connectionString, settings.off.SEND_QUEUE_NAME),
    };
    const text = 'Your verification code is 482913';
    const samples: { on: number[]; off: number[] } = { on: [], off: [] };
    const sent: { variant: Mode; t0: number; arrivedAt: number; kept: boolean }[] = [];
    const wallStarted = performance.now();
    let k = 0;
    for (let round = 0; round < LONE_WARMUP + LONE_SAMPLES; round++) {
      for (const index of rotation(variants.length, round)) {
        const variant = variants[index]!;
        const number = numberOf('89', k++);
        const t0 = Date.now();
        await producers[variant].sendMessage(
          JSON.stringify({ id: `lone-${id}-${k}`, messagetext: text, recipients: [number] }),
        );
        const arrivedAt = await arrivalOf(simulator, digits(number), t0 + 20_000);
        const kept = round >= LONE_WARMUP;
        if (kept) samples[variant].push(arrivedAt - t0);
        sent.push({ variant, t0, arrivedAt, kept });
        await sleep(LONE_PAUSE_MS);
      }
    }
    const wallSeconds = (performance.now() - wallStarted) / 1000;
    const [onSummaries, offSummaries] = await Promise.all([onSet.stop(), offSet.stop()]);
    stopped = true;
    const traces = {
      on: onSummaries.flatMap((s) => s.sends.trace ?? []),
      off: offSummaries.flatMap((s) => s.sends.trace ?? []),
    };
    const parts = {
      on: { pickup: [] as number[], toCall: [] as number[], handler: [] as number[] },
      off: { pickup: [] as number[], toCall: [] as number[], handler: [] as number[] },
    };
    for (const s of sent.filter((x) => x.kept)) {
      // The delivery that made the call: started after the enqueue, before the arrival, and
      // ended after it.
      const delivery = traces[s.variant].find((t) => {
        const ms = Number(t.line.durationMs ?? 0);
        return t.at - ms >= s.t0 - 1 && t.at - ms <= s.arrivedAt && t.at >= s.arrivedAt - 1;
      });
      if (!delivery) continue;
      const start = delivery.at - Number(delivery.line.durationMs ?? 0);
      parts[s.variant].pickup.push(start - s.t0);
      parts[s.variant].toCall.push(s.arrivedAt - start);
      parts[s.variant].handler.push(Number(delivery.line.durationMs ?? 0));
    }
    return {
      on: summarise(samples.on),
      off: summarise(samples.off),
      samples,
      pickup: { on: summarise(parts.on.pickup), off: summarise(parts.off.pickup) },
      toCall: { on: summarise(parts.on.toCall), off: summarise(parts.off.toCall) },
      handlerMs: { on: summarise(parts.on.handler), off: summarise(parts.off.handler) },
      partSamples: {
        on: { pickup: parts.on.pickup, toCall: parts.on.toCall.map(micro) },
        off: { pickup: parts.off.pickup, toCall: parts.off.toCall.map(micro) },
      },
      outcomes: {
        on: mergeCounts(onSummaries, (s) => s.sends),
        off: mergeCounts(offSummaries, (s) => s.sends),
      },
      wallSeconds,
      errors: [...onSummaries, ...offSummaries].flatMap((s) => s.errors).slice(0, 5),
    };
  } catch (error) {
    if (stopped) throw error;
    stopped = true;
    // What the instances saw, so a failed run says why.
    const seen = await Promise.all([onSet.stop(), offSet.stop()]).catch(() => []);
    const why = seen
      .flat()
      .map((s) => `${JSON.stringify(s.sends.outcomes)} ${s.errors.slice(0, 2).join(' | ')}`);
    const parked = await Promise.all(
      variants.map((v) => firstParked(azurite, settings[v].SEND_QUEUE_NAME)),
    );
    throw new Error(
      `${error instanceof Error ? error.message : String(error)} ${why.join('; ')} ${parked.join(' ')}`,
    );
  } finally {
    if (!stopped) {
      onSet.kill();
      offSet.kill();
    }
  }
}

/** The first message parked in `queue`'s poison queue (its reason), if any. */
async function firstParked(azurite: Azurite, queue: string): Promise<string> {
  const poison = new QueueClient(azurite.connectionString, poisonQueueOf(queue));
  const peeked = await poison.peekMessages({ numberOfMessages: 1 }).catch(() => undefined);
  const text = peeked?.peekedMessageItems[0]?.messageText;
  return text ? `parked: ${text.slice(0, 600)}` : '';
}

/** When a send to `number` (digits) reached the simulator; polls its record every 20 ms. */
async function arrivalOf(simulator: SimulatorProcess, number: string, deadline: number) {
  for (;;) {
    const call = (await sendCalls(simulator)).find((c) => c.recipients.includes(number));
    if (call) return call.arrivedAt;
    if (Date.now() > deadline) throw new Error(`A lone send to ${number} never arrived.`);
    await sleep(20);
  }
}

// --- the table ------------------------------------------------------------------------------

const seconds = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : `${value.toFixed(1)} s`;
const signed = (value: number) => `${value >= 0 ? '+' : '−'}${formatMs(Math.abs(value))}`;
const perSecond = (value: number) => `${value.toFixed(1)}/s`;
const aimNote = (met: boolean) => (met ? 'met' : 'NOT met');

export async function run(): Promise<BenchResult> {
  const started = performance.now();
  const simulator = await startSimulatorProcess(API_KEY);
  try {
    const merged = await broadcast(simulator, 'on');
    const alone = await broadcast(simulator, 'off');
    const lone = await loneSends(simulator);
    return table(merged, alone, lone, (performance.now() - started) / 1000);
  } finally {
    await simulator.stop();
  }
}

function table(merged: Broadcast, off: Broadcast, lone: LoneResult, wallSeconds: number) {
  const projectedSeconds = SENDS / off.recipientsPerSecond;
  const rateRatio = ratio(merged.recipientsPerSecond, off.recipientsPerSecond);
  const loneP50 = ratio(lone.on.p50, lone.off.p50);
  const loneP99 = ratio(lone.on.p99, lone.off.p99);
  // The app's own part: the queue listener's poll before the handler starts is the same code for
  // both variants, and its phase is noise (uniform over its 100 ms period).
  const appP50 = ratio(lone.toCall.on.p50, lone.toCall.off.p50);
  const appP99 = ratio(lone.toCall.on.p99, lone.toCall.off.p99);
  const exact = merged.duplicates === 0 && merged.missing === 0;
  const callsMet = merged.calls <= AIM_CALLS;
  const drainMet =
    merged.allFinalSeconds !== undefined && merged.allFinalSeconds <= AIM_DRAIN_SECONDS;
  const ms = (s: Summary) => [`${formatMs(s.p50)} ms`, `${formatMs(s.p99)} ms`];
  const rows: BenchRow[] = [
    {
      label: `${SENDS} sends of one text, merged: first enqueue → last arrival`,
      cells: [
        seconds(merged.lastArrivalSeconds),
        merged.calls,
        perSecond(merged.recipientsPerSecond),
      ],
    },
    {
      label: `  the same, first enqueue → every status final`,
      cells: [seconds(merged.allFinalSeconds), '', ''],
    },
    {
      label: `${SENDS} sends, SEND_MERGE=off: the first ${OFF_SECONDS} s`,
      cells: [seconds(off.lastArrivalSeconds), off.calls, perSecond(off.recipientsPerSecond)],
    },
    {
      label: `  the same, projected drain of ${SENDS} at that rate`,
      cells: [`${seconds(projectedSeconds)} (projected)`, `${SENDS} (projected)`, ''],
    },
    { label: 'ratio merged/off (recipients per second)', cells: ['', '', formatRatio(rateRatio)] },
    { label: 'lone send on an idle app, merged: p50, p99', cells: [...ms(lone.on), ''] },
    { label: 'lone send on an idle app, off: p50, p99', cells: [...ms(lone.off), ''] },
    {
      label: 'ratio merged/off (p50, p99)',
      cells: [formatRatio(loneP50), formatRatio(loneP99), ''],
    },
    {
      label: '  the app part (handler start → arrival): ratio p50, p99',
      cells: [formatRatio(appP50), formatRatio(appP99), ''],
    },
  ];
  const split = (variant: Mode) =>
    `${variant}: queue ${formatMs(lone.pickup[variant].p50)} ms (enqueue → handler start) + app ${formatMs(lone.toCall[variant].p50)} ms (handler start → arrival), handler in all ${formatMs(lone.handlerMs[variant].p50)} ms`;
  const outcomes = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const broadcastNote = (b: Broadcast) =>
    `${b.mode === 'on' ? 'merged' : 'off'}: dropped in ${seconds(b.dropSeconds)}; ${b.calls} calls (${b.failedCalls} not 200), recipients per call p50 ${b.recipientsPerCall.p50} max ${b.recipientsPerCall.max}; ${b.recipients} recipients arrived, ${b.duplicates} duplicates${b.mode === 'on' ? `, ${b.missing} missing` : ''}${b.duplicateExamples.length > 0 ? ` (e.g. ${b.duplicateExamples.join(' ')})` : ''}${b.missingExamples.length > 0 ? ` (missing e.g. ${b.missingExamples.join(' ')})` : ''}; ${b.finalStatuses} statuses final; max ${b.maxInAnyWindow}/${LIMIT.maxCalls} calls in any ${LIMIT.windowSeconds} s; ${b.deliveriesPerSend.toFixed(2)} deliveries per send until the instances stopped (${outcomes(b.sendOutcomes)}); storage probe p50 ${formatMs(b.probeMs.p50)} ms max ${formatMs(b.probeMs.max)} ms (at +${b.slowestProbeAtSeconds.toFixed(1)} s); emulator up ${seconds(b.emulatorAgeSeconds)} at the end; limiter conflicts ${b.limiter.conflictRetries ?? 0}, reservations ${b.limiter.reservations ?? 0}` +
    (b.errors.length > 0 ? `; errors: ${b.errors.join(' | ')}` : '');
  return {
    title: `merge (${INSTANCES} instances, ${LIMIT.maxCalls} calls per ${LIMIT.windowSeconds} s)`,
    columns: ['time | p50', 'calls | p99', 'recipients/s | ratio'],
    rows,
    notes: [
      `limit: ${LIMIT.maxCalls} calls per ${LIMIT.windowSeconds} s, interactive reserve ${RESERVE} (the default), margin ${MARGIN_MS} ms, reservation tolerance ${TOLERANCE_MS} ms (as outbox); merge window ${WINDOW_MS} ms, up to ${MAX_PER_CALL} recipients per call (defaults); a fresh Azurite per part`,
      `aim: ≤ ${AIM_CALLS} calls → ${merged.calls} ${aimNote(callsMet)}; ≤ ${AIM_DRAIN_SECONDS} s to every status final → ${seconds(merged.allFinalSeconds)} ${aimNote(drainMet)} (last arrival ${seconds(merged.lastArrivalSeconds)}); every recipient exactly once → ${merged.duplicates} duplicates, ${merged.missing} missing ${aimNote(exact)} (from the simulator's recorded calls)`,
      `aim: a lone send within ${Math.round((AIM_LONE - 1) * 100)} % of off, in what the app does (handler start → arrival) → p50 ${formatRatio(appP50)} ${aimNote(appP50 <= AIM_LONE)}, p99 ${formatRatio(appP99)}; end to end (with the listener's poll) p50 ${formatRatio(loneP50)}, p99 ${formatRatio(loneP99)} (N=${lone.on.n} per variant)`,
      `off is measured for a fixed ${OFF_SECONDS} s from the first enqueue (draining ${SENDS} would take ~${Math.round((SENDS * SPAN_MS) / CAPACITY / 60_000)} min at ${CAPACITY} calls per ${(SPAN_MS / 1000).toFixed(1)} s); its drain time is projected, not measured; recipients/s = distinct recipients arrived ÷ (first enqueue → last arrival, or the period)`,
      broadcastNote(merged),
      `merged calls (s from the first enqueue: recipients): ${merged.timeline.map((t) => `+${t.atSeconds.toFixed(1)}: ${t.recipients}`).join(', ')}`,
      broadcastNote(off),
      `lone sends: enqueue (sendMessage on the queue) → arrival at the simulator; one at a time, the next ${LONE_PAUSE_MS} ms after the last arrived (> SEND_MERGE_WINDOW_MS, so the key is idle), alternating between two instance sets on one Azurite (SEND_MERGE=on, off; ${INSTANCES} instances each), one text per set, ${LONE_WARMUP} pairs discarded first`,
      `lone split (p50): ${split('on')}; ${split('off')}; merged − off: queue ${signed(lone.pickup.on.p50 - lone.pickup.off.p50)} ms (the listeners' 100 ms polls, alike for both: noise), app ${signed(lone.toCall.on.p50 - lone.toCall.off.p50)} ms at p50, ${signed(lone.toCall.on.min - lone.toCall.off.min)} ms at the minimum (the least noisy view of a fixed cost)`,
      `lone outcomes: on ${outcomes(lone.outcomes.on)}; off ${outcomes(lone.outcomes.off)}` +
        (lone.errors.length > 0 ? `; errors: ${lone.errors.join(' | ')}` : ''),
      `${seconds(wallSeconds)} in all (lone sends ${seconds(lone.wallSeconds)})`,
    ],
    data: {
      limit: LIMIT,
      interactiveReserve: RESERVE,
      marginMs: MARGIN_MS,
      toleranceMs: TOLERANCE_MS,
      mergeWindowMs: WINDOW_MS,
      maxRecipientsPerCall: MAX_PER_CALL,
      instances: INSTANCES,
      merged: {
        ...merged,
        recipientsPerCall: rounded(merged.recipientsPerCall),
        probeMs: rounded(merged.probeMs),
        aims: { calls: AIM_CALLS, drainSeconds: AIM_DRAIN_SECONDS },
      },
      off: {
        ...off,
        recipientsPerCall: rounded(off.recipientsPerCall),
        probeMs: rounded(off.probeMs),
        projectedDrainSeconds: projectedSeconds,
      },
      ratioMergedOverOffRecipientsPerSecond: rateRatio,
      lone: {
        onMs: rounded(lone.on),
        offMs: rounded(lone.off),
        ratioP50: loneP50,
        ratioP99: loneP99,
        aim: AIM_LONE,
        pauseMs: LONE_PAUSE_MS,
        samplesMs: lone.samples,
        pickupMs: { on: rounded(lone.pickup.on), off: rounded(lone.pickup.off) },
        toCallMs: { on: rounded(lone.toCall.on), off: rounded(lone.toCall.off) },
        partSamplesMs: lone.partSamples,
        handlerMs: { on: rounded(lone.handlerMs.on), off: rounded(lone.handlerMs.off) },
        outcomes: lone.outcomes,
        wallSeconds: lone.wallSeconds,
      },
      wallSeconds,
    },
  };
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  console.log(formatTable(await run()));
}
