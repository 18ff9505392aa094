/**
 * local-host: the local functions host (tools/local-host) beside a bare `node:http` server doing
 * the same work (bench/bare-server.ts), in the same run:
 *
 * - cold start: from spawning the host's node command (what `npm run host` runs after its build)
 *   to the first 200 on GET /api/health, median of several runs, interleaved with the bare
 *   server's (both under `node --import tsx`, so the TypeScript loader is on both sides);
 * - throughput: requests per second each sustains on GET /api/health and on POST /api/sms
 *   against the Sendmode simulator (a child process), with the shared limiter set high
 *   (RATE_LIMIT_MAX_CALLS=1000 per 1 s window, a fresh Sendmode account) so it never refuses;
 *   an in-process undici load generator runs CONCURRENCY request loops for LOAD_SECONDS, after a
 *   warm-up; the variants alternate round by round.
 *
 * Azurite and the simulator run as child processes on free ports. Everything shares one small
 * machine with the load generator: read the ratios.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import { Pool } from 'undici';

import { type Azurite, startAzurite } from '../test/helpers/azurite.js';
import { ensureBuilt } from '../test/helpers/build.js';
import { freePort } from '../test/helpers/free-port.js';
import {
  type Child,
  type SimulatorProcess,
  spawnNode,
  startSimulatorProcess,
} from '../test/helpers/processes.js';
import { type BenchResult, formatMs, formatRatio, median, ratio, rotation } from './stats.js';

export const name = 'local-host';

const COLD_RUNS = 7;
const COLD_WARMUP_RUNS = 1;
const ROUNDS = 2;
const LOAD_SECONDS = 4;
const WARMUP_SECONDS = 1;
const CONCURRENCY = 16;
const API_KEY = 'bench-host-key';
const SMS = JSON.stringify({
  messagetext: 'Your order has shipped',
  recipients: ['+353871234567'],
});

type Variant = 'host' | 'bare';
const VARIANTS: readonly Variant[] = ['host', 'bare'];
const COMMAND: Record<Variant, string[]> = {
  host: ['--import', 'tsx', 'tools/local-host/main.ts'],
  bare: ['--import', 'tsx', 'bench/bare-server.ts'],
};

interface Server {
  child: Child;
  origin: string;
}

async function spawnServer(
  variant: Variant,
  env: Record<string, string>,
): Promise<{ server: Server; ms: number }> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawnNode(COMMAND[variant], {
    env: { ...env, PORT: String(port) },
    tailOnly: true,
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${origin}/api/health`);
      await res.arrayBuffer();
      if (res.status === 200) return { server: { child, origin }, ms: performance.now() - started };
    } catch {
      // not listening yet
    }
    if (child.process.exitCode !== null || Date.now() > deadline) {
      await child.stop('SIGKILL');
      throw new Error(`${variant} did not answer /api/health:\n${child.output().slice(-2000)}`);
    }
    await sleep(5);
  }
}

interface LoadResult {
  rps: number;
  p50Ms: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
}

async function load(origin: string, route: 'health' | 'sms', seconds: number): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: CONCURRENCY, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < stopAt) {
      const t = performance.now();
      try {
        const res = await pool.request(
          route === 'health'
            ? { method: 'GET', path: '/api/health' }
            : {
                method: 'POST',
                path: '/api/sms',
                headers: { 'content-type': 'application/json' },
                body: SMS,
              },
        );
        await res.body.dump();
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) ok++;
        else failed++;
      } catch {
        failed++;
        statuses.error = (statuses.error ?? 0) + 1;
      }
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return { rps: ok / elapsed, p50Ms: median(latencies), ok, failed, statuses };
}

export async function run(): Promise<BenchResult> {
  await ensureBuilt();
  let azurite: Azurite | undefined;
  let simulator: SimulatorProcess | undefined;
  const servers: Server[] = [];
  try {
    [azurite, simulator] = await Promise.all([startAzurite(), startSimulatorProcess(API_KEY)]);
    const env = (): Record<string, string> => ({
      AzureWebJobsStorage: azurite?.connectionString ?? '',
      SENDMODE_BASE_URL: simulator?.url ?? '',
      SENDMODE_API_KEY: API_KEY,
      KEY_VAULT_URI: '',
      SENDMODE_ACCOUNT_NAME: `bench${Math.random().toString(36).slice(2, 10)}`,
      RATE_LIMIT_MAX_CALLS: '1000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
      RATE_LIMIT_SAFETY_MARGIN_MS: '0',
      RATE_LIMIT_MAX_WAIT_SECONDS: '0',
      IMPORT_QUEUE_NAME: `bench-imports-${Math.random().toString(36).slice(2, 8)}`,
    });

    // Cold start, interleaved.
    const cold: Record<Variant, number[]> = { host: [], bare: [] };
    for (let i = 0; i < COLD_WARMUP_RUNS + COLD_RUNS; i++) {
      for (const v of rotation(VARIANTS.length, i)) {
        const variant = VARIANTS[v] as Variant;
        const { server, ms } = await spawnServer(variant, env());
        await server.child.stop('SIGTERM');
        if (i >= COLD_WARMUP_RUNS) cold[variant].push(ms);
      }
    }

    // Throughput: one warm server of each kind, alternating round by round.
    const running = {} as Record<Variant, Server>;
    for (const variant of VARIANTS) {
      running[variant] = (await spawnServer(variant, env())).server;
      servers.push(running[variant]);
    }
    const results: Record<Variant, Record<'health' | 'sms', LoadResult[]>> = {
      host: { health: [], sms: [] },
      bare: { health: [], sms: [] },
    };
    for (const variant of VARIANTS) {
      await load(running[variant].origin, 'health', WARMUP_SECONDS);
      await load(running[variant].origin, 'sms', WARMUP_SECONDS);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const route of ['health', 'sms'] as const) {
        for (const v of rotation(VARIANTS.length, round)) {
          const variant = VARIANTS[v] as Variant;
          results[variant][route].push(await load(running[variant].origin, route, LOAD_SECONDS));
        }
      }
    }

    const rps = (variant: Variant, route: 'health' | 'sms') =>
      median(results[variant][route].map((r) => r.rps));
    const p50 = (variant: Variant, route: 'health' | 'sms') =>
      median(results[variant][route].map((r) => r.p50Ms));
    const coldHost = median(cold.host);
    const coldBare = median(cold.bare);
    const failures = VARIANTS.flatMap((variant) =>
      (['health', 'sms'] as const).flatMap((route) =>
        results[variant][route]
          .filter((r) => r.failed > 0)
          .map((r) => `${variant} ${route}: ${r.failed} not 200 (${JSON.stringify(r.statuses)})`),
      ),
    );
    const round0 = (n: number) => Math.round(n);
    return {
      title: `local-host (cold N=${COLD_RUNS}; load ${ROUNDS}×${LOAD_SECONDS} s, ${CONCURRENCY} concurrent)`,
      columns: ['local host', 'bare node:http', 'host/bare'],
      rows: [
        {
          label: 'cold start → first 200 /api/health (ms, median)',
          cells: [formatMs(coldHost), formatMs(coldBare), formatRatio(ratio(coldHost, coldBare))],
        },
        {
          label: 'GET /api/health (req/s)',
          cells: [
            round0(rps('host', 'health')),
            round0(rps('bare', 'health')),
            formatRatio(ratio(rps('host', 'health'), rps('bare', 'health'))),
          ],
        },
        {
          label: 'GET /api/health p50 (ms)',
          cells: [
            formatMs(p50('host', 'health')),
            formatMs(p50('bare', 'health')),
            formatRatio(ratio(p50('host', 'health'), p50('bare', 'health'))),
          ],
        },
        {
          label: 'POST /api/sms → simulator (req/s)',
          cells: [
            round0(rps('host', 'sms')),
            round0(rps('bare', 'sms')),
            formatRatio(ratio(rps('host', 'sms'), rps('bare', 'sms'))),
          ],
        },
        {
          label: 'POST /api/sms p50 (ms)',
          cells: [
            formatMs(p50('host', 'sms')),
            formatMs(p50('bare', 'sms')),
            formatRatio(ratio(p50('host', 'sms'), p50('bare', 'sms'))),
          ],
        },
      ],
      notes: [
        'cold start: spawn of `node --import tsx <entry>` to the first 200 (the host also loads the app and its settings and starts its queue pollers); `npm run host` adds npm and the build',
        "req/s: 200 answers per second; the send path includes the app's shared limiter (Table Storage on Azurite) and validation, the bare server only forwards",
        ...(failures.length > 0 ? failures : ['every request answered 200']),
      ],
      data: {
        coldStartMs: cold,
        throughput: results,
        concurrency: CONCURRENCY,
        loadSeconds: LOAD_SECONDS,
        rounds: ROUNDS,
      },
    };
  } finally {
    await Promise.all(servers.map((s) => s.child.stop('SIGTERM')));
    await Promise.all([simulator?.stop(), azurite?.stop()]);
  }
}
