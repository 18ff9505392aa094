/**
 * One app instance of the outbox and merge benchmarks (bench/outbox.bench.ts,
 * bench/merge.bench.ts), run as `node --import tsx bench/outbox-worker.ts` with the app's settings
 * in the environment (AzureWebJobsStorage, SENDMODE_BASE_URL, SENDMODE_API_KEY,
 * SENDMODE_ACCOUNT_NAME, SEND_QUEUE_NAME, IMPORT_QUEUE_NAME, RATE_LIMIT_*, and SEND_MERGE,
 * SEND_MERGE_TABLE_NAME and the like when set: every setting is read from the environment).
 *
 * It runs the app's queue handlers in this process the way the Functions host does, one listener
 * per queue: `sendQueuedSms` on SEND_QUEUE_NAME and `importCustomer` on IMPORT_QUEUE_NAME. Each
 * listener receives a batch of up to 8 messages (host.json `batchSize`), fetches the next batch
 * once 4 or fewer are still running (`newBatchThreshold`), polls every 100 ms while the queue
 * looks empty (deferred messages wait invisible), hands each message over as the host does (the
 * text JSON-parsed when it parses, with triggerMetadata `{ id, dequeueCount }`), deletes it once
 * the handler returns, and on a throw leaves it invisible for host.json's `visibilityTimeout`
 * (10 s) so it comes back as the host's redelivery would.
 *
 * Protocol on stdout, one JSON line each: `{"ready":true}` once loaded, warmed up (a few sends
 * and imports on an account and queues of its own, the limit out of reach, so nothing of it
 * touches the measured limit or queues; the parent clears the simulator's record afterwards) and
 * listening; then, when a line `stop` arrives on stdin (or stdin closes), it stops fetching, lets
 * running handlers finish and prints its `WorkerSummary`.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

import functions from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';

import { rateLimiterFromSettings, type RateLimiterStats } from '../shared/limit/rate-limiter.js';
import { getServices, resetServices } from '../shared/services.js';
import { resetSettings } from '../shared/settings.js';

const BATCH_SIZE = 8;
const NEW_BATCH_THRESHOLD = 4;
const POLL_MS = 100;
/** How long a received message stays invisible to other instances while it is handled (s). */
const LEASE_SECONDS = 60;
/** host.json `visibilityTimeout`: how long a message whose handler threw waits (s). */
const REDELIVERY_SECONDS = 10;

export interface ListenerSummary {
  queue: string;
  /** Receives made, and those that found nothing. */
  receives: number;
  emptyReceives: number;
  /** Messages handed to the handler. */
  handled: number;
  /** Outcomes the handler logged (`done`, `defer`, `retry`, `poison`), with their count. */
  outcomes: Record<string, number>;
  /** Of the deferrals, those that carried a reservation. */
  deferredWithReservation: number;
  /** Handler throws (the message is left for the host's redelivery). */
  throws: number;
  /** The most times one message had been deferred before (the handler's `deferrals` field). */
  maxDeferrals: number;
  /** With OUTBOX_TRACE set: every outcome line, with the moment it was logged (ms since the epoch). */
  trace?: { at: number; line: Record<string, unknown> }[];
}

export interface WorkerSummary {
  pid: number;
  sends: ListenerSummary;
  imports: ListenerSummary;
  limiter: RateLimiterStats;
  errors: string[];
}

function emit(value: unknown): Promise<void> {
  return new Promise((resolve) =>
    process.stdout.write(`${JSON.stringify(value)}\n`, () => resolve()),
  );
}

// Outside the Functions host, @azure/functions warns when a function registers: noise here.
const warn = console.warn;
console.warn = () => undefined;
const { sendQueuedSms } = await import('../functions/send-queued-sms.js');
const { importCustomer } = await import('../functions/import-customer.js');
console.warn = warn;
// Node's ESM loader does not see these as named exports of the CommonJS @azure/functions.
const { InvocationContext } = functions;

type QueueHandler = (message: unknown, context: InstanceType<typeof InvocationContext>) => unknown;

const errors: string[] = [];
const noteError = (error: unknown) => {
  if (errors.length < 20) errors.push(error instanceof Error ? error.message : String(error));
};

/** The message as the Node.js worker hands it over: JSON-parsed when it parses. */
function asHanded(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function contextFor(
  functionName: string,
  id: string,
  dequeueCount: number,
  onLine: (line: string) => void,
) {
  return new InvocationContext({
    functionName,
    invocationId: `${process.pid}-${Math.random().toString(36).slice(2)}`,
    triggerMetadata: { id, dequeueCount },
    logHandler: (_level, ...args) => onLine(args.map(String).join(' ')),
  });
}

/** Counts what one handler log line says about the delivery. */
function record(summary: ListenerSummary, line: string): void {
  let parsed: { outcome?: unknown; reserved?: unknown; deferrals?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return; // not the structured outcome line
  }
  if (typeof parsed.outcome !== 'string') return;
  summary.trace?.push({ at: Date.now(), line: parsed as Record<string, unknown> });
  summary.outcomes[parsed.outcome] = (summary.outcomes[parsed.outcome] ?? 0) + 1;
  if (parsed.outcome === 'defer' && parsed.reserved === true) summary.deferredWithReservation++;
  if (typeof parsed.deferrals === 'number') {
    summary.maxDeferrals = Math.max(summary.maxDeferrals, parsed.deferrals);
  }
}

function newSummary(queue: string): ListenerSummary {
  return {
    queue,
    receives: 0,
    emptyReceives: 0,
    handled: 0,
    outcomes: {},
    deferredWithReservation: 0,
    throws: 0,
    maxDeferrals: 0,
    ...(process.env.OUTBOX_TRACE ? { trace: [] } : {}),
  };
}

/** One queue listener, as the host runs one per queue-triggered function. */
function listen(
  queue: QueueClient,
  functionName: string,
  handler: QueueHandler,
  summary: ListenerSummary,
  stopped: () => boolean,
): Promise<void> {
  const running = new Set<Promise<void>>();
  const handle = async (item: {
    messageId: string;
    popReceipt: string;
    dequeueCount: number;
    messageText: string;
  }) => {
    summary.handled++;
    const context = contextFor(functionName, item.messageId, item.dequeueCount, (line) =>
      record(summary, line),
    );
    try {
      await handler(asHanded(item.messageText), context);
    } catch (error) {
      summary.throws++;
      noteError(error);
      await queue
        .updateMessage(item.messageId, item.popReceipt, undefined, REDELIVERY_SECONDS)
        .catch(noteError);
      return;
    }
    await queue.deleteMessage(item.messageId, item.popReceipt).catch(noteError);
  };
  return (async () => {
    while (!stopped()) {
      if (running.size > NEW_BATCH_THRESHOLD) {
        await Promise.race(running);
        continue;
      }
      let items;
      try {
        summary.receives++;
        ({ receivedMessageItems: items } = await queue.receiveMessages({
          numberOfMessages: BATCH_SIZE,
          visibilityTimeout: LEASE_SECONDS,
        }));
      } catch (error) {
        noteError(error);
        await sleep(POLL_MS);
        continue;
      }
      if (items.length === 0) {
        summary.emptyReceives++;
        await sleep(POLL_MS);
        continue;
      }
      for (const item of items) {
        const task: Promise<void> = handle(item).finally(() => running.delete(task));
        running.add(task);
      }
    }
    await Promise.all(running);
  })();
}

/** Rebuilds settings and services from the environment with `overrides` applied. */
async function useSettings(overrides: Record<string, string | undefined>): Promise<void> {
  for (const [setting, value] of Object.entries(overrides)) {
    if (value === undefined) delete process.env[setting];
    else process.env[setting] = value;
  }
  resetSettings();
  await resetServices();
  await getServices();
}

/**
 * Warms the whole path up (module code, the Table and Queue SDK pipelines, the HTTP client) on
 * an account and queues of this process's own, with the limit out of reach: nothing of it may
 * take a slot of the measured limit or land on the measured queues (a deferral is re-enqueued on
 * the configured queue). A cold process's first calls are slow, and a margin of 200 ms is not
 * there to cover that.
 */
async function warmUp(): Promise<void> {
  const ignore = () => undefined;
  for (let round = 0; round < 3; round++) {
    await Promise.all([
      ...Array.from({ length: 3 }, (_, i) =>
        sendQueuedSms(
          {
            id: `warmup-${process.pid}-${round}-${i}`,
            // A text per round: with SEND_MERGE on, a key that made a call within the merge
            // window waits for company (up to 2 s), which a warm-up has no use for.
            message: { messagetext: `warm-up ${round}-${i}`, recipients: ['+353870000001'] },
          },
          contextFor('send-queued-sms', `w${round}${i}`, 1, ignore),
        ),
      ),
      importCustomer(
        { group: 'warm-up', mobilenumber: `+3538700000${10 + round}` },
        contextFor('import-customer', `wi${round}`, 1, ignore),
      ),
    ]);
  }
}

const measured = Object.fromEntries(
  ['SENDMODE_ACCOUNT_NAME', 'SEND_QUEUE_NAME', 'IMPORT_QUEUE_NAME', 'RATE_LIMIT_MAX_CALLS'].map(
    (setting) => [setting, process.env[setting]],
  ),
);
const own = `warmup${process.pid}x${Math.random().toString(36).slice(2, 8)}`;
await useSettings({
  SENDMODE_ACCOUNT_NAME: own,
  SEND_QUEUE_NAME: `${own}-send`,
  IMPORT_QUEUE_NAME: `${own}-import`,
  RATE_LIMIT_MAX_CALLS: '1000',
});
await warmUp();
await useSettings(measured);
const { settings } = await getServices();
const limiter = await rateLimiterFromSettings(settings);
const before = limiter.stats();

const connection = settings.AzureWebJobsStorage ?? '';
const sendQueue = new QueueClient(connection, settings.SEND_QUEUE_NAME);
const importQueue = new QueueClient(connection, settings.IMPORT_QUEUE_NAME);
await Promise.all([sendQueue.createIfNotExists(), importQueue.createIfNotExists()]);

let stop = false;
const lines = createInterface({ input: process.stdin });
const stopRequested = new Promise<void>((resolve) => {
  lines.on('line', (line) => {
    if (line.trim() === 'stop') resolve();
  });
  lines.on('close', () => resolve());
});

const sends = newSummary(settings.SEND_QUEUE_NAME);
const imports = newSummary(settings.IMPORT_QUEUE_NAME);
const listeners = [
  listen(sendQueue, 'send-queued-sms', sendQueuedSms, sends, () => stop),
  listen(importQueue, 'import-customer', importCustomer, imports, () => stop),
];
await emit({ ready: true });

await stopRequested;
stop = true;
lines.close();
process.stdin.destroy();
await Promise.all(listeners);
const after = limiter.stats();
const delta = Object.fromEntries(
  Object.entries(after).map(([key, value]) => [
    key,
    value - (before[key as keyof RateLimiterStats] ?? 0),
  ]),
) as unknown as RateLimiterStats;
const summary: WorkerSummary = { pid: process.pid, sends, imports, limiter: delta, errors };
await emit(summary);
await resetServices();
process.exit(0);
