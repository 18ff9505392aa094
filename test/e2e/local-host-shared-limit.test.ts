/**
 * Three local hosts sharing one Azurite, like three instances of the app: together they hold the
 * shared limit (here 10 calls per rolling 2 s), checked from the arrivals the Sendmode simulator
 * recorded, not from what the hosts say.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import type { HostProcess, SimulatorProcess } from '../helpers/processes.js';

const KEY = 'e2e-limit-key';
const MAX_CALLS = 10;
const WINDOW_MS = 2_000;
const LOAD_MS = 5_000;

let env: HostsEnv;
let simulator: SimulatorProcess;
let hosts: HostProcess[] = [];

beforeAll(async () => {
  env = await startHostsEnv(
    3,
    {
      RATE_LIMIT_MAX_CALLS: String(MAX_CALLS),
      RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_MS / 1000),
      RATE_LIMIT_SAFETY_MARGIN_MS: '500',
      // No waiting for a slot: a call over the limit is answered 429 at once, so the limit is
      // reached however fast or slow this machine is (waiting callers would never see a 429).
      RATE_LIMIT_MAX_WAIT_SECONDS: '0',
    },
    { apiKey: KEY },
  );
  ({ simulator, hosts } = env);
}, 120_000);

afterAll(async () => env?.stop());

it('three hosts on one storage never exceed the shared limit in any rolling window', async () => {
  const statuses: number[] = [];
  /** Answers other than 200 and 429, with their bodies (a 503 from storage would say so). */
  const others: string[] = [];
  const okByHost = [0, 0, 0];
  const deadline = Date.now() + LOAD_MS;
  const loop = async (host: HostProcess, n: number) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const res = await fetch(`${host.url}/api/sms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messagetext: `limit ${n}-${i}`, recipients: ['+353871234567'] }),
      });
      const body = await res.text();
      statuses.push(res.status);
      if (res.status !== 200 && res.status !== 429)
        others.push(`${res.status} ${body.slice(0, 300)}`);
      const at = hosts.indexOf(host);
      if (res.status === 200) okByHost[at] = (okByHost[at] ?? 0) + 1;
      if (res.status === 429) await sleep(100);
    }
  };
  await Promise.all(hosts.flatMap((host, h) => [loop(host, h * 2), loop(host, h * 2 + 1)]));

  const arrivals = (await simulator.calls('send')).map((c) => c.arrivedAt).sort((a, b) => a - b);
  const ok = statuses.filter((s) => s === 200).length;
  expect(others).toEqual([]);
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  expect(arrivals.length).toBe(ok);
  // Every instance took part: the limit is shared, not per host.
  expect(okByHost.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  // Over 5 s the limit allows more than one window's worth: the limit was reached and freed.
  expect(arrivals.length).toBeGreaterThan(MAX_CALLS);

  let worst = 0;
  for (let i = 0; i < arrivals.length; i++) {
    let j = i;
    while (j < arrivals.length && (arrivals[j] ?? Infinity) < (arrivals[i] ?? 0) + WINDOW_MS) j++;
    worst = Math.max(worst, j - i);
  }
  expect(worst).toBeLessThanOrEqual(MAX_CALLS);
}, 60_000);
