/**
 * Merged calls end to end: two local hosts on one Azurite and a small limit (10 calls per 2 s).
 * Hundreds of single-recipient sends of one text, dropped on the queue at once and posted with
 * `Prefer: respond-async`, reach Sendmode each exactly once in far fewer calls than sends, and
 * every status names its own recipient. Then the host collecting a merged call is killed while
 * the call is in flight: nothing is lost, and only recipients of that call can arrive twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import { maxInAnyWindow } from '../helpers/limit-run.js';
import type { HostProcess } from '../helpers/processes.js';

const MAX_CALLS = 10;
const WINDOW_MS = 2_000;

let env: HostsEnv;

beforeAll(async () => {
  env = await startHostsEnv(2, {
    RATE_LIMIT_MAX_CALLS: String(MAX_CALLS),
    RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_MS / 1000),
    RATE_LIMIT_SAFETY_MARGIN_MS: '200',
    SEND_MERGE_TABLE_NAME: `merge${Math.random().toString(36).slice(2, 8)}`,
    LOCAL_HOST_QUEUE_LEASE_SECONDS: '4',
    SENDMODE_CONNECT_TIMEOUT_MS: '500',
    SENDMODE_HEADERS_TIMEOUT_MS: '2000',
    SENDMODE_BODY_TIMEOUT_MS: '500',
  });
}, 180_000);
afterAll(async () => env?.stop());

interface Call {
  arrivedAt: number;
  httpStatus: number;
  payload: unknown;
}

const recipientsOf = (c: Call) => (c.payload as { recipients?: string[] } | null)?.recipients ?? [];

async function drop(queueName: string, messages: object[]) {
  const queue = new QueueClient(env.azurite.connectionString, queueName);
  await queue.createIfNotExists();
  for (let i = 0; i < messages.length; i += 50) {
    await Promise.all(messages.slice(i, i + 50).map((m) => queue.sendMessage(JSON.stringify(m))));
  }
}

async function statusOf(host: HostProcess, id: string) {
  const res = await fetch(`${host.url}/api/sms/${encodeURIComponent(id)}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function untilAllFinal(host: HostProcess, ids: string[], ms: number) {
  const deadline = Date.now() + ms;
  let left = ids;
  while (left.length > 0 && Date.now() < deadline) {
    const looks = await Promise.all(
      left.map(async (id) => ({ id, ...(await statusOf(host, id)) })),
    );
    left = looks.filter((l) => l.status === 202).map((l) => l.id);
    if (left.length > 0) await sleep(500);
  }
  return left;
}

describe('merged calls across two hosts', () => {
  it('hundreds of single-recipient sends of one text: each recipient once, few calls, every status right', async () => {
    const text = 'Doors open at nine: see you there';
    const number = (n: number) => `+3538760${String(n).padStart(5, '0')}`;
    const DROPS = 300;
    const POSTS = 100;
    const started = Date.now();
    const posted = Promise.all(
      Array.from({ length: POSTS }, async (_, i) => {
        const res = await fetch(`${env.hosts[i % 2]!.url}/api/sms`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', prefer: 'respond-async' },
          body: JSON.stringify({ messagetext: text, recipients: [number(DROPS + i)] }),
        });
        expect(res.status).toBe(202);
        return String(((await res.json()) as { id: string }).id);
      }),
    );
    await drop(
      env.settings.SEND_QUEUE_NAME!,
      Array.from({ length: DROPS }, (_, i) => ({
        id: `drop-${i}`,
        messagetext: text,
        recipients: [number(i)],
      })),
    );
    const ids = [...Array.from({ length: DROPS }, (_, i) => `drop-${i}`), ...(await posted)];
    expect(await untilAllFinal(env.hosts[0]!, ids, 90_000)).toEqual([]);
    const drainedMs = Date.now() - started;

    const calls = (await env.simulator.calls('send')) as Call[];
    const reached = calls.filter((c) => c.httpStatus === 200).flatMap(recipientsOf);
    const expected = Array.from({ length: DROPS + POSTS }, (_, i) => number(i));
    expect([...reached].sort()).toEqual(expected.sort());
    expect(calls.length).toBeLessThanOrEqual((DROPS + POSTS) / 20);
    const arrivals = calls.map((c) => c.arrivedAt).sort((a, b) => a - b);
    expect(maxInAnyWindow(arrivals, WINDOW_MS)).toBeLessThanOrEqual(MAX_CALLS);
    for (const i of [0, 150, DROPS - 1]) {
      expect(await statusOf(env.hosts[1]!, `drop-${i}`)).toMatchObject({
        status: 200,
        body: { id: `drop-${i}`, status: 'OK', message: { recipients: [number(i)] } },
      });
    }
    console.log(
      `[merge e2e] ${DROPS + POSTS} sends in ${calls.length} calls, ${drainedMs} ms, ` +
        `${(reached.length / calls.length).toFixed(1)} recipients per call`,
    );
  }, 150_000);

  it('a collector killed while its merged call is in flight loses nothing', async () => {
    const before = (await env.simulator.calls('send')).length;
    await env.fault({ kind: 'latency', latencyMs: 1_500, operation: 'send' });
    // A queue of its own, so the collector in flight is the victim's: only it takes that queue.
    const own = { SEND_QUEUE_NAME: `${env.settings.SEND_QUEUE_NAME}-kill` };
    const victim = await env.addHost(own);
    const number = (n: number) => `+3538770${String(n).padStart(5, '0')}`;
    const SENDS = 120;
    await drop(
      own.SEND_QUEUE_NAME,
      Array.from({ length: SENDS }, (_, i) => ({
        id: `k-${i}`,
        messagetext: 'Kill test',
        recipients: [number(i)],
      })),
    );
    for (const until = Date.now() + 30_000; Date.now() < until;) {
      if ((await env.simulator.calls('send')).length > before) break;
      await sleep(25);
    }
    await sleep(200); // the call is in flight (1.5 s of latency)
    const killedAt = Date.now();
    await victim.stop('SIGKILL');
    const replacement = await env.addHost(own);

    const ids = Array.from({ length: SENDS }, (_, i) => `k-${i}`);
    expect(await untilAllFinal(replacement, ids, 120_000)).toEqual([]);
    const calls = ((await env.simulator.calls('send')) as Call[]).slice(before);
    const reached = calls.filter((c) => c.httpStatus === 200).flatMap(recipientsOf);
    // Nothing lost: every recipient reached Sendmode and was answered.
    expect(new Set(reached)).toEqual(new Set(ids.map((_, i) => number(i))));
    // Twice only for the recipients of calls inside Sendmode when the collector died.
    const inFlight = calls.filter((c) => c.arrivedAt <= killedAt && c.httpStatus !== 200);
    const arrived = calls.flatMap(recipientsOf);
    const twice = arrived.length - new Set(arrived).size;
    expect(twice).toBeLessThanOrEqual(inFlight.flatMap(recipientsOf).length);
    console.log(
      `[merge kill] ${SENDS} sends; ${inFlight.length} call(s) in flight at the kill; ` +
        `${twice} recipient(s) arrived twice; ${calls.length} calls in all`,
    );
  }, 180_000);
});
