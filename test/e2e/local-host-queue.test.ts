/**
 * The local host's queue triggers and HTTP routing, end to end: Azurite and the host as child
 * processes, a test-only app (test/fixtures/queue-app) whose functions report what they saw.
 * host.json there: base64, batchSize 4, newBatchThreshold 2, maxDequeueCount 3,
 * visibilityTimeout 1 s, maxPollingInterval 200 ms; queue-app-plain: encoding none.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Azurite } from '../helpers/azurite.js';
import { base64 as b64, freshSuffix, until } from '../helpers/common.js';
import { type HostProcess, ROOT, startHostProcess } from '../helpers/processes.js';
import { sharedAzurite } from '../helpers/storage.js';

const BASE64_APP = join(ROOT, 'test/fixtures/queue-app');
const PLAIN_APP = join(ROOT, 'test/fixtures/queue-app-plain');

interface Seen {
  fn: string;
  message: unknown;
  type: string;
  running: number;
  at: number;
  meta: {
    id: string;
    dequeueCount: number;
    insertionTime: string;
    expirationTime: string;
    nextVisibleTime: string;
    popReceipt: string;
  };
}

function seen(host: HostProcess): Seen[] {
  return host
    .output()
    .split('\n')
    .flatMap((line) => {
      const at = line.indexOf('FIXTURE {');
      return at < 0 ? [] : [JSON.parse(line.slice(at + 'FIXTURE '.length)) as Seen];
    });
}

let azurite: Azurite;
let host: HostProcess;
const QUEUE = `work-${freshSuffix(6)}`;
let queue: QueueClient;
let poison: QueueClient;

async function peekAll(client: QueueClient): Promise<string[]> {
  const { peekedMessageItems } = await client.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((m) => m.messageText);
}

beforeAll(async () => {
  azurite = await sharedAzurite();
  queue = new QueueClient(azurite.connectionString, QUEUE);
  poison = new QueueClient(azurite.connectionString, `${QUEUE}-poison`);
  host = await startHostProcess({
    app: BASE64_APP,
    env: { AzureWebJobsStorage: azurite.connectionString, FIXTURE_QUEUE: QUEUE },
  });
});

afterAll(async () => {
  await host?.stop();
});

describe('local host: start-up', () => {
  it('learns every function from the registrations and runs appStart hooks', async () => {
    const res = await fetch(`${host.url}/admin/functions`);
    const functions = (await res.json()) as { name: string }[];
    expect(functions.map((f) => f.name).sort()).toEqual(['boom', 'echo', 'slow', 'work']);
    expect(host.output()).toContain('FIXTURE-HOOK appStart');
    expect(host.output()).toMatch(
      new RegExp(`work: queueTrigger \\(queue ${QUEUE}, poison ${QUEUE}-poison\\)`),
    );
  });

  it('creates the queue when it is missing', async () => {
    await until('the queue', async () => (await queue.exists()) || undefined);
  });
});

describe('local host: queue trigger', () => {
  it('passes a base64 JSON message parsed, with trigger metadata, then deletes it', async () => {
    const from = seen(host).length;
    const { messageId } = await queue.sendMessage(b64(JSON.stringify({ hello: 'json', n: 1 })));
    const record = await until('the invocation', () =>
      seen(host)
        .slice(from)
        .find((s) => s.meta.id === messageId),
    );
    expect(record.message).toEqual({ hello: 'json', n: 1 });
    expect(record.meta.dequeueCount).toBe(1);
    for (const time of [
      record.meta.insertionTime,
      record.meta.expirationTime,
      record.meta.nextVisibleTime,
    ]) {
      expect(Number.isNaN(Date.parse(time))).toBe(false);
    }
    expect(typeof record.meta.popReceipt).toBe('string');
    await until('the delete', async () => ((await peekAll(queue)).length === 0 ? true : undefined));
    await host.waitFor(
      /Executing 'Functions\.work' \(Reason='New queue message detected on 'work-[a-z0-9]+'\.', Id=[0-9a-f-]{36}\)/,
    );
    await host.waitFor(
      /Executed 'Functions\.work' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)/,
    );
  });

  it('passes a base64 plain-text message as a string', async () => {
    const { messageId } = await queue.sendMessage(b64('just text'));
    const record = await until('the invocation', () =>
      seen(host).find((s) => s.meta.id === messageId),
    );
    expect(record.message).toBe('just text');
    expect(record.type).toBe('string');
  });

  it('retries a failed message after visibilityTimeout with a higher dequeueCount', async () => {
    const { messageId } = await queue.sendMessage(b64(JSON.stringify({ failUntil: 1 })));
    const attempts = await until('two attempts', () => {
      const mine = seen(host).filter((s) => s.meta.id === messageId);
      return mine.length >= 2 ? mine : undefined;
    });
    expect(attempts.map((a) => a.meta.dequeueCount)).toEqual([1, 2]);
    // visibilityTimeout is 1 s (whole seconds, as the queue service counts them).
    expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);
    await until('the delete', async () => ((await peekAll(queue)).length === 0 ? true : undefined));
    expect(await peekAll(poison).catch((): string[] => [])).toEqual([]);
  });

  it('moves a message to <queue>-poison after maxDequeueCount failed attempts', async () => {
    const text = b64(JSON.stringify({ failUntil: 99, tag: 'poison-me' }));
    const { messageId } = await queue.sendMessage(text);
    await until(
      'the poison message',
      async () =>
        (await peekAll(poison).catch((): string[] => [])).includes(text) ? true : undefined,
      20_000,
    );
    const attempts = seen(host).filter((s) => s.meta.id === messageId);
    expect(attempts.map((a) => a.meta.dequeueCount)).toEqual([1, 2, 3]);
    expect(await peekAll(queue)).toEqual([]);
    await host.waitFor(
      /Message has reached MaxDequeueCount of 3\. Moving message to queue 'work-[a-z0-9]+-poison'\./,
    );
    await host.waitFor(/Executed 'Functions\.work' \(Failed, Id=/);
    await poison.clearMessages();
  });

  it('fails a message that is not base64, and poisons it after maxDequeueCount', async () => {
    await queue.sendMessage('{not base64!}');
    await until(
      'the poison message',
      async () =>
        (await peekAll(poison).catch((): string[] => [])).includes('{not base64!}')
          ? true
          : undefined,
      20_000,
    );
    await host.waitFor(/The input is not a valid Base-64 string/);
    await poison.clearMessages();
  });

  it('runs a batch in parallel, at most batchSize + newBatchThreshold at once', async () => {
    const from = seen(host).length;
    const ids = new Set<string>();
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const { messageId } = await queue.sendMessage(b64(JSON.stringify({ sleepMs: 400, i })));
        ids.add(messageId);
      }),
    );
    const records = await until('all 12', () => {
      const mine = seen(host)
        .slice(from)
        .filter((s) => ids.has(s.meta.id));
      return mine.length >= 12 ? mine : undefined;
    });
    const peak = Math.max(...records.map((r) => r.running));
    expect(peak).toBeGreaterThanOrEqual(4); // a batch runs in parallel
    expect(peak).toBeLessThanOrEqual(6); // batchSize 4 + newBatchThreshold 2
    await until('the deletes', async () =>
      (await peekAll(queue)).length === 0 ? true : undefined,
    );
  });
});

describe('local host: HTTP routing', () => {
  it('passes route parameters, query, headers and body; returns status, headers and JSON', async () => {
    const res = await fetch(`${host.url}/api/items/42/widget?colour=red`, {
      method: 'POST',
      headers: { 'x-test': 'header-value', 'content-type': 'text/plain' },
      body: 'the body',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual({
      params: { id: '42', name: 'widget' },
      query: { colour: 'red' },
      method: 'POST',
      body: 'the body',
      header: 'header-value',
      hook: 'pre:echo',
    });
    await host.waitFor(/\[Warning\] Functions\.echo: echo warning line/);
  });

  it('treats {name?} as optional and checks {id:int}', async () => {
    const optional = await fetch(`${host.url}/api/items/7`);
    expect(optional.status).toBe(201);
    expect(((await optional.json()) as { params: unknown }).params).toEqual({ id: '7' });
    expect((await fetch(`${host.url}/api/items/seven`)).status).toBe(404);
  });

  it('answers 404 for an unknown route and 405 (with Allow) for an undeclared method', async () => {
    expect((await fetch(`${host.url}/api/nothing-here`)).status).toBe(404);
    const res = await fetch(`${host.url}/api/items/1`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST');
  });

  it('does not enforce function keys (like Core Tools)', async () => {
    const res = await fetch(`${host.url}/api/items/1?code=anything`, {
      headers: { 'x-functions-key': 'x' },
    });
    expect(res.status).toBe(201);
  });

  it('answers 500 when the handler throws and logs the failure', async () => {
    const res = await fetch(`${host.url}/api/boom`);
    expect(res.status).toBe(500);
    await host.waitFor(/Executed 'Functions\.boom' \(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms\)/);
    await host.waitFor(/boom from the fixture/);
    await host.waitFor(/FIXTURE-HOOK post saw error/);
  });
});

describe('local host: messageEncoding none', () => {
  it('passes the message text as stored (JSON parsed) and poisons after its maxDequeueCount', async () => {
    const plainQueue = `plain-${Math.random().toString(36).slice(2, 8)}`;
    const plain = await startHostProcess({
      app: PLAIN_APP,
      env: { AzureWebJobsStorage: azurite.connectionString, FIXTURE_QUEUE: plainQueue },
    });
    try {
      const client = new QueueClient(azurite.connectionString, plainQueue);
      await client.createIfNotExists();
      const { messageId } = await client.sendMessage(JSON.stringify({ raw: true }));
      const record = await until('the invocation', () =>
        seen(plain).find((s) => s.meta.id === messageId),
      );
      expect(record.message).toEqual({ raw: true });

      const failing = JSON.stringify({ failUntil: 9 });
      await client.sendMessage(failing);
      const poisonClient = new QueueClient(azurite.connectionString, `${plainQueue}-poison`);
      await until('the poison message', async () =>
        (await peekAll(poisonClient).catch((): string[] => [])).includes(failing)
          ? true
          : undefined,
      );
    } finally {
      expect(await plain.stop()).toBe(0);
    }
  });
});

describe('local host: graceful stop', () => {
  it('on SIGTERM finishes in-flight requests and messages, refuses new ones, exits 0', async () => {
    const stopping = await startHostProcess({
      app: BASE64_APP,
      env: {
        AzureWebJobsStorage: azurite.connectionString,
        FIXTURE_QUEUE: `stop-${Math.random().toString(36).slice(2, 8)}`,
      },
    });
    const slowQueue = new QueueClient(
      azurite.connectionString,
      (await stopping.waitFor(/work: queueTrigger \(queue (\S+),/))[1] ?? '',
    );
    await until('the queue', async () => (await slowQueue.exists()) || undefined);
    const { messageId } = await slowQueue.sendMessage(b64(JSON.stringify({ sleepMs: 1200 })));
    await until('the message to start', () => seen(stopping).find((s) => s.meta.id === messageId));
    const inFlight = fetch(`${stopping.url}/api/slow?ms=1000`);
    await sleep(200);
    const code = stopping.stop('SIGTERM');
    await sleep(200);
    await expect(fetch(`${stopping.url}/api/health`)).rejects.toThrow();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('slow done');
    expect(await code).toBe(0);
    expect(stopping.output()).toMatch(/Executed 'Functions\.work' \(Succeeded/);
    expect(stopping.output()).toContain('Host stopped.');
    expect(await peekAll(slowQueue)).toEqual([]);
  });
});
