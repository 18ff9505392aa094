/**
 * send-path: latency of one POST /api/sms through the app (the exported `sendSms` handler with a
 * real HttpRequest / InvocationContext: validation, key lookup, the shared limiter's round trip
 * to Table Storage on Azurite, the Sendmode client) against the simulator over real HTTP, beside
 * a bare undici POST of the same form body to the same simulator endpoint, and beside one
 * limiter decision alone (to show how much of the difference is the Table Storage round trip).
 *
 * The three variants are interleaved call by call (ABC, BCA, CAB, ...), sequentially, so noise on
 * this shared machine hits them alike. Each round uses a fresh Sendmode account name (a fresh
 * limiter log) so the limiter never blocks and its log stays small, as in production; the first
 * calls of every round (new connections, first log read) and a whole warm-up round are discarded.
 */
import { performance } from 'node:perf_hooks';

import azureFunctions, { type HttpResponseInit } from '@azure/functions';
import { Pool } from 'undici';

import { type RateLimiter, rateLimiterFromSettings } from '../shared/limit/rate-limiter.js';
import { resetServices } from '../shared/services.js';
import { parseSettings, resetSettings } from '../shared/settings.js';
import { type Azurite, startAzurite } from '../test/helpers/azurite.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../tools/sendmode-simulator/types.js';
import {
  type BenchResult,
  formatMs,
  formatRatio,
  ratio,
  rotation,
  rounded,
  summarise,
  type Summary,
} from './stats.js';

export const name = 'send-path';

// @azure/functions is a CommonJS bundle whose classes Node's ESM loader cannot see as named
// exports (they are getters): take them from the default export (module.exports).
const { HttpRequest, InvocationContext } = azureFunctions;
type HttpRequest = InstanceType<typeof HttpRequest>;
type InvocationContext = InstanceType<typeof InvocationContext>;

/** Measured rounds; each round has its own account (limiter log). */
const ROUNDS = 30;
/** Calls per variant per round that are kept. */
const MEASURED_PER_ROUND = 80;
/** Calls per variant at the start of each round that are thrown away. */
const WARMUP_PER_ROUND = 5;
/** A whole extra round at the start, thrown away (JIT, first connections, table creation). */
const WARMUP_ROUNDS = 1;

const API_KEY = 'bench-api-key-3c9e71';
const MESSAGE = { messagetext: 'Your order has shipped', recipients: ['+353 87 123 4567'] };
/** What the client puts on the wire for MESSAGE (recipients normalised by validation). */
const WIRE_MESSAGE = { messagetext: MESSAGE.messagetext, recipients: ['+353871234567'] };

type Variant = 'bare' | 'handler' | 'limiter';
const VARIANTS: readonly Variant[] = ['bare', 'handler', 'limiter'];

/** Settings the app reads, removed first so a developer's shell cannot change what is measured. */
const APP_SETTINGS = [
  'SENDMODE_BASE_URL',
  'SENDMODE_API_KEY',
  'KEY_VAULT_URI',
  'AzureWebJobsStorage',
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage__clientId',
  'SENDMODE_ACCOUNT_NAME',
  'RATE_LIMIT_MAX_CALLS',
  'RATE_LIMIT_WINDOW_SECONDS',
  'RATE_LIMIT_SAFETY_MARGIN_MS',
  'RATE_LIMIT_MAX_WAIT_SECONDS',
  'RATE_LIMIT_TABLE_NAME',
  'SENDMODE_MAX_CONNECTIONS',
];

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * Imports the handler with console.warn muted: outside the Functions host, @azure/functions
 * warns that it runs in test mode when a function registers, which is noise in a table.
 */
async function loadHandler(): Promise<Handler> {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    return (await import('../functions/send-sms.js')).sendSms;
  } finally {
    console.warn = warn;
  }
}

const micro = (ms: number) => Math.round(ms * 1000) / 1000;

function accountName(round: number): string {
  return `bench${round}x${Math.random().toString(36).slice(2, 10)}`;
}

interface Env {
  simulator: Simulator;
  azurite: Azurite;
  bare: Pool;
}

async function setAppSettings(values: Record<string, string>): Promise<void> {
  for (const name of APP_SETTINGS) delete process.env[name];
  Object.assign(process.env, values);
  resetSettings();
  await resetServices();
}

export async function run(): Promise<BenchResult> {
  const [simulator, azurite] = await Promise.all([
    startSimulator({ apiKeys: [API_KEY], balance: 1e9 }),
    startAzurite(),
  ]);
  const simulatorUrl = new URL(simulator.url);
  const env: Env = {
    simulator,
    azurite,
    bare: new Pool(simulatorUrl.origin, { connections: 10, keepAliveTimeout: 30_000 }),
  };
  const savedEnv = Object.fromEntries(APP_SETTINGS.map((name) => [name, process.env[name]]));
  try {
    return await measure(env, simulatorUrl.pathname.replace(/\/+$/, '') + '/send');
  } finally {
    await resetServices();
    for (const [name, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    resetSettings();
    await Promise.all([env.bare.close(), simulator.close(), azurite.stop()]);
  }
}

async function measure(env: Env, sendPath: string): Promise<BenchResult> {
  const sendSms = await loadHandler();
  const noLog = () => undefined;
  const requestBody = JSON.stringify(MESSAGE);
  const formBody = new URLSearchParams({ message: JSON.stringify(WIRE_MESSAGE) }).toString();
  const baseSettings = {
    SENDMODE_BASE_URL: env.simulator.url,
    SENDMODE_API_KEY: API_KEY,
    AzureWebJobsStorage: env.azurite.connectionString,
    RATE_LIMIT_MAX_CALLS: '1000',
    RATE_LIMIT_MAX_WAIT_SECONDS: '0',
  };
  const failures: string[] = [];
  const samples: Record<Variant, number[]> = { bare: [], handler: [], limiter: [] };
  let limiter: RateLimiter;

  const calls: Record<Variant, () => Promise<number>> = {
    async bare() {
      const started = performance.now();
      const response = await env.bare.request({
        method: 'POST',
        path: sendPath,
        headers: {
          authorization: API_KEY,
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: formBody,
      });
      const answer = JSON.parse(await response.body.text()) as { statusCode?: number };
      const elapsed = performance.now() - started;
      if (response.statusCode !== 200 || answer.statusCode !== 0) {
        failures.push(`bare: HTTP ${response.statusCode} ${JSON.stringify(answer)}`);
      }
      return elapsed;
    },
    async handler() {
      // Built outside the timed part: the host hands the handler a ready request.
      const request = new HttpRequest({
        method: 'POST',
        url: 'http://localhost/api/sms',
        headers: { 'content-type': 'application/json' },
        body: { string: requestBody },
      });
      const context = new InvocationContext({ functionName: 'send-sms', logHandler: noLog });
      const started = performance.now();
      const response = await sendSms(request, context);
      const elapsed = performance.now() - started;
      if (response.status !== 200) {
        failures.push(`handler: HTTP ${response.status} ${String(response.body)}`);
      }
      return elapsed;
    },
    async limiter() {
      const started = performance.now();
      const admission = await limiter.tryAcquire();
      const elapsed = performance.now() - started;
      if (!admission.admitted) failures.push('limiter: not admitted');
      return elapsed;
    },
  };

  const started = performance.now();
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    // Fresh accounts: the handler's limiter log and the lone limiter's log start empty.
    await setAppSettings({ ...baseSettings, SENDMODE_ACCOUNT_NAME: accountName(round) });
    limiter = await rateLimiterFromSettings(
      parseSettings({ ...baseSettings, SENDMODE_ACCOUNT_NAME: accountName(round) }),
    );
    env.simulator.reset(); // keeps the recorded-call list short
    const keep = round >= WARMUP_ROUNDS;
    for (let i = 0; i < WARMUP_PER_ROUND + MEASURED_PER_ROUND; i++) {
      for (const index of rotation(VARIANTS.length, i)) {
        const variant = VARIANTS[index] as Variant;
        const elapsed = await calls[variant]();
        if (keep && i >= WARMUP_PER_ROUND) samples[variant].push(elapsed);
      }
    }
    if (failures.length > 0) {
      throw new Error(`send-path: ${failures.length} calls failed, e.g. ${failures[0]}`);
    }
  }
  const wallSeconds = (performance.now() - started) / 1000;

  const bare = summarise(samples.bare);
  const handler = summarise(samples.handler);
  const limiterAlone = summarise(samples.limiter);
  const row = (label: string, s: Summary) => ({
    label,
    cells: [formatMs(s.p50), formatMs(s.p99), formatMs(s.mean)],
  });
  const handlerOverBare = ratio(handler.p50, bare.p50);
  const handlerMinusLimiterOverBare = ratio(handler.p50 - limiterAlone.p50, bare.p50);
  const n = ROUNDS * MEASURED_PER_ROUND;

  return {
    title: `send-path (N=${n} per variant, interleaved)`,
    columns: ['p50 ms', 'p99 ms', 'mean ms'],
    rows: [
      row('bare undici POST /send', bare),
      row('sendSms handler (validation+key+limiter+client)', handler),
      row('limiter tryAcquire alone (Azurite)', limiterAlone),
      { label: 'ratio handler/bare (p50)', cells: [formatRatio(handlerOverBare), '', ''] },
      {
        label: 'ratio (handler − limiter)/bare (p50)',
        cells: [formatRatio(handlerMinusLimiterOverBare), '', ''],
      },
    ],
    notes: [
      `aim: handler/bare ≤ 1.20× at p50 → ${handlerOverBare <= 1.2 ? 'met' : 'NOT met'}`,
      `the bare call is a loopback round trip (${formatMs(bare.p50)} ms): the handler's fixed cost (${formatMs(handler.p50 - bare.p50)} ms at p50) weighs far less beside a remote Sendmode call`,
      'the second ratio subtracts the lone limiter p50: roughly the path without the Table Storage round trip',
      `${ROUNDS} rounds × ${MEASURED_PER_ROUND} kept calls per variant (+${WARMUP_PER_ROUND} discarded per round, +${WARMUP_ROUNDS} warm-up round), sequential; ${wallSeconds.toFixed(1)} s`,
    ],
    data: {
      samplesPerVariant: n,
      rounds: ROUNDS,
      measuredPerRound: MEASURED_PER_ROUND,
      warmupPerRound: WARMUP_PER_ROUND,
      warmupRounds: WARMUP_ROUNDS,
      wallSeconds: Math.round(wallSeconds * 10) / 10,
      bareMs: rounded(bare),
      handlerMs: rounded(handler),
      limiterAloneMs: rounded(limiterAlone),
      ratioHandlerOverBareP50: Math.round(handlerOverBare * 1000) / 1000,
      ratioHandlerMinusLimiterOverBareP50: Math.round(handlerMinusLimiterOverBare * 1000) / 1000,
      aimRatioP50: 1.2,
      aimMet: handlerOverBare <= 1.2,
      samplesMs: {
        bare: samples.bare.map(micro),
        handler: samples.handler.map(micro),
        limiter: samples.limiter.map(micro),
      },
    },
  };
}
