/**
 * backlog: what a queue backlog costs under the shared limit, and how fast it drains.
 *
 * Two local hosts (two instances of the built app, `tools/local-host`) share one Azurite and one
 * Sendmode simulator, at a small limit (10 calls per 2 s, no interactive reserve, so the ideal
 * drain time is backlog ÷ 5 per second). A backlog of N customers is dropped on the import queue
 * at once, as plain JSON by the Storage SDK, and the run ends when the simulator has N imports.
 * The hosts reach Azurite through a counting proxy, so every storage transaction the app makes
 * (limiter reads and writes, queue receives, deletes, deferral writes) is counted on the wire.
 * Two backlog sizes, one four times the other, run side by side: the per-message figures
 * should stay flat and drain time should stay near the ideal.
 *
 * `npx tsx bench/backlog.bench.ts` runs it alone; BACKLOG_SIZES=100,400 picks other sizes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

import { QueueClient } from '@azure/storage-queue';

import { type Azurite, startAzurite } from '../test/helpers/azurite.js';
import { ensureBuilt } from '../test/helpers/build.js';
import { busiestWindow, maxInAnyWindow } from '../test/helpers/limit-run.js';
import {
  type HostProcess,
  type SimulatorProcess,
  startHostProcess,
  startSimulatorProcess,
} from '../test/helpers/processes.js';
import { type BenchResult, type BenchRow, formatTable } from './stats.js';

export const name = 'backlog';

const API_KEY = 'bench-backlog-key';
const LIMIT = { maxCalls: 10, windowSeconds: 2 };
const MARGIN_MS = 200;
const TOLERANCE_MS = 250;
const HOSTS = 2;
const SIZES = (process.env.BACKLOG_SIZES ?? '300,1200').split(',').map(Number);
const IDEAL_PER_SECOND = LIMIT.maxCalls / LIMIT.windowSeconds;

type Counts = Record<string, number>;

/** What a storage request is, from its method and path (Azurite's path-style URLs). */
function classify(service: 'table' | 'queue', method: string, path: string): string {
  if (service === 'table') {
    if (/sliding-log/.test(decodeURIComponent(path))) {
      return method === 'GET' ? 'limiter read' : 'limiter write';
    }
    return 'other table';
  }
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  if (parts[2] === 'messages') {
    if (method === 'GET') return 'queue receive';
    if (method === 'DELETE') return 'queue delete';
    if (method === 'POST') return parts[1]!.endsWith('-poison') ? 'poison write' : 'deferral write';
  }
  return 'other queue';
}

/** Forwards to Azurite and counts each request by kind. */
async function countingProxy(
  service: 'table' | 'queue',
  targetPort: number,
  counts: Counts,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const kind = classify(service, req.method ?? 'GET', req.url ?? '/');
    counts[kind] = (counts[kind] ?? 0) + 1;
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (kind === 'queue receive') {
          // A receive that found nothing is a poll of a queue whose messages all wait unseen.
          let found = false;
          answer.on('data', (chunk: Buffer) => (found ||= chunk.includes('<QueueMessage>')));
          answer.on('end', () => {
            if (!found) counts['empty poll'] = (counts['empty poll'] ?? 0) + 1;
          });
        }
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** Azurite's connection string with its table and queue endpoints moved to the proxies. */
function proxied(azurite: Azurite, tablePort: number, queuePort: number): string {
  return azurite.connectionString
    .replace(`:${azurite.tablePort}/`, `:${tablePort}/`)
    .replace(`:${azurite.queuePort}/`, `:${queuePort}/`);
}

interface BacklogRun {
  size: number;
  drainSeconds: number;
  idealSeconds: number;
  drainOverIdeal: number;
  deferralsPerMessage: number;
  limiterOpsPerMessage: number;
  storageOpsPerMessage: number;
  counts: Counts;
  maxInAnyWindow: number;
  /** Arrival offsets (ms) in the busiest 2 s window, from its first. */
  busiestWindow: number[];
  imported: number;
  duplicates: number;
}

async function runBacklog(azurite: Azurite, size: number): Promise<BacklogRun> {
  // Its own process, fresh per run: arrival times are taken on an event loop of their own.
  const simulator: SimulatorProcess = await startSimulatorProcess(API_KEY);
  const counts: Counts = {};
  const [table, queue] = await Promise.all([
    countingProxy('table', azurite.tablePort, counts),
    countingProxy('queue', azurite.queuePort, counts),
  ]);
  const queueName = `backlog-${size}-${Date.now().toString(36)}`;
  const env = {
    AzureWebJobsStorage: proxied(azurite, table.port, queue.port),
    SENDMODE_BASE_URL: simulator.url,
    SENDMODE_API_KEY: API_KEY,
    KEY_VAULT_URI: '',
    SENDMODE_ACCOUNT_NAME: queueName,
    IMPORT_QUEUE_NAME: queueName,
    RATE_LIMIT_MAX_CALLS: String(LIMIT.maxCalls),
    RATE_LIMIT_WINDOW_SECONDS: String(LIMIT.windowSeconds),
    RATE_LIMIT_SAFETY_MARGIN_MS: String(MARGIN_MS),
    RATE_LIMIT_INTERACTIVE_RESERVE: '0',
    RATE_LIMIT_RESERVATION_TOLERANCE_MS: String(TOLERANCE_MS),
    // Poll often when the queue looks empty (every message is deferred), as a busy host does.
    AzureFunctionsJobHost__extensions__queues__maxPollingInterval: '00:00:00.100',
    AzureFunctionsJobHost__logging__logLevel__default: 'Warning',
  };
  let hosts: HostProcess[] = [];
  try {
    hosts = await Promise.all(Array.from({ length: HOSTS }, () => startHostProcess({ env })));
    for (const key of Object.keys(counts)) delete counts[key];
    const producer = new QueueClient(azurite.connectionString, queueName);
    await producer.createIfNotExists();
    const dropped = Date.now();
    for (let start = 0; start < size; start += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, size - start) }, (_, k) =>
          producer.sendMessage(
            JSON.stringify({
              group: 'backlog',
              mobilenumber: `+35387${String(10_000_000 + start + k).slice(1)}`,
            }),
          ),
        ),
      );
    }
    const idealSeconds = size / IDEAL_PER_SECOND;
    const deadline = Date.now() + (idealSeconds * 3 + 60) * 1000;
    let imports = await simulator.calls('import');
    while (imports.length < size && Date.now() < deadline) {
      await sleep(500);
      imports = await simulator.calls('import');
    }
    const last = Math.max(...imports.map((c) => c.arrivedAt));
    const drainSeconds = (last - dropped) / 1000;
    const numbers = new Set(imports.map((c) => JSON.stringify(c.payload)));
    if (process.env.BACKLOG_DUMP) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(
        `${process.env.BACKLOG_DUMP}-${size}.json`,
        JSON.stringify(imports.map((c) => Math.round(c.arrivedAt - dropped))),
      );
    }
    const arrivals = (await simulator.calls()).map((c) => c.arrivedAt).sort((a, b) => a - b);
    const total = (kinds: string[]) => kinds.reduce((sum, k) => sum + (counts[k] ?? 0), 0);
    // Empty polls are counted under 'queue receive' too: they cost per second, not per message.
    const all = Object.values(counts).reduce((a, b) => a + b, 0) - 2 * (counts['empty poll'] ?? 0);
    return {
      size,
      drainSeconds,
      idealSeconds,
      drainOverIdeal: drainSeconds / idealSeconds,
      deferralsPerMessage: (counts['deferral write'] ?? 0) / size,
      limiterOpsPerMessage: total(['limiter read', 'limiter write']) / size,
      storageOpsPerMessage: all / size,
      counts: { ...counts },
      busiestWindow: offsetsOfBusiest(arrivals),
      maxInAnyWindow: maxInAnyWindow(arrivals, LIMIT.windowSeconds * 1000),
      imported: numbers.size,
      duplicates: imports.length - numbers.size,
    };
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
    await simulator.stop();
    await Promise.all([table.close(), queue.close()]);
  }
}

/** The arrivals (ascending) of the busiest window, as offsets from its first. */
function offsetsOfBusiest(arrivals: number[]): number[] {
  const { start, count } = busiestWindow(arrivals, LIMIT.windowSeconds * 1000);
  const window = arrivals.slice(start, start + count);
  return window.map((t) => Math.round(t - window[0]!));
}

const two = (value: number) => value.toFixed(2);

export async function run(): Promise<BenchResult> {
  await ensureBuilt();
  const started = performance.now();
  const azurite = await startAzurite();
  try {
    const runs: BacklogRun[] = [];
    for (const size of SIZES) runs.push(await runBacklog(azurite, size));
    const rows: BenchRow[] = runs.map((r) => ({
      label: `${r.size} imports, ${HOSTS} hosts, ${LIMIT.maxCalls} per ${LIMIT.windowSeconds} s`,
      cells: [
        `${r.drainSeconds.toFixed(1)} s`,
        `${r.idealSeconds.toFixed(0)} s`,
        `${two(r.drainOverIdeal)}×`,
        two(r.deferralsPerMessage),
        two(r.limiterOpsPerMessage),
        two(r.storageOpsPerMessage),
        `${r.maxInAnyWindow}/${LIMIT.maxCalls}`,
      ],
    }));
    const [small, large] = runs;
    const growth =
      small && large ? large.storageOpsPerMessage / small.storageOpsPerMessage : Number.NaN;
    return {
      title: `backlog (Azurite via a counting proxy; margin ${MARGIN_MS} ms, tolerance ${TOLERANCE_MS} ms, reserve 0)`,
      columns: [
        'drain',
        'ideal',
        'drain/ideal',
        'deferrals/msg',
        'limiter ops/msg',
        'storage ops/msg',
        'max in 2 s',
      ],
      rows,
      notes: [
        small && large
          ? `per-message storage operations at ${large.size} vs ${small.size}: ${two(growth)}× (flat is 1×); deferrals/msg ${two(large.deferralsPerMessage)} vs ${two(small.deferralsPerMessage)}`
          : 'one size only',
        `ideal = backlog ÷ ${IDEAL_PER_SECOND}/s (the nominal limit, without the ${MARGIN_MS} ms margin); storage ops/msg leave out empty polls (every 100 ms per queue per host while all messages wait unseen: a cost per second, not per message)`,
        ...runs.map(
          (r) => `${r.size}: busiest 2 s window, arrivals at +ms ${r.busiestWindow.join(' ')}`,
        ),
        ...runs.map(
          (r) =>
            `${r.size}: imported ${r.imported} distinct, ${r.duplicates} duplicates; ${Object.entries(
              r.counts,
            )
              .sort()
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`,
        ),
        `${((performance.now() - started) / 1000).toFixed(1)} s in all`,
      ],
      data: {
        limit: LIMIT,
        marginMs: MARGIN_MS,
        toleranceMs: TOLERANCE_MS,
        hosts: HOSTS,
        runs,
        perMessageGrowth: growth,
      },
    };
  } finally {
    await azurite.stop();
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  console.log(formatTable(await run()));
}
