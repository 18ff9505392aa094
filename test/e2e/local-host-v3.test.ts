/**
 * The built app under the local host with SENDMODE_API_VERSION=v3, against the simulator run as
 * `npm run simulator` does (main.ts, a child process): sends reach /3.0/send and /3.0/send/bulk
 * over real HTTP in the documented shape, what 3.0 does not offer answers 501, health says v3.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import { freshSuffix } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import type { HostProcess, SimulatorProcess } from '../helpers/processes.js';

const KEY = 'live_e2e-v3-key';
const suffix = freshSuffix(6);

let env: HostsEnv;
let simulator: SimulatorProcess;
let host: HostProcess;

interface Call {
  apiVersion: string;
  path: string;
  authorized: boolean;
  payload: unknown;
  isSuccessful?: boolean;
}

async function calls(): Promise<Call[]> {
  const res = await fetch(`${simulator.origin}/__admin/calls`);
  return ((await res.json()) as { calls: Call[] }).calls;
}

async function post(path: string, body: unknown) {
  const res = await fetch(`${host.url}/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  env = await startHostsEnv(
    1,
    ({ simulator }) => ({
      SENDMODE_API_VERSION: 'v3',
      SENDMODE_BASE_URL: `${simulator.origin}/3.0`,
      DEFAULT_SENDER_ID: 'AcmeE2E',
      SENDMODE_ACCOUNT_NAME: `e2ev3${suffix}`,
      IMPORT_QUEUE_NAME: `imports-${suffix}`,
      OPT_OUT_QUEUE_NAME: `optout-${suffix}`,
    }),
    { apiKey: KEY },
  );
  simulator = env.simulator;
  host = env.hosts[0]!;
}, 120_000);

afterAll(async () => env?.stop());

it('health reports v3', async () => {
  const res = await fetch(`${host.url}/api/health`);
  expect(((await res.json()) as { sendmodeApi: unknown }).sendmodeApi).toEqual({
    version: 'v3',
    name: 'v3 (Engage, 3.0)',
  });
});

it('a send to one number reaches /3.0/send; to several, one /3.0/send/bulk', async () => {
  const single = await post('sms', { messagetext: 'Hello', recipients: ['+353 87 000 0001'] });
  expect(single.status).toBe(200);
  expect(single.json).toMatchObject({ status: 'OK', statusCode: 0 });
  const bulk = await post('sms', {
    messagetext: 'Hello all',
    recipients: ['+353870000001', '+353870000002'],
    senderid: 'Acme',
  });
  expect(bulk.status).toBe(200);
  const sends = (await calls()).filter((c) => c.apiVersion === 'v3');
  expect(sends.map((c) => [c.path, c.authorized, c.isSuccessful])).toEqual([
    ['/3.0/send', true, true],
    ['/3.0/send/bulk', true, true],
  ]);
  // A single send carries the app's reference (customer_id), so its delivery reports match it.
  expect(sends[0]?.payload).toEqual({
    sender_id: 'AcmeE2E',
    message: 'Hello',
    mobile_number: '+353870000001',
    customer_id: expect.stringMatching(/^sm[0-9a-f]{24}$/),
  });
  expect(sends[1]?.payload).toEqual({
    sender_id: 'Acme',
    message: 'Hello all',
    mobile_numbers: ['+353870000001', '+353870000002'],
  });
});

it('credits and customer imports answer 501 and call nothing', async () => {
  const before = (await calls()).length;
  const credits = await fetch(`${host.url}/api/credits`);
  expect(credits.status).toBe(501);
  expect(credits.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect(((await credits.json()) as { detail: string }).detail).toMatch(/credit balance/);
  const customers = await post('customers', { group: 'vip', mobilenumber: '+353870000001' });
  expect(customers.status).toBe(501);
  expect((await calls()).length).toBe(before);
});
