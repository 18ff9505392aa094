/**
 * `npm run poison` on Azurite: list, show, replay (by id, --all, --match), purge (asks first),
 * for the app's poison records and for messages the host moved as they were (plain, base64,
 * retry envelope); and a replay killed half-way loses nothing. On the send queue (SEND_QUEUE_NAME),
 * with the app's own handlers and the simulator: a parked send is replayed with its id, its
 * status reopened, and sent under that id.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { sendSms } from '../functions/send-sms.js';
import { smsStatus, smsStatusByToken } from '../functions/sms-status.js';
import { readPoisonText } from '../tools/poison/poison.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import type { Azurite } from './helpers/azurite.js';
import { drainOutbox } from './helpers/outbox.js';
import { spawnNode } from './helpers/processes.js';
import { decode } from './helpers/queues.js';

const run = Math.random().toString(36).slice(2, 8);
/** The send queue, named as the app and the command find it: SEND_QUEUE_NAME. */
const OUTBOX = `outbox-${run}`;
let env: AppEnv;
let azurite: Azurite;
let n = 0;

beforeAll(async () => {
  env = await startAppEnv({
    SEND_QUEUE_NAME: OUTBOX,
    SEND_STATUS_TABLE_NAME: `poisonsends${run}`,
    SUPPRESSION_TABLE_NAME: `poisonoptouts${run}`,
  });
  azurite = env.azurite;
});
afterAll(async () => {
  await env?.stop();
});

const customer = (i: number) => ({
  group: 'P',
  mobilenumber: `+3538730${String(i).padStart(5, '0')}`,
});
const appRecord = (i: number, reason = 'Sendmode rejected it: INVALID_MOBILE_NUMBER') => ({
  reason,
  attempts: 1,
  failedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  message: customer(i),
});
const envelope = (payload: unknown) => ({
  kind: 'sendmode-connector/retry',
  attempts: 3,
  deferrals: 1,
  lastError: 'Sendmode did not answer in time.',
  payload,
});

async function queues(): Promise<{ name: string; main: QueueClient; poison: QueueClient }> {
  const name = `work-${(n += 1)}`;
  const main = new QueueClient(azurite.connectionString, name);
  const poison = new QueueClient(azurite.connectionString, `${name}-poison`);
  await Promise.all([main.createIfNotExists(), poison.createIfNotExists()]);
  return { name, main, poison };
}

async function drain(q: QueueClient): Promise<unknown[]> {
  const out: unknown[] = [];
  for (;;) {
    const { receivedMessageItems } = await q.receiveMessages({ numberOfMessages: 32 });
    if (receivedMessageItems.length === 0) return out;
    for (const m of receivedMessageItems) {
      out.push(decode(m.messageText));
      await q.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

async function poisonCli(args: string[]) {
  const child = spawnNode([
    '--import',
    'tsx',
    'tools/poison/main.ts',
    ...args,
    '--connection',
    azurite.connectionString,
  ]);
  const code = await child.exited;
  return { code, out: child.output() };
}

describe('reading poison messages', () => {
  it('the app record, and host-moved plain, base64 and enveloped messages', () => {
    const at = new Date('2026-02-01T10:00:00Z');
    expect(readPoisonText(JSON.stringify(appRecord(1)), 'a', at)).toMatchObject({
      reason: 'Sendmode rejected it: INVALID_MOBILE_NUMBER',
      attempts: 1,
      when: '2026-01-01T00:00:01.000Z',
      payload: customer(1),
      number: '*********001',
    });
    for (const text of [
      JSON.stringify(customer(2)),
      Buffer.from(JSON.stringify(customer(2))).toString('base64'),
    ]) {
      expect(readPoisonText(text, 'b', at)).toMatchObject({
        when: at.toISOString(),
        reason: expect.stringMatching(/^Moved by the Functions host/),
        payload: customer(2),
      });
    }
    const enveloped = readPoisonText(JSON.stringify(envelope(customer(3))), 'c', at);
    expect(enveloped.payload).toEqual(customer(3));
    expect(enveloped.reason).toContain('last: Sendmode did not answer in time.');
    expect(enveloped.attempts).toBe(3);
    expect(readPoisonText('not json at all', 'd', at).payload).toBe('not json at all');
  });

  it("a send's record: its id, and its first recipient masked with how many more", () => {
    const at = new Date('2026-02-01T10:00:00Z');
    const record = {
      reason: 'Sendmode rejected it: INVALID_MOBILE_NUMBER',
      attempts: 1,
      failedAt: '2026-01-01T00:00:00.000Z',
      message: {
        id: 'order-7',
        message: { messagetext: 'Hi', recipients: ['+353871234567', '+353871234568'] },
      },
    };
    expect(readPoisonText(JSON.stringify(record), 'e', at)).toMatchObject({
      sendId: 'order-7',
      number: '*********567 +1',
      payload: record.message,
    });
    const bare = { id: 'order-8', messagetext: 'Hi', recipients: ['+353871234569'] };
    expect(readPoisonText(JSON.stringify(envelope(bare)), 'f', at)).toMatchObject({
      sendId: 'order-8',
      number: '*********569',
      attempts: 3,
    });
  });
});

describe('npm run poison', () => {
  it('list shows id, when, attempts, the masked number and the reason, and leaves them in place', async () => {
    const { name, poison } = await queues();
    const sent = await poison.sendMessage(JSON.stringify(appRecord(7)));
    await poison.sendMessage(Buffer.from(JSON.stringify(envelope(customer(8)))).toString('base64'));
    const { code, out } = await poisonCli(['list', name]);
    expect(code).toBe(0);
    expect(out).toMatch(
      new RegExp(
        `${sent.messageId}\\s+2026-01-01 00:00:07Z\\s+1\\s+\\*+007\\s+Sendmode rejected it`,
      ),
    );
    expect(out).toMatch(/\*+008\s+Moved by the Functions host/);
    expect(out).toContain('2 message(s)');
    expect(out).not.toMatch(/3538730000[78]/);
    expect((await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(
      2,
    );

    const shown = await poisonCli(['show', `${name}-poison`, sent.messageId]);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out)).toMatchObject({
      id: sent.messageId,
      payload: { group: 'P', mobilenumber: '*********007' },
    });
    expect((await poisonCli(['show', name, 'no-such-id'])).code).toBe(2);
  });

  it('replay by id puts the original payload (no envelope) on the main queue, then removes it from poison', async () => {
    const { name, main, poison } = await queues();
    const a = await poison.sendMessage(
      JSON.stringify({ ...appRecord(1), message: envelope(customer(1)).payload }),
    );
    const b = await poison.sendMessage(JSON.stringify(envelope(customer(2))));
    await poison.sendMessage(JSON.stringify(appRecord(3)));
    const { code, out } = await poisonCli(['replay', name, a.messageId, b.messageId]);
    expect(code).toBe(0);
    expect(out).toContain('Replayed 2 message(s)');
    expect(out).not.toMatch(/3538730000[12]/);
    expect(await drain(main)).toEqual(expect.arrayContaining([customer(1), customer(2)]));
    const left = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
    expect(left.map((m) => (JSON.parse(m.messageText) as { message: unknown }).message)).toEqual([
      customer(3),
    ]);
  });

  it('replay --match picks by reason; --all takes the rest', async () => {
    const { name, main, poison } = await queues();
    await poison.sendMessage(
      JSON.stringify(appRecord(1, 'Failed 5 times; last: Sendmode did not answer in time.')),
    );
    await poison.sendMessage(JSON.stringify(appRecord(2)));
    expect((await poisonCli(['replay', name, '--match', 'did not answer'])).code).toBe(0);
    expect(await drain(main)).toEqual([customer(1)]);
    expect((await poisonCli(['replay', name, '--all'])).code).toBe(0);
    expect(await drain(main)).toEqual([customer(2)]);
    expect((await poison.getProperties()).approximateMessagesCount).toBe(0);
  });

  it('purge asks first (refuses without a terminal), deletes with --yes', async () => {
    const { name, poison } = await queues();
    await poison.sendMessage(JSON.stringify(appRecord(1)));
    const keep = await poison.sendMessage(JSON.stringify(appRecord(2)));
    const refused = await poisonCli(['purge', name, '--all']);
    expect(refused.code).toBe(2);
    expect(refused.out).toContain('Not confirmed: nothing deleted');
    expect((await poison.getProperties()).approximateMessagesCount).toBe(2);
    const some = await poisonCli(['purge', name, keep.messageId, '--yes']);
    expect(some.out).toContain('Deleted 1 message(s)');
    const all = await poisonCli(['purge', name, '--all', '--yes']);
    expect(all.code).toBe(0);
    expect((await poison.getProperties()).approximateMessagesCount).toBe(0);
    expect((await poisonCli(['replay', name])).code).toBe(2); // replay needs ids, --all or --match
  });

  it('a replay killed half-way loses nothing, and running it again finishes the job', async () => {
    const { name, main, poison } = await queues();
    const total = 400;
    for (let i = 0; i < total; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => poison.sendMessage(JSON.stringify(appRecord(i + j)))),
      );
    }
    const child = spawnNode([
      '--import',
      'tsx',
      'tools/poison/main.ts',
      'replay',
      name,
      '--all',
      '--connection',
      azurite.connectionString,
    ]);
    // Kill it as soon as some (not all) messages are on the main queue.
    let onMain = 0;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      onMain = (await main.getProperties()).approximateMessagesCount ?? 0;
      if (onMain > 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.process.kill('SIGKILL');
    await child.exited;
    const replayedBeforeKill = (await main.getProperties()).approximateMessagesCount ?? 0;
    const stillPoison = (await poison.getProperties()).approximateMessagesCount ?? 0;
    expect(replayedBeforeKill).toBeGreaterThan(0);
    expect(replayedBeforeKill).toBeLessThan(total); // really half-way
    // Nothing lost: every message is on one queue or the other (at most a batch in flight on both).
    expect(replayedBeforeKill + stillPoison).toBeGreaterThanOrEqual(total);
    expect(replayedBeforeKill + stillPoison).toBeLessThanOrEqual(total + 32);

    // Messages the killed run had leased reappear after the lease; the next run replays them.
    const again = spawnNode([
      '--import',
      'tsx',
      'tools/poison/main.ts',
      'replay',
      name,
      '--all',
      '--connection',
      azurite.connectionString,
    ]);
    expect(await again.exited).toBe(0);
    const leftover = (await poison.getProperties()).approximateMessagesCount ?? 0;
    const numbers = new Set<string>();
    const bodies = (await drain(main)) as { mobilenumber: string }[];
    for (const body of bodies) numbers.add(body.mobilenumber);
    // Every original either replayed or (leased by the killed run, not yet visible) still in poison.
    expect(numbers.size + leftover).toBeGreaterThanOrEqual(total);
    expect(bodies.length - numbers.size).toBeLessThanOrEqual(32); // duplicates: at most one batch in flight
  }, 90_000);
});

describe('npm run poison on the send queue', () => {
  const poisonQueue = () => new QueueClient(azurite.connectionString, `${OUTBOX}-poison`);
  const outboxQueue = () => new QueueClient(azurite.connectionString, OUTBOX);
  const sms = { messagetext: 'Your order has shipped', recipients: ['+353871112223'] };

  beforeEach(async () => {
    env.simulator.reset();
    for (const q of [outboxQueue(), poisonQueue()]) {
      await q.createIfNotExists();
      await q.clearMessages();
    }
  });

  const json = (r: HttpResponseInit) => JSON.parse(String(r.body)) as Record<string, unknown>;
  const getById = (id: string) =>
    smsStatus(
      new HttpRequest({
        method: 'GET',
        url: `http://localhost/api/sms/${encodeURIComponent(id)}`,
        params: { id },
      }),
      testContext('sms-status'),
    );
  const follow = (url: string) =>
    smsStatusByToken(
      new HttpRequest({
        method: 'GET',
        url,
        params: { id: decodeURIComponent(new URL(url).pathname.split('/')[3] ?? '') },
      }),
      testContext('sms-status'),
    );
  async function queueOverHttp(): Promise<{ id: string; statusUrl: string }> {
    const response = await sendSms(
      new HttpRequest({
        method: 'POST',
        url: 'http://localhost/api/sms',
        headers: { 'content-type': 'application/json', prefer: 'respond-async' },
        body: { string: JSON.stringify(sms) },
      }),
      testContext('send-sms'),
    );
    expect(response.status).toBe(202);
    return json(response) as { id: string; statusUrl: string };
  }
  async function visible(q: QueueClient) {
    return (await q.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
  }

  it('replays a parked send with its id: the status reopens, and it is sent under that id', async () => {
    env.simulator.injectFault({ kind: 'sendmode-error', operation: 'send', times: 1 });
    const { id, statusUrl } = await queueOverHttp();
    await drainOutbox(azurite.connectionString, OUTBOX);
    expect((await getById(id)).status).toBe(502); // failed for good, and parked
    const [parked] = await visible(poisonQueue());
    expect(parked).toBeDefined();

    // list names the send, and masks its number.
    const listed = await poisonCli(['list', OUTBOX]);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(/id\s+when\s+attempts\s+send id\s+number\s+reason/);
    expect(listed.out).toMatch(
      new RegExp(
        `${parked!.messageId}\\s+\\S+ \\S+\\s+1\\s+${id}\\s+\\*+223\\s+Sendmode rejected it`,
      ),
    );
    const shown = await poisonCli(['show', OUTBOX, parked!.messageId]);
    expect(JSON.parse(shown.out)).toMatchObject({
      sendId: id,
      payload: { id, message: { recipients: ['*********223'] } },
    });
    expect(listed.out + shown.out).not.toContain('871112223');

    const replayed = await poisonCli(['replay', OUTBOX, parked!.messageId]);
    expect(replayed.code).toBe(0);
    expect(replayed.out).toContain(`reopened send ${id}`);
    expect(replayed.out).toContain(`Replayed 1 message(s) onto ${OUTBOX}; 0 failed.`);
    expect(replayed.out).not.toContain('871112223');
    // The original message, id and all, no envelope; its status waits again (token URL too).
    const back = await visible(outboxQueue());
    expect(back.map((m) => decode(m.messageText))).toEqual([{ id, message: sms }]);
    expect(await visible(poisonQueue())).toEqual([]);
    const waiting = await getById(id);
    expect(waiting.status).toBe(202);
    expect(json(waiting)).toMatchObject({ id, status: 'queued' });
    expect(json(waiting)).not.toHaveProperty('lastError');
    expect((await follow(statusUrl)).status).toBe(202);

    await drainOutbox(azurite.connectionString, OUTBOX);
    const sent = await follow(statusUrl);
    expect(sent.status).toBe(200);
    expect(json(sent)).toMatchObject({ id, statusCode: 0 });
    expect((await getById(id)).status).toBe(200);
    // Two calls in all: the one Sendmode rejected, then the replayed one it took.
    const calls = env.simulator.callsFor('send');
    expect(calls.map((c) => [c.fault, c.statusCode])).toEqual([
      ['sendmode-error', expect.any(Number)],
      [undefined, 0],
    ]);
    expect(await visible(poisonQueue())).toEqual([]);
  });

  it('keeps a send whose status says sent in poison: replaying it would send nothing', async () => {
    await outboxQueue().sendMessage(JSON.stringify({ id: 'sent-once', ...sms }));
    await drainOutbox(azurite.connectionString, OUTBOX);
    expect((await getById('sent-once')).status).toBe(200);
    await poisonQueue().sendMessage(
      JSON.stringify({
        reason: 'Failed 5 times; last: Table Storage is unavailable.',
        attempts: 5,
        failedAt: new Date().toISOString(),
        message: { id: 'sent-once', ...sms },
      }),
    );
    const replayed = await poisonCli(['replay', OUTBOX, '--all']);
    expect(replayed.code).toBe(1);
    expect(replayed.out).toMatch(/not replayed \S+: send sent-once was sent already/);
    expect(replayed.out).toContain('Replayed 0 message(s)');
    expect(await visible(outboxQueue())).toEqual([]);
    expect(await visible(poisonQueue())).toHaveLength(1);
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('replays a send the host moved before it had an id: it is sent under its new message id', async () => {
    await poisonQueue().sendMessage(JSON.stringify(sms)); // as the producer dropped it
    const replayed = await poisonCli(['replay', OUTBOX, '--all']);
    expect(replayed.code).toBe(0);
    const newId = /carried no send id: it is sent as (\S+) /.exec(replayed.out)?.[1];
    expect(newId).toBeDefined();
    const [back] = await visible(outboxQueue());
    expect(back?.messageId).toBe(newId);
    await drainOutbox(azurite.connectionString, OUTBOX);
    const sent = await getById(newId!);
    expect(sent.status).toBe(200);
    expect(json(sent)).toMatchObject({ id: newId });
  });
});
