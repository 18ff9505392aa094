/**
 * The app itself under the local host, end to end through real HTTP and real queues: Azurite,
 * the Sendmode simulator and `tools/local-host/main.ts` (loading the built dist/functions/*.js
 * from package.json main) as child processes on free ports.
 */
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Azurite } from '../helpers/azurite.js';
import { base64Json as b64, freshSuffix, until } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import type { HostProcess, SimulatorProcess } from '../helpers/processes.js';

const KEY = 'e2e-key-4b1d';
const suffix = freshSuffix(6);
const IMPORT_QUEUE = `imports-${suffix}`;

let env: HostsEnv;
let azurite: Azurite;
let simulator: SimulatorProcess;
let host: HostProcess;
let routes: string[] = [];

beforeAll(async () => {
  env = await startHostsEnv(
    1,
    {
      IMPORT_QUEUE_NAME: IMPORT_QUEUE,
      OPT_OUT_QUEUE_NAME: `optout-${suffix}`,
      RATE_LIMIT_MAX_CALLS: '1000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
    },
    { apiKey: KEY },
  );
  ({ azurite, simulator } = env);
  host = env.hosts[0]!;
  const res = await fetch(`${host.url}/admin/functions`);
  const functions = (await res.json()) as { invoke_url_template?: string }[];
  routes = functions.flatMap((f) =>
    f.invoke_url_template ? [new URL(f.invoke_url_template).pathname] : [],
  );
}, 120_000);

afterAll(async () => env?.stop());

describe('the app under the local host', () => {
  it('serves GET /api/health without calling Sendmode', async () => {
    const res = await fetch(`${host.url}/api/health`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('ok');
    await host.waitFor(
      /Executed 'Functions\.health' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)/,
    );
  });

  it('sends an SMS through the simulator: POST /api/sms', async () => {
    const before = (await simulator.calls('send')).length;
    const res = await fetch(`${host.url}/api/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': 'any-key-locally' },
      body: JSON.stringify({ messagetext: 'Hello from e2e', recipients: ['+353871234567'] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; statusCode: number };
    expect(body.statusCode).toBe(0);
    expect((await simulator.calls('send')).length).toBe(before + 1);
  });

  it('answers 400 with problem details for an invalid send', async () => {
    const res = await fetch(`${host.url}/api/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: [] }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('checks credits: GET /api/credits', async () => {
    const res = await fetch(`${host.url}/api/credits`);
    expect(res.status).toBe(200);
    expect(typeof ((await res.json()) as { balance: unknown }).balance).toBe('number');
  });

  it('answers 404 for an unknown route and 405 for an undeclared method', async () => {
    expect((await fetch(`${host.url}/api/nope`)).status).toBe(404);
    expect((await fetch(`${host.url}/api/sms`)).status).toBe(405);
  });

  it('imports a customer dropped on the import queue', async () => {
    const queue = new QueueClient(azurite.connectionString, IMPORT_QUEUE);
    await queue.createIfNotExists();
    const before = (await simulator.calls('import')).length;
    await queue.sendMessage(b64({ group: 'E2E', mobilenumber: '+353871110001', firstname: 'Ada' }));
    await until('the import call', async () =>
      (await simulator.calls('import')).length > before ? true : undefined,
    );
    await until('the message to be deleted', async () => {
      const { peekedMessageItems } = await queue.peekMessages();
      return peekedMessageItems.length === 0 ? true : undefined;
    });
  });

  it('parks an invalid import message in <queue>-poison with the reason', async () => {
    const queue = new QueueClient(azurite.connectionString, IMPORT_QUEUE);
    const poison = new QueueClient(azurite.connectionString, `${IMPORT_QUEUE}-poison`);
    await queue.sendMessage(b64({ group: 'E2E', firstname: 'No number' }));
    const parked = await until('the poison message', async () => {
      if (!(await poison.exists())) return undefined;
      const { peekedMessageItems } = await poison.peekMessages();
      return peekedMessageItems[0]?.messageText;
    });
    const decoded = JSON.parse(parked) as {
      reason?: string;
      message?: unknown;
    };
    expect(decoded.reason).toBeTruthy();
    expect(decoded.message).toEqual({ group: 'E2E', firstname: 'No number' });
  });

  it('enqueues customers from POST /api/customers when that route exists', async (ctx) => {
    if (!routes.includes('/api/customers')) ctx.skip();
    const before = (await simulator.calls('import')).length;
    const res = await fetch(`${host.url}/api/customers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ group: 'E2E', mobilenumber: '+353871110002' }),
    });
    expect(res.status).toBe(202);
    await until('the import call', async () =>
      (await simulator.calls('import')).length > before ? true : undefined,
    );
  });

  it('records an opt-out from POST /api/optout when that route exists', async (ctx) => {
    if (!routes.includes('/api/optout')) ctx.skip();
    const res = await fetch(`${host.url}/api/optout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mobilenumber: '+353871110003' }),
    });
    expect([200, 202]).toContain(res.status);
    await until('the opt-out call', async () =>
      (await simulator.calls('optout')).length > 0 ? true : undefined,
    );
  });
});
