/**
 * The status page's hour of history on Azurite: minutes counted in memory and taken once over;
 * the writer's one row per finished minute per instance (two writers stand for two instances);
 * GET /api/status?history=N summing counts across instances and taking the largest depth, with
 * every minute present; the parameter's validation; the daily purge of old rows; and a storage
 * failure while writing that stays inside the writer.
 */
import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { status } from '../functions/status.js';
import {
  HISTORY_RETENTION_MS,
  type HistoryMinute,
  historyPartition,
  HistoryStore,
  MAX_HISTORY_MINUTES,
  parseHistoryParam,
} from '../shared/history/history-store.js';
import {
  historyInstanceId,
  HistoryWriter,
  type HistoryWriterDeps,
} from '../shared/history/history-writer.js';
import {
  countThisMinute,
  MAX_KEPT_MINUTES,
  MinuteCounter,
  minuteOf,
  takeFinishedMinutes,
} from '../shared/history/minute-counts.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

const MINUTE = 60_000;
/** A minute start, far from now: the fake clock's. */
const T0 = Date.UTC(2025, 2, 1, 14, 5);

let env: AppEnv;
let run = 0;
let tableName: string;
let table: TableClient;
let store: HistoryStore;
let outbox: string;

beforeAll(async () => {
  env = await startAppEnv();
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  run += 1;
  tableName = `history${run}x${Date.now()}`;
  outbox = `history-outbox-${run}-${Date.now()}`;
  await env.configure({
    HISTORY_TABLE_NAME: tableName,
    SEND_QUEUE_NAME: outbox,
    IMPORT_QUEUE_NAME: `history-imports-${run}`,
    OPT_OUT_QUEUE_NAME: `history-optouts-${run}`,
  });
  table = TableClient.fromConnectionString(env.azurite.connectionString, tableName, {
    allowInsecureConnection: true,
  });
  await table.createTable();
  store = new HistoryStore(table);
});

async function rows(): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  for await (const entity of table.listEntities<Record<string, unknown>>()) all.push(entity);
  return all.sort((a, b) =>
    `${String(a.partitionKey)}/${String(a.rowKey)}`.localeCompare(
      `${String(b.partitionKey)}/${String(b.rowKey)}`,
    ),
  );
}

/** A writer for one instance, on a fake clock, with its own counter. */
function writer(
  instance: string,
  clock: { now: number },
  overrides: Partial<HistoryWriterDeps> = {},
) {
  const counter = new MinuteCounter();
  const warnings: string[] = [];
  const history = new HistoryWriter({
    store,
    instance,
    sampleDepths: () => Promise.resolve({ [outbox]: { depth: 0, poison: 0 } }),
    takeFinished: (now) => counter.takeFinished(now),
    now: () => clock.now,
    warn: (line) => warnings.push(line),
    ...overrides,
  });
  return { counter, history, warnings };
}

async function getStatus(
  query: string,
): Promise<{ response: HttpResponseInit; json: Record<string, unknown> }> {
  const response = await status(
    new HttpRequest({ method: 'GET', url: `http://localhost/api/status${query}` }),
    testContext('status'),
  );
  return { response, json: JSON.parse(String(response.body)) as Record<string, unknown> };
}

describe('counting by minute', () => {
  it('adds within a minute; takes only finished minutes, oldest first, once', () => {
    const counter = new MinuteCounter();
    counter.count('interactive', 1, T0 + 1_000);
    counter.count('interactive', 2, T0 + 59_999);
    counter.count('rateLimited', 1, T0 + 30_000);
    counter.count('background', 1, T0 + MINUTE); // the next minute
    counter.count('deferred', 4, T0 - MINUTE + 5); // the one before
    expect(counter.takeFinished(T0 + MINUTE + 10)).toEqual([
      {
        minute: T0 - MINUTE,
        counts: { interactive: 0, background: 0, rateLimited: 0, deferred: 4, poisoned: 0 },
      },
      {
        minute: T0,
        counts: { interactive: 3, background: 0, rateLimited: 1, deferred: 0, poisoned: 0 },
      },
    ]);
    // Taken once; the minute under way stays until it is over.
    expect(counter.takeFinished(T0 + MINUTE + 20)).toEqual([]);
    counter.count('poisoned', 1, T0 + MINUTE + 30_000);
    expect(counter.takeFinished(T0 + 2 * MINUTE)).toEqual([
      {
        minute: T0 + MINUTE,
        counts: { interactive: 0, background: 1, rateLimited: 0, deferred: 0, poisoned: 1 },
      },
    ]);
  });

  it('keeps at most MAX_KEPT_MINUTES while nobody takes them, dropping the oldest', () => {
    const counter = new MinuteCounter();
    for (let i = 0; i < MAX_KEPT_MINUTES + 5; i++) counter.count('interactive', 1, T0 + i * MINUTE);
    const taken = counter.takeFinished(T0 + 1_000 * MINUTE);
    expect(taken).toHaveLength(MAX_KEPT_MINUTES);
    expect(taken[0]?.minute).toBe(T0 + 5 * MINUTE);
  });

  it('countThisMinute and takeFinishedMinutes use this process’s counter', () => {
    const long = T0 - 365 * 86_400_000; // nothing else counts then
    countThisMinute('interactive', 2, long);
    countThisMinute('background', 1, long + 10);
    const mine = takeFinishedMinutes(long + MINUTE).filter((m) => m.minute === minuteOf(long));
    expect(mine).toEqual([
      {
        minute: minuteOf(long),
        counts: { interactive: 2, background: 1, rateLimited: 0, deferred: 0, poisoned: 0 },
      },
    ]);
  });
});

describe('the history writer', () => {
  it('writes one row per finished minute per instance, with the depths sampled then', async () => {
    const clock = { now: T0 + 10_000 };
    const a = writer('instance-a', clock, {
      sampleDepths: () => Promise.resolve({ [outbox]: { depth: 5, poison: 1 } }),
    });
    const b = writer('instance-b', clock, {
      sampleDepths: () => Promise.resolve({ [outbox]: { depth: 7, poison: 0 } }),
    });
    a.counter.count('interactive', 3, clock.now);
    a.counter.count('rateLimited', 2, clock.now);
    b.counter.count('interactive', 2, clock.now);
    b.counter.count('background', 1, clock.now);
    b.counter.count('deferred', 4, clock.now);
    // Still within the minute: nothing has finished, nothing is written.
    await a.history.tick();
    expect(await rows()).toEqual([]);

    clock.now = T0 + MINUTE + 2_000;
    await Promise.all([a.history.tick(), b.history.tick()]);
    const written = await rows();
    expect(written.map((r) => [r.partitionKey, r.rowKey])).toEqual([
      ['m-2025-03-01T14:05', 'instance-a'],
      ['m-2025-03-01T14:05', 'instance-b'],
    ]);
    expect(written[0]).toMatchObject({
      interactive: 3,
      background: 0,
      rateLimited: 2,
      deferred: 0,
    });
    expect(JSON.parse(String(written[0]?.queues))).toEqual({ [outbox]: { depth: 5, poison: 1 } });

    // A second tick in the same minute writes nothing more.
    const writes = vi.spyOn(store, 'write');
    clock.now += 20_000;
    await Promise.all([a.history.tick(), b.history.tick()]);
    expect(writes).not.toHaveBeenCalled();
    // The next minute, nothing counted: one row each, for the depths.
    clock.now = T0 + 2 * MINUTE + 1_000;
    await Promise.all([a.history.tick(), b.history.tick()]);
    expect(writes).toHaveBeenCalledTimes(2);
    writes.mockRestore();

    // Read back: summed across the instances, the largest depth.
    const history = await store.lastMinutes(3, T0 + 3 * MINUTE, [outbox]);
    expect(history.minutes).toEqual([
      {
        at: '2025-03-01T14:05:00.000Z',
        calls: { interactive: 5, background: 1 },
        rateLimited: 2,
        deferred: 4,
        poisoned: 0,
        queues: { [outbox]: { depth: 7, poison: 1 } },
      },
      {
        at: '2025-03-01T14:06:00.000Z',
        calls: { interactive: 0, background: 0 },
        rateLimited: 0,
        deferred: 0,
        poisoned: 0,
        queues: { [outbox]: { depth: 7, poison: 1 } },
      },
      // Not written yet by anyone: zeros, and no depth.
      {
        at: '2025-03-01T14:07:00.000Z',
        calls: { interactive: 0, background: 0 },
        rateLimited: 0,
        deferred: 0,
        poisoned: 0,
        queues: { [outbox]: { depth: null, poison: null } },
      },
    ]);
  });

  it('after a late tick writes each finished minute, the depths only on the one just ended', async () => {
    const clock = { now: T0 + 5_000 };
    const a = writer('late', clock, {
      sampleDepths: () => Promise.resolve({ [outbox]: { depth: 9, poison: 2 } }),
    });
    a.counter.count('interactive', 1, T0 + 5_000);
    a.counter.count('poisoned', 1, T0 + MINUTE + 5_000);
    clock.now = T0 + 2 * MINUTE + 1;
    await a.history.tick();
    const written = await rows();
    expect(written.map((r) => [r.partitionKey, r.interactive, r.poisoned, r.queues])).toEqual([
      ['m-2025-03-01T14:05', 1, 0, undefined],
      ['m-2025-03-01T14:06', 0, 1, JSON.stringify({ [outbox]: { depth: 9, poison: 2 } })],
    ]);
  });

  it('runs on an unref’d timer until stopped', async () => {
    const clock = { now: Date.now() };
    const a = writer('timed', clock);
    const ticks = vi.spyOn(a.history, 'tick');
    a.history.start(20);
    a.history.start(20); // once
    await expect.poll(() => ticks.mock.calls.length).toBeGreaterThanOrEqual(2);
    a.history.stop();
    const after = ticks.mock.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(ticks.mock.calls.length).toBe(after);
  });

  it('the app’s services start one, and stop it when closed', async () => {
    const intervals = vi.spyOn(globalThis, 'setInterval');
    const cleared = vi.spyOn(globalThis, 'clearInterval');
    try {
      await env.configure({}); // fresh services on next use
      await getServices();
      const minute = intervals.mock.calls.filter(([, ms]) => ms === 60_000);
      expect(minute).toHaveLength(1);
      const timer = intervals.mock.results[intervals.mock.calls.indexOf(minute[0]!)]?.value as
        NodeJS.Timeout | undefined;
      expect(timer?.hasRef()).toBe(false);
      await env.configure({}); // closes them
      expect(cleared).toHaveBeenCalledWith(timer);
    } finally {
      intervals.mockRestore();
      cleared.mockRestore();
    }
  });

  it('names its rows by App Service’s instance id and the process, or a random id', () => {
    expect(historyInstanceId('a1b2c3d4e5', 42)).toBe('a1b2c3d4e5-42');
    expect(historyInstanceId('bad/id#?', 7)).toBe('badid-7');
    const local = historyInstanceId(undefined, 7);
    expect(local).toMatch(/^local[0-9a-f]{12}-7$/);
    expect(historyInstanceId('', 7)).toBe(local); // one per process
  });
});

describe('a storage failure while writing', () => {
  it('is logged without figures or secrets and dropped; the caller never sees it', async () => {
    // Nothing listens on port 1: every request fails at once (no retries).
    const unreachable = TableClient.fromConnectionString(
      env.azurite.connectionString.replace(
        /TableEndpoint=[^;]+/,
        'TableEndpoint=http://127.0.0.1:1/devstoreaccount1',
      ),
      tableName,
      { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } },
    );
    const clock = { now: T0 + 1_000 };
    const a = writer('failing', clock, { store: new HistoryStore(unreachable) });
    a.counter.count('interactive', 4242, clock.now);
    clock.now += MINUTE;
    await expect(a.history.tick()).resolves.toBeUndefined();
    expect(a.warnings).toHaveLength(1);
    const line = JSON.parse(a.warnings[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ operation: 'history', outcome: 'dropped', what: 'write' });
    expect(a.warnings[0]).not.toContain('4242');
    expect(a.warnings[0]).not.toMatch(/AccountKey|Eby8vdM|127\.0\.0\.1|devstoreaccount1/);
    // Dropped, not kept: the next minute writes its own row only.
    const writes: number[] = [];
    const b = writer('failing', clock, {
      store: { write: (row) => Promise.resolve(void writes.push(row.minute)) },
      takeFinished: () => a.counter.takeFinished(clock.now),
    });
    clock.now += MINUTE;
    await b.history.tick();
    expect(writes).toEqual([minuteOf(clock.now) - MINUTE]);
  });

  it('a failed depth sample still writes the counts, without depths', async () => {
    const clock = { now: T0 + 1_000 };
    const a = writer('nodepths', clock, {
      sampleDepths: () => Promise.reject(new Error('queue storage down')),
    });
    a.counter.count('background', 2, clock.now);
    clock.now += MINUTE;
    await a.history.tick();
    expect(a.warnings.map((w) => (JSON.parse(w) as { what: string }).what)).toEqual(['depths']);
    expect(a.warnings[0]).not.toContain('queue storage down');
    const [row] = await rows();
    expect(row).toMatchObject({ rowKey: 'nodepths', background: 2 });
    expect(row).not.toHaveProperty('queues');
  });

  it('a logger that throws does not escape either', async () => {
    const clock = { now: T0 + 1_000 };
    const a = writer('badlog', clock, {
      store: { write: () => Promise.reject(new Error('down')) },
      warn: () => {
        throw new Error('logger down');
      },
    });
    clock.now += MINUTE;
    await expect(a.history.tick()).resolves.toBeUndefined();
  });
});

describe('GET /api/status?history=N', () => {
  it('returns the last N minutes, oldest first: counts summed, depths the largest, every minute there', async () => {
    const { settings } = await getServices();
    const queues = [
      settings.SEND_QUEUE_NAME,
      settings.IMPORT_QUEUE_NAME,
      settings.OPT_OUT_QUEUE_NAME,
      settings.EVENT_QUEUE_NAME,
    ];
    const current = minuteOf(Date.now());
    const depths = (outboxDepth: number, poison: number) =>
      Object.fromEntries(
        queues.map((name) => [
          name,
          name === outbox ? { depth: outboxDepth, poison } : { depth: 0, poison: 0 },
        ]),
      );
    const counts = (interactive: number, background: number, rateLimited = 0, deferred = 0) => ({
      interactive,
      background,
      rateLimited,
      deferred,
      poisoned: 0,
    });
    const twoAgo = current - 2 * MINUTE;
    const threeAgo = current - 3 * MINUTE;
    await store.write({
      minute: twoAgo,
      instance: 'i1',
      counts: counts(4, 1, 2),
      queues: depths(12, 1),
    });
    await store.write({
      minute: twoAgo,
      instance: 'i2',
      counts: counts(6, 0, 1, 3),
      queues: depths(20, 0),
    });
    await store.write({ minute: threeAgo, instance: 'i1', counts: counts(1, 1), queues: null });
    // Too old for the window, and the minute under way: neither shows.
    await store.write({
      minute: current - 30 * MINUTE,
      instance: 'i1',
      counts: counts(99, 99),
      queues: null,
    });

    const { response, json } = await getStatus('?history=5');
    expect(response.status).toBe(200);
    expect(json).toHaveProperty('limit'); // what it answers anyway
    expect(json).toHaveProperty('queues');
    const minutes = (json.history as { minutes: HistoryMinute[] }).minutes;
    expect(minutes).toHaveLength(5);
    const at = minutes.map((m) => Date.parse(m.at));
    // Consecutive minutes, oldest first, the last one the minute before the request's.
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBe(MINUTE);
    expect([current - MINUTE, current]).toContain(at[4]!); // (a minute may turn meanwhile)
    const find = (ms: number) => minutes.find((m) => m.at === new Date(ms).toISOString());
    expect(find(twoAgo)).toEqual({
      at: new Date(twoAgo).toISOString(),
      calls: { interactive: 10, background: 1 },
      rateLimited: 3,
      deferred: 3,
      poisoned: 0,
      queues: depths(20, 1),
    });
    expect(find(threeAgo)).toMatchObject({
      calls: { interactive: 1, background: 1 },
      queues: Object.fromEntries(queues.map((name) => [name, { depth: null, poison: null }])),
    });
    for (const minute of minutes.filter((m) => ![twoAgo, threeAgo].includes(Date.parse(m.at)))) {
      expect(minute).toEqual({
        at: minute.at,
        calls: { interactive: 0, background: 0 },
        rateLimited: 0,
        deferred: 0,
        poisoned: 0,
        queues: Object.fromEntries(queues.map((name) => [name, { depth: null, poison: null }])),
      });
    }
    expect(Object.keys(minutes[0]!.queues)).toEqual(queues); // the send queue first

    // Up to 180 minutes; without the parameter the answer is as before.
    const longest = await getStatus(`?history=${MAX_HISTORY_MINUTES}`);
    expect((longest.json.history as { minutes: unknown[] }).minutes).toHaveLength(180);
    const plain = await getStatus('');
    expect(plain.response.status).toBe(200);
    expect(plain.json).not.toHaveProperty('history');
    expect(Object.keys(plain.json).sort()).toEqual(
      Object.keys(json)
        .filter((k) => k !== 'history')
        .sort(),
    );
  });

  it.each([
    '?history=0',
    '?history=181',
    '?history=abc',
    '?history=1.5',
    '?history=',
    '?history=-5',
  ])('%s is a 400 problem naming history', async (query) => {
    const { response, json } = await getStatus(query);
    expect(response.status).toBe(400);
    expect((response.headers as Record<string, string>)['content-type']).toBe(
      'application/problem+json',
    );
    expect(json).toMatchObject({ status: 400 });
    expect(json.errors).toEqual([
      { field: 'history', message: 'must be a whole number of minutes from 1 to 180' },
    ]);
  });

  it('the parameter takes 1 to 180; absent is none', () => {
    expect(parseHistoryParam(null)).toBeUndefined();
    expect(parseHistoryParam('1')).toBe(1);
    expect(parseHistoryParam('060')).toBe(60);
    expect(parseHistoryParam('180')).toBe(180);
    for (const raw of ['0', '181', '1e2', ' 5', '5 ', '0x10', '9'.repeat(400)]) {
      expect(() => parseHistoryParam(raw), raw).toThrow(/invalid/);
    }
  });
});

describe('the daily purge', () => {
  it('removes history rows older than three hours and keeps the rest', async () => {
    const now = Date.now();
    const row = (minute: number, instance: string) => ({
      minute,
      instance,
      counts: { interactive: 1, background: 0, rateLimited: 0, deferred: 0, poisoned: 0 },
      queues: null,
    });
    await store.write(row(now - HISTORY_RETENTION_MS - 10 * MINUTE, 'old-a'));
    await store.write(row(now - HISTORY_RETENTION_MS - 10 * MINUTE, 'old-b'));
    await store.write(row(now - 24 * 3_600_000, 'older'));
    await store.write(row(now - HISTORY_RETENTION_MS + 10 * MINUTE, 'recent'));
    await store.write(row(now - MINUTE, 'latest'));
    const purged = await (await getServices()).purgeExpired(now);
    expect(purged.history).toBe(3);
    expect((await rows()).map((r) => r.rowKey).sort()).toEqual(['latest', 'recent']);
    expect(historyPartition(now)).toMatch(/^m-\d{4}-\d\d-\d\dT\d\d:\d\d$/);
  });
});
