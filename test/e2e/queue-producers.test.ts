/**
 * Every way a producer writes to the app's queues, through the built app under the local host
 * (host.json messageEncoding none), with Azurite and the simulator: messages put by the real
 * @azure/storage-queue SDK as plain JSON text (what Logic Apps, the portal, `az storage message
 * put` and the v12 SDKs write), base64 JSON (older SDKs, WebJobs), the app's retry envelope and
 * the connector's wrapped form. Each is imported exactly once; text that is neither is parked
 * at once with the reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Azurite } from '../helpers/azurite.js';
import { base64Json as b64, freshSuffix, until } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import type { HostProcess, SimulatorProcess } from '../helpers/processes.js';

const KEY = 'e2e-producers-key';
const suffix = freshSuffix(6);
const IMPORTS = `imports-${suffix}`;
const OPTOUTS = `optouts-${suffix}`;

let env: HostsEnv;
let azurite: Azurite;
let simulator: SimulatorProcess;
let host: HostProcess;

interface Call {
  operation: string;
  httpStatus: number;
  payload?: { group?: string; importdata?: { mobilenumber?: string }; mobilenumber?: string };
}

async function calls(operation: string): Promise<Call[]> {
  const res = await fetch(`${simulator.origin}/__admin/calls?operation=${operation}`);
  return ((await res.json()) as { calls: Call[] }).calls;
}

const numberOf = (call: Call) =>
  call.payload?.importdata?.mobilenumber ?? call.payload?.mobilenumber;

beforeAll(async () => {
  env = await startHostsEnv(
    1,
    {
      SENDMODE_ACCOUNT_NAME: `prod${suffix}`,
      IMPORT_QUEUE_NAME: IMPORTS,
      OPT_OUT_QUEUE_NAME: OPTOUTS,
      RATE_LIMIT_MAX_CALLS: '1000',
      RATE_LIMIT_WINDOW_SECONDS: '1',
    },
    { apiKey: KEY },
  );
  ({ azurite, simulator } = env);
  host = env.hosts[0]!;
}, 120_000);

afterAll(async () => env?.stop());

describe('customer-imports takes every producer form', () => {
  const forms: Array<[string, string, (n: string) => string]> = [
    [
      'plain JSON text (SDK sendMessage, az, Logic Apps)',
      '+353871200001',
      (n) => JSON.stringify({ group: 'P', mobilenumber: n, firstname: 'Plain' }),
    ],
    ['base64 JSON', '+353871200002', (n) => b64({ group: 'P', mobilenumber: n, firstname: 'B64' })],
    [
      'the connector wrapped form, plain',
      '+353871200003',
      (n) => JSON.stringify({ group: 'P', importdata: { mobilenumber: n } }),
    ],
    [
      'the connector wrapped form, base64',
      '+353871200004',
      (n) => b64({ group: 'P', importdata: { mobilenumber: n } }),
    ],
    [
      'the retry envelope, plain',
      '+353871200005',
      (n) =>
        JSON.stringify({
          kind: 'sendmode-connector/retry',
          attempts: 1,
          deferrals: 0,
          payload: { group: 'P', mobilenumber: n },
        }),
    ],
    [
      'the retry envelope, base64 (written before the switch to none)',
      '+353871200006',
      (n) =>
        b64({
          kind: 'sendmode-connector/retry',
          attempts: 1,
          deferrals: 0,
          payload: { group: 'P', mobilenumber: n },
        }),
    ],
    [
      'plain JSON with a BOM and whitespace',
      '+353871200007',
      (n) => `\uFEFF  ${JSON.stringify({ group: 'P', mobilenumber: n })}\n`,
    ],
  ];

  it('imports each form exactly once and empties the queue', async () => {
    const queue = new QueueClient(azurite.connectionString, IMPORTS);
    await queue.createIfNotExists();
    for (const [, number, text] of forms) await queue.sendMessage(text(number));
    const numbers = forms.map(([, n]) => n);
    await until('every import', async () => {
      const done = (await calls('import')).filter((c) => numbers.includes(numberOf(c) ?? ''));
      return done.length >= numbers.length ? true : undefined;
    });
    await sleep(1_500); // a duplicate would arrive by now
    const imported = (await calls('import')).filter((c) => numbers.includes(numberOf(c) ?? ''));
    for (const [name, number] of forms) {
      expect(
        imported.filter((c) => numberOf(c) === number),
        name,
      ).toHaveLength(1);
    }
    expect(imported.every((c) => c.httpStatus === 200)).toBe(true);
    const poison = new QueueClient(azurite.connectionString, `${IMPORTS}-poison`);
    expect((await poison.exists()) ? (await poison.peekMessages()).peekedMessageItems : []).toEqual(
      [],
    );
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it('parks text that is neither JSON nor base64 JSON at once, with the reason and the text', async () => {
    const queue = new QueueClient(azurite.connectionString, IMPORTS);
    const poison = new QueueClient(azurite.connectionString, `${IMPORTS}-poison`);
    const before = (await calls('import')).length;
    await queue.sendMessage('group=P&mobilenumber=353871200099');
    const parked = await until('the poison message', async () => {
      if (!(await poison.exists())) return undefined;
      return (await poison.peekMessages()).peekedMessageItems[0]?.messageText;
    });
    // Written by the app as plain JSON: the same decoder reads it back.
    const record = JSON.parse(parked) as {
      reason: string;
      attempts: number;
      message: unknown;
      errors: unknown[];
    };
    expect(record.reason).toBe('The message is not a valid request.');
    expect(record.attempts).toBe(1);
    expect(record.errors).toEqual([{ field: 'body', message: 'must be a JSON object' }]);
    expect(record.message).toBe('group=P&mobilenumber=353871200099');
    expect((await calls('import')).length).toBe(before);
    expect(host.output()).not.toContain('353871200099');
  });
});

describe('optout-sync takes plain and base64 alike', () => {
  it('syncs each opt-out once', async () => {
    const queue = new QueueClient(azurite.connectionString, OPTOUTS);
    await queue.createIfNotExists();
    await queue.sendMessage(
      JSON.stringify({ mobilenumber: '+353871300001', optoutresponse: 'STOP' }),
    );
    await queue.sendMessage(b64({ mobilenumber: '+353871300002', optoutresponse: 'STOP' }));
    const numbers = ['+353871300001', '+353871300002'];
    await until('both opt-outs', async () => {
      const done = (await calls('optout')).filter((c) => numbers.includes(numberOf(c) ?? ''));
      return done.length >= 2 ? true : undefined;
    });
    await sleep(1_000);
    const synced = (await calls('optout')).filter((c) => numbers.includes(numberOf(c) ?? ''));
    expect(synced.map(numberOf).sort()).toEqual(numbers);
  });
});
