/**
 * The loss check: N customer imports (dropped on the queue) and M opt-outs (through the webhook)
 * while the simulator fails calls at random. Afterwards every import is either in Sendmode or
 * parked in the poison queue (imported + poisoned = N, nothing left in flight) and every
 * opt-out is on Sendmode's list, taken by exactly one successful call.
 *
 * Runs the real app under the local host, with Azurite and the simulator as child processes.
 * Every injected fault leaves Sendmode untouched (the simulator answers before acting), so a
 * second successful call for the same customer or number would be a duplicate.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Azurite } from '../helpers/azurite.js';
import { freshSuffix } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import type { HostProcess, SimulatorProcess } from '../helpers/processes.js';

const KEY = 'loss-check-key';
const IMPORTS = 40;
const OPT_OUTS = 15;
const suffix = freshSuffix(6);
const IMPORT_QUEUE = `imports-${suffix}`;
const OPT_OUT_QUEUE = `optouts-${suffix}`;

/** Transient faults on every operation, plus permanent rejections of some imports. */
const FAULTS = [
  { kind: 'sendmode-error', operation: 'import', probability: 0.1 },
  { kind: 'http-error', httpStatus: 503, probability: 0.15 },
  { kind: 'reset', probability: 0.1 },
  { kind: 'system-error', probability: 0.1 },
  { kind: 'rate-limit', retryAfterSeconds: 1, probability: 0.05 },
];

let env: HostsEnv;
let azurite: Azurite;
let simulator: SimulatorProcess;
let host: HostProcess;

interface SimulatorState {
  contacts: Array<{ group: string; mobilenumber: string; importCount: number }>;
  optOuts: Array<{ mobilenumber: string; count: number }>;
}

async function state(): Promise<SimulatorState> {
  const res = await fetch(`${simulator.origin}/__admin/state`);
  return (await res.json()) as SimulatorState;
}

async function queueCount(name: string): Promise<number> {
  const queue = new QueueClient(azurite.connectionString, name);
  if (!(await queue.exists())) return 0;
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

beforeAll(async () => {
  env = await startHostsEnv(
    1,
    {
      SENDMODE_ACCOUNT_NAME: `loss${suffix}`,
      IMPORT_QUEUE_NAME: IMPORT_QUEUE,
      OPT_OUT_QUEUE_NAME: OPT_OUT_QUEUE,
      RATE_LIMIT_MAX_CALLS: '60',
      RATE_LIMIT_WINDOW_SECONDS: '1',
      RATE_LIMIT_SAFETY_MARGIN_MS: '0',
      QUEUE_RETRY_BASE_SECONDS: '1',
      QUEUE_RETRY_MAX_SECONDS: '2',
    },
    { apiKey: KEY },
  );
  ({ azurite, simulator } = env);
  host = env.hosts[0]!;
}, 120_000);

afterAll(async () => env?.stop());

describe('loss check', () => {
  it(`${IMPORTS} imports and ${OPT_OUTS} opt-outs under random faults: none lost, none doubled`, async () => {
    for (const fault of FAULTS) {
      const res = await fetch(`${simulator.origin}/__admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(fault),
      });
      expect(res.status).toBe(204);
    }

    const queue = new QueueClient(azurite.connectionString, IMPORT_QUEUE);
    await queue.createIfNotExists();
    const customers = Array.from({ length: IMPORTS }, (_, i) => ({
      group: 'loss-check',
      mobilenumber: `+35387${String(1_000_000 + i)}`,
      firstname: `Customer ${i}`,
    }));
    for (const customer of customers) {
      await queue.sendMessage(Buffer.from(JSON.stringify(customer)).toString('base64'));
    }

    const numbers = Array.from({ length: OPT_OUTS }, (_, i) => `+35386${String(2_000_000 + i)}`);
    const answers: number[] = [];
    for (const number of numbers) {
      // A webhook sender retries on 5xx; the opt-out itself must never need that to survive.
      for (let attempt = 0; attempt < 10; attempt += 1) {
        const res = await fetch(`${host.url}/api/optout`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ mobilenumber: number, optoutresponse: 'STOP' }),
        });
        answers.push(res.status);
        if (res.status < 500) break;
        await sleep(200);
      }
    }
    expect(answers.every((status) => [200, 202, 502, 503].includes(status))).toBe(true);

    const deadline = Date.now() + 120_000;
    let settled = false;
    let poisoned = 0;
    let current: SimulatorState = { contacts: [], optOuts: [] };
    while (Date.now() < deadline) {
      current = await state();
      poisoned = await queueCount(`${IMPORT_QUEUE}-poison`);
      const inFlight = (await queueCount(IMPORT_QUEUE)) + (await queueCount(OPT_OUT_QUEUE));
      const optedOut = new Set(current.optOuts.map((o) => o.mobilenumber));
      if (
        current.contacts.length + poisoned === IMPORTS &&
        inFlight === 0 &&
        numbers.every((n) => optedOut.has(n))
      ) {
        settled = true;
        break;
      }
      await sleep(500);
    }

    const calls = await simulator.calls();
    const faulted = calls.filter((c) => c.httpStatus !== 200 || (c as { fault?: string }).fault);
    console.log(
      `[loss-check] N=${IMPORTS} imports, M=${OPT_OUTS} opt-outs; ${calls.length} upstream calls, ` +
        `${faulted.length} faulted (${((100 * faulted.length) / calls.length).toFixed(1)} %); ` +
        `imported ${current.contacts.length} + poisoned ${poisoned}; ` +
        `webhook answers ${JSON.stringify(answers.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {}))}`,
    );
    expect(settled).toBe(true);
    expect(current.contacts.length + poisoned).toBe(IMPORTS);
    expect(current.contacts.every((contact) => contact.importCount === 1)).toBe(true);
    expect(faulted.length).toBeGreaterThan(0);
    for (const number of numbers) {
      expect(current.optOuts.find((o) => o.mobilenumber === number)?.count).toBe(1);
    }
  }, 180_000);
});
