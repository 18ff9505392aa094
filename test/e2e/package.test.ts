/**
 * The deployment package, as scripts/package-app.sh builds it for azd, run by the local host
 * from a folder outside the repository (so nothing can come from its node_modules), against
 * Azurite and the Sendmode simulator. Its host.json is changed (plain messages, one attempt):
 * the bundle must find host.json from its own location (dist/app/), or it would encode and
 * retry by the defaults instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Azurite } from '../helpers/azurite.js';
import { freshSuffix, until } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import { type HostProcess, ROOT, type SimulatorProcess } from '../helpers/processes.js';

const KEY = 'package-e2e-key';
const suffix = freshSuffix(6);
const IMPORT_QUEUE = `pkg-imports-${suffix}`;

let stage: string;
let env: HostsEnv;
let azurite: Azurite;
let simulator: SimulatorProcess;
let host: HostProcess;

beforeAll(async () => {
  stage = mkdtempSync(join(tmpdir(), 'sendmode-package-'));
  execFileSync('bash', [join(ROOT, 'scripts', 'package-app.sh')], {
    cwd: ROOT,
    env: { ...process.env, PACKAGE_DIR: stage },
    stdio: 'pipe',
  });
  const hostJson = JSON.parse(readFileSync(join(stage, 'host.json'), 'utf8')) as {
    extensions: { queues: Record<string, unknown> };
  };
  hostJson.extensions.queues.messageEncoding = 'none';
  hostJson.extensions.queues.maxDequeueCount = 1;
  writeFileSync(join(stage, 'host.json'), JSON.stringify(hostJson, null, 2));

  env = await startHostsEnv(
    1,
    {
      SENDMODE_ACCOUNT_NAME: `pkg${suffix}`,
      IMPORT_QUEUE_NAME: IMPORT_QUEUE,
      OPT_OUT_QUEUE_NAME: `pkg-optout-${suffix}`,
      RATE_LIMIT_MAX_CALLS: '1000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
    },
    { apiKey: KEY, app: stage },
  );
  ({ azurite, simulator } = env);
  host = env.hosts[0]!;
}, 180_000);

afterAll(async () => {
  await env?.stop();
  if (stage) rmSync(stage, { recursive: true, force: true });
});

describe('the deployment package under the local host', () => {
  it('is loaded from its bundle, with no node_modules beside it', () => {
    expect(existsSync(join(stage, 'node_modules'))).toBe(false);
    expect(host.output()).toContain('send-sms: [POST]');
  });

  it('sends an SMS through the simulator: POST /api/sms', async () => {
    const before = (await simulator.calls('send')).length;
    const res = await fetch(`${host.url}/api/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        messagetext: 'Hello from the package',
        recipients: ['+353871234567'],
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { statusCode: number }).statusCode).toBe(0);
    expect((await simulator.calls('send')).length).toBe(before + 1);
  });

  it('answers 400 with problem details for a malformed body', async () => {
    const res = await fetch(`${host.url}/api/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"messagetext": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('enqueues customers (POST /api/customers) and the queue trigger imports them', async () => {
    const before = (await simulator.calls('import')).length;
    const res = await fetch(`${host.url}/api/customers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ group: 'Package', mobilenumber: '+353871110003' }),
    });
    expect(res.status).toBe(202);
    await until('the import call', async () =>
      (await simulator.calls('import')).length > before ? true : undefined,
    );
    const poison = new QueueClient(azurite.connectionString, `${IMPORT_QUEUE}-poison`);
    const parked = (await poison.exists()) ? (await poison.peekMessages()).peekedMessageItems : [];
    expect(parked).toEqual([]);
  });

  it("gives up after the package host.json's maxDequeueCount (1): found from dist/app/", async () => {
    // Sendmode fails the next import: a transient error, parked at once only if the app read
    // maxDequeueCount 1 from the package's host.json (the default, 5, would retry it later).
    const fault = await fetch(`${simulator.origin}/__admin/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'http-error', httpStatus: 503, operation: 'import', times: 1 }),
    });
    expect(fault.ok).toBe(true);
    const queue = new QueueClient(azurite.connectionString, IMPORT_QUEUE);
    await queue.sendMessage(JSON.stringify({ group: 'Package', mobilenumber: '+353871110004' }));
    const poison = new QueueClient(azurite.connectionString, `${IMPORT_QUEUE}-poison`);
    const parked = await until('the poison message', async () => {
      if (!(await poison.exists())) return undefined;
      return (await poison.peekMessages()).peekedMessageItems[0]?.messageText;
    });
    const body = JSON.parse(parked) as { attempts?: number; message?: unknown };
    expect(body.attempts).toBe(1);
    expect(body.message).toEqual({ group: 'Package', mobilenumber: '+353871110004' });
  });
});
