/**
 * `npm run poison` on Azurite: list, show, replay (by id, --all, --match), purge (asks first),
 * for the app's poison records and for messages the host moved as they were (plain, base64,
 * retry envelope); and a replay killed half-way loses nothing.
 */
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPoisonText } from '../tools/poison/poison.js';
import { type Azurite, startAzurite } from './helpers/azurite.js';
import { spawnNode } from './helpers/processes.js';
import { decode } from './helpers/queues.js';

let azurite: Azurite;
let n = 0;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
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
