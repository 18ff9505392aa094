/**
 * Asynchronous sends end to end, across two local hosts on one Azurite (two instances of one
 * app): callers post with `Prefer: respond-async` and then poll as a Logic Apps HTTP action does
 * (a bare GET of `Location`, waiting `Retry-After`, until the first answer that is not 202).
 * Checked from the simulator's record of arrivals: every send reaches Sendmode exactly once, no
 * window holds more than the limit, and no caller ever sees a 429. Then a host is killed while
 * sends are in flight: nothing is lost, and only a send that was inside its Sendmode call when
 * the host died can go twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { base64Json as b64 } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import { maxInAnyWindow } from '../helpers/limit-run.js';
import type { HostProcess } from '../helpers/processes.js';

const MAX_CALLS = 10;
const WINDOW_MS = 2_000;
const LATENCY_MS = 1_500;

let env: HostsEnv;

beforeAll(async () => {
  env = await startHostsEnv(2, {
    RATE_LIMIT_MAX_CALLS: String(MAX_CALLS),
    RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_MS / 1000),
    RATE_LIMIT_SAFETY_MARGIN_MS: '200',
    // A killed host's messages come back after 4 s, and its claims are stale after
    // 2 s + 2 × (0.5 + 2 + 0.5) s + 10 s = 18 s (shared/outbox/outbox-sender.ts).
    LOCAL_HOST_QUEUE_LEASE_SECONDS: '4',
    SENDMODE_CONNECT_TIMEOUT_MS: '500',
    SENDMODE_HEADERS_TIMEOUT_MS: '2000',
    SENDMODE_BODY_TIMEOUT_MS: '500',
  });
}, 180_000);
afterAll(async () => env?.stop());

interface Polled {
  status: number;
  body: Record<string, unknown>;
  polls: number;
  statuses: number[];
}

async function queueSend(host: HostProcess, recipient: string, text: string) {
  const res = await fetch(`${host.url}/api/sms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'respond-async' },
    body: JSON.stringify({ messagetext: text, recipients: [recipient] }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, location: res.headers.get('location'), body };
}

/** As a Logic Apps HTTP action polls: Location, plain GET, Retry-After, first non-202 wins. */
async function pollLikeLogicApps(location: string, deadlineMs: number): Promise<Polled> {
  const statuses: number[] = [];
  let url = location;
  for (let polls = 1; Date.now() < deadlineMs; polls++) {
    const res = await fetch(url);
    statuses.push(res.status);
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 202) return { status: res.status, body, polls, statuses };
    url = res.headers.get('location') ?? url;
    await sleep(Number(res.headers.get('retry-after') ?? '1') * 1000);
  }
  throw new Error(`Still 202 at the deadline after ${statuses.length} polls: ${location}`);
}

function sentTo(calls: { payload: unknown; httpStatus: number }[]): string[] {
  return calls
    .filter((c) => c.httpStatus === 200)
    .flatMap((c) => (c.payload as { recipients?: string[] }).recipients ?? []);
}

describe('asynchronous sends across two hosts', () => {
  it('every send ends 200 through a bare-GET poller, once at Sendmode, within the limit, no 429', async () => {
    const SENDS = 40;
    const recipients = Array.from(
      { length: SENDS },
      (_, i) => `+3538700${String(i).padStart(5, '0')}`,
    );
    const accepted = await Promise.all(
      recipients.map((r, i) => queueSend(env.hosts[i % 2]!, r, `async ${i}`)),
    );
    expect(accepted.map((a) => a.status)).toEqual(recipients.map(() => 202));
    const deadline = Date.now() + 90_000;
    const outcomes = await Promise.all(
      accepted.map((a) => pollLikeLogicApps(a.location ?? '', deadline)),
    );
    expect(outcomes.map((o) => o.status)).toEqual(recipients.map(() => 200));
    expect(outcomes.flatMap((o) => o.statuses).filter((s) => s === 429)).toHaveLength(0);
    outcomes.forEach((o, i) =>
      expect(o.body).toMatchObject({ id: accepted[i]!.body.id, status: 'OK' }),
    );

    const calls = await env.simulator.calls('send');
    expect(sentTo(calls).sort()).toEqual([...recipients].sort());
    const arrivals = calls.map((c) => c.arrivedAt).sort((a, b) => a - b);
    expect(maxInAnyWindow(arrivals, WINDOW_MS)).toBeLessThanOrEqual(MAX_CALLS);
    // Both instances took the queue's work (the limit is what paced it, not one host).
    const logs = env.hosts.map((h) => h.output());
    expect(logs.every((l) => /"operation":"send-queued-sms"/.test(l))).toBe(true);
  }, 150_000);

  it('queue drops by the Storage SDK (plain, base64, wrapped, with and without id) are sent once each and looked up by id', async () => {
    const queue = new QueueClient(env.azurite.connectionString, env.settings.SEND_QUEUE_NAME!);
    await queue.createIfNotExists();
    const send = (n: number) => ({ messagetext: `drop ${n}`, recipients: [`+35387200000${n}`] });
    const noId = (await queue.sendMessage(JSON.stringify(send(1)))).messageId;
    await queue.sendMessage(b64({ id: 'drop-2', ...send(2) }));
    await queue.sendMessage(JSON.stringify({ id: 'drop-3', message: send(3) }));
    await queue.sendMessage(b64({ message: send(4), id: 'drop-4' }));
    await queue.sendMessage('{"id":"drop-5","messagetext":"x","recipients":["no"]}');
    const lookUp = async (id: string) => {
      const res = await fetch(`${env.hosts[0]!.url}/api/sms/${encodeURIComponent(id)}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    for (const until = Date.now() + 30_000; Date.now() < until;) {
      const looks = await Promise.all([noId, 'drop-2', 'drop-3', 'drop-4'].map(lookUp));
      if (looks.every((l) => l.status === 200)) break;
      await sleep(250);
    }
    for (const id of [noId, 'drop-2', 'drop-3', 'drop-4']) {
      expect(await lookUp(id)).toMatchObject({ status: 200, body: { id, status: 'OK' } });
    }
    expect((await lookUp('drop-5')).status).toBe(400);
    const reached = sentTo(await env.simulator.calls('send')).filter((r) =>
      r.startsWith('+35387200000'),
    );
    expect(reached.sort()).toEqual([1, 2, 3, 4].map((n) => `+35387200000${n}`));
  }, 60_000);

  it('a host killed while sends are in flight loses none; only those inside their call can go twice', async () => {
    const before = (await env.simulator.calls('send')).length;
    await env.fault({ kind: 'latency', latencyMs: LATENCY_MS, operation: 'send' });
    const SENDS = 24;
    const recipients = Array.from(
      { length: SENDS },
      (_, i) => `+3538710${String(i).padStart(5, '0')}`,
    );
    // A queue of its own, so the calls in flight are the victim's: only it takes that queue.
    const own = { SEND_QUEUE_NAME: `${env.settings.SEND_QUEUE_NAME}-kill` };
    const victim = await env.addHost(own);
    const accepted = await Promise.all(recipients.map((r, i) => queueSend(victim, r, `kill ${i}`)));
    expect(accepted.every((a) => a.status === 202)).toBe(true);
    // Wait until calls are in flight, then kill one instance outright.
    for (const until = Date.now() + 20_000; Date.now() < until;) {
      if ((await env.simulator.calls('send')).length - before >= 4) break;
      await sleep(50);
    }
    const killedAt = Date.now();
    await victim.stop('SIGKILL');
    const replacement = await env.addHost(own);

    // In Azure every instance answers on the app's one host name: poll through one still alive.
    const deadline = Date.now() + 100_000;
    const outcomes = await Promise.all(
      accepted.map((a) =>
        pollLikeLogicApps((a.location ?? '').replace(victim.url, replacement.url), deadline),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(recipients.map(() => 200));

    const calls = (await env.simulator.calls('send')).slice(before);
    const reached = sentTo(calls);
    // Nothing lost: every recipient reached Sendmode and was answered.
    expect(new Set(reached)).toEqual(new Set(recipients));
    // Sendmode may act on a call whose caller died: count every arrival, answered or not.
    const arrived = calls.flatMap(
      (c) => (c.payload as { recipients?: string[] } | null)?.recipients ?? [],
    );
    const twice = arrived.length - recipients.length;
    const inFlightAtKill = calls.filter(
      (c) => c.arrivedAt <= killedAt && c.arrivedAt > killedAt - LATENCY_MS - 200,
    ).length;
    console.log(
      `[outbox kill] ${SENDS} sends, ${inFlightAtKill} inside their call at the kill, ` +
        `${twice} arrived twice, all ${outcomes.length} ended 200`,
    );
    // Only those inside their call when the instance died.
    expect(twice).toBeLessThanOrEqual(inFlightAtKill);
    expect(replacement.output()).toMatch(/"operation":"send-queued-sms"/);
    // ... taken over only once their claim was stale (18 s).
    if (twice > 0) expect(Date.now() - killedAt).toBeGreaterThan(18_000);
  }, 180_000);
});
