/**
 * Two local hosts on one Azurite, like two instances of the app: an opt-out and an opt-in for the
 * same number racing through both end in the state of the later message (the signed timestamp,
 * or the arrival time when unsigned), never in a lost opt-out. The operator routes (authLevel
 * admin) are registered and answer under the local host, JSON and CSV.
 */
import { randomUUID } from 'node:crypto';

import { parse as parseCsv } from 'csv-parse/sync';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { signWebhook } from '../../shared/opt-outs/webhook-signature.js';
import { freshSuffix } from '../helpers/common.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import type { HostProcess } from '../helpers/processes.js';

const KEY = 'e2e-race-key';
const SECRET = `whsec_${Buffer.from('e2e-opt-out-race-secret').toString('base64')}`;
const suffix = freshSuffix(6);

let hostsEnv: HostsEnv;
let signedHosts: HostProcess[] = [];
let unsignedHosts: HostProcess[] = [];

beforeAll(async () => {
  hostsEnv = await startHostsEnv(
    0,
    {
      SENDMODE_ACCOUNT_NAME: `race${suffix}`,
      OPT_OUT_QUEUE_NAME: `optout-${suffix}`,
      RATE_LIMIT_MAX_CALLS: '1000',
    },
    { apiKey: KEY },
  );
  const env = (tables: string) => ({
    SUPPRESSION_TABLE_NAME: `optouts${tables}${suffix}`,
    OPT_OUT_AUDIT_TABLE_NAME: `audit${tables}${suffix}`,
  });
  // Two instances taking signed webhooks, two taking unsigned ones: each pair shares its tables.
  [signedHosts, unsignedHosts] = await Promise.all([
    Promise.all(
      [1, 2].map(() => hostsEnv.addHost({ ...env('s'), WEBHOOK_SIGNING_SECRET: SECRET })),
    ),
    Promise.all([1, 2].map(() => hostsEnv.addHost({ ...env('u'), WEBHOOK_SIGNING_SECRET: '' }))),
  ]);
}, 180_000);

afterAll(async () => hostsEnv?.stop());

type Json = Record<string, unknown>;

async function deliver(host: HostProcess, number: string, text: string, timestamp?: number) {
  const body = JSON.stringify({ mobilenumber: number, optoutresponse: text });
  const id = `msg_${randomUUID()}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (timestamp !== undefined) {
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(timestamp);
    headers['webhook-signature'] = signWebhook(SECRET, id, timestamp, body);
  }
  const res = await fetch(`${host.url}/api/optout`, { method: 'POST', headers, body });
  // Recorded either way: 200 once Sendmode has it, or 202 `queued` when Sendmode could not be
  // called now (48 racing deliveries on loaded cores can time a limiter read out), its sync on
  // the queue. A caller that checks the answer's status sees `queued` and fails on it.
  const answer = (await res.json()) as Json;
  expect([200, 202], JSON.stringify(answer)).toContain(res.status);
  if (res.status === 202) expect(answer.status).toBe('queued');
  return answer.status as string;
}

async function lookUp(host: HostProcess, number: string): Promise<Json> {
  const res = await fetch(`${host.url}/api/optouts/${encodeURIComponent(number)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

const numbersFor = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `+35387${prefix}${String(i).padStart(6, '0')}`);

describe('STOP and START racing through two instances', () => {
  it('signed: racing through two instances, each is decided once and the opt-out stands', async () => {
    // Arriving together, a START is never clearly later than the STOP (its earliest time is
    // not after the STOP's arrival), whichever was signed later: doubt keeps the opt-out.
    const [a, b] = signedHosts as [HostProcess, HostProcess];
    const t = Math.floor(Date.now() / 1000);
    const numbers = numbersFor('1', 24);
    // Three kinds, side by side: STOP signed later, START signed later, the same second.
    await Promise.all(
      numbers.flatMap((number, i) => {
        const [stopAt, startAt] = i % 3 === 0 ? [t, t - 2] : i % 3 === 1 ? [t - 2, t] : [t, t];
        // The later message goes to one instance, the earlier to the other, at the same moment.
        return [
          deliver(i % 2 ? a : b, number, 'STOP', stopAt),
          deliver(i % 2 ? b : a, number, 'START', startAt),
        ];
      }),
    );
    for (const [i, number] of numbers.entries()) {
      const entry = await lookUp(i % 2 ? a : b, number);
      expect(entry.suppressed, `${i}`).toBe(true);
      const trail = entry.trail as Json[];
      expect(trail.map((e) => e.action).sort()).toEqual(['opt-in', 'opt-out']);
      expect(trail.every((e) => e.source === 'webhook' && typeof e.webhookId === 'string')).toBe(
        true,
      );
    }
  }, 60_000);

  it('signed: an earlier START arriving late changes nothing; a STOP arriving late stands', async () => {
    const [a, b] = signedHosts as [HostProcess, HostProcess];
    const t = Math.floor(Date.now() / 1000);
    const [n1, n2] = numbersFor('2', 2) as [string, string];
    expect(await deliver(a, n1, 'START', t)).toBe('opted-in');
    expect(await deliver(b, n1, 'STOP', t - 30)).toBe('opted-out');
    expect(await deliver(a, n2, 'STOP', t)).toBe('opted-out');
    expect(await deliver(b, n2, 'START', t - 30)).toBe('superseded');
    expect((await lookUp(b, n1)).suppressed).toBe(true);
    expect((await lookUp(a, n2)).suppressed).toBe(true);
  });

  it('unsigned: the state is that of the latest arrival recorded in the trail', async () => {
    const [a, b] = unsignedHosts as [HostProcess, HostProcess];
    const numbers = numbersFor('3', 24);
    await Promise.all(
      numbers.flatMap((number, i) => [
        deliver(i % 2 ? a : b, number, 'STOP'),
        deliver(i % 2 ? b : a, number, 'START'),
      ]),
    );
    let suppressed = 0;
    for (const number of numbers) {
      const entry = await lookUp(a, number);
      const trail = entry.trail as Json[];
      expect(trail).toHaveLength(2);
      // The latest event by time (a tie goes to the opt-out) decides; nothing else does.
      const [first, second] = trail as [Json, Json];
      const latest =
        Date.parse(String(first.at)) === Date.parse(String(second.at))
          ? trail.find((e) => e.action === 'opt-out')!
          : second;
      expect(entry.suppressed, number).toBe(latest.action === 'opt-out');
      expect(latest.applied).toBe(true);
      if (entry.suppressed) suppressed += 1;
    }
    expect(suppressed).toBeLessThanOrEqual(numbers.length);
  }, 60_000);
});

describe('the operator routes under the local host', () => {
  it('are registered with authLevel admin (reported, not enforced locally)', () => {
    const output = signedHosts[0]!.output();
    expect(output).toMatch(/opt-outs-list.*authLevel admin, not enforced locally/);
    expect(output).toMatch(/opt-outs-remove.*authLevel admin, not enforced locally/);
  });

  it('list (JSON and CSV), look up and remove over real HTTP', async () => {
    const [a, b] = unsignedHosts as [HostProcess, HostProcess];
    const [number] = numbersFor('4', 1) as [string];
    expect(await deliver(a, number, 'STOP')).toBe('opted-out');

    const page = (await (await fetch(`${b.url}/api/optouts?pageSize=1000`)).json()) as {
      items: Json[];
    };
    expect(page.items.map((i) => i.number)).toContain(number.slice(1));

    const csv = await fetch(`${b.url}/api/optouts?format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const records = parseCsv(await csv.text(), { columns: true }) as Json[];
    expect(records.map((r) => r.number)).toContain(number.slice(1));

    const missing = await fetch(`${b.url}/api/optouts/${encodeURIComponent(number)}`, {
      method: 'DELETE',
    });
    expect(missing.status).toBe(400);
    const removed = await fetch(`${b.url}/api/optouts/${encodeURIComponent(number)}?reason=e2e`, {
      method: 'DELETE',
    });
    expect(removed.status).toBe(200);
    const entry = await lookUp(a, number);
    expect(entry.suppressed).toBe(false);
    expect((entry.trail as Json[]).at(-1)).toMatchObject({ action: 'removal', reason: 'e2e' });

    const bad = await fetch(`${a.url}/api/optouts/not-a-number`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
  });

  it('a svix-signed delivery over real HTTP', async () => {
    const host = signedHosts[1]!;
    const [number] = numbersFor('5', 1) as [string];
    const body = JSON.stringify({ mobilenumber: number, optoutresponse: 'STOP' });
    const id = `msg_${randomUUID()}`;
    const now = new Date();
    const res = await fetch(`${host.url}/api/optout`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'svix-id': id,
        'svix-timestamp': String(Math.floor(now.getTime() / 1000)),
        'svix-signature': new SvixWebhook(SECRET).sign(id, now, body),
      },
      body,
    });
    expect(res.status).toBe(200);
    expect((await lookUp(host, number)).suppressed).toBe(true);
  });
});
