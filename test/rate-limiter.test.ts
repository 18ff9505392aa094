/**
 * The shared limiter against real Table Storage (Azurite on free ports, started here).
 * Each test uses its own account (PartitionKey), so tests do not see each other's logs.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import type { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DependencyUnavailableError, RateLimitedError } from '../shared/errors.js';
import { RATE_LIMIT_ROW_KEY } from '../shared/limit/limiter-entity.js';
import {
  type Admission,
  RateLimiter,
  rateLimiterFromSettings,
  type RateLimiterOptions,
} from '../shared/limit/rate-limiter.js';
import { parseSettings } from '../shared/settings.js';
import { createTableClient, ensureTable } from '../shared/storage/table-storage.js';
import { type Azurite, startAzurite } from './helpers/azurite.js';
import { sharedAzurite } from './helpers/storage.js';

const TABLE = 'ratelimitstest';

let azurite: Azurite;

beforeAll(async () => {
  // The run's Azurite; the storage-outage tests below stop one of their own.
  azurite = await sharedAzurite();
});

function settingsFor(connectionString: string, extra: Record<string, string> = {}) {
  return parseSettings({ AzureWebJobsStorage: connectionString, ...extra });
}

async function newTable(connectionString = azurite.connectionString): Promise<TableClient> {
  const table = await createTableClient(settingsFor(connectionString), TABLE);
  await ensureTable(table);
  return table;
}

function account(): string {
  return `test-${randomUUID().slice(0, 8)}`;
}

async function limiter(
  options: Partial<RateLimiterOptions> & Pick<RateLimiterOptions, 'maxCalls' | 'windowMs'>,
  table?: TableClient,
): Promise<RateLimiter> {
  return new RateLimiter(table ?? (await newTable()), {
    safetyMarginMs: 0,
    account: account(),
    ...options,
  });
}

/** The largest number of `times` inside any half-open window [t, t + spanMs). */
function maxInAnyWindow(times: number[], spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= spanMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

function admittedTimes(admissions: Admission[]): number[] {
  return admissions.flatMap((a) => (a.admitted ? [a.at] : []));
}

async function storedLog(table: TableClient, partition: string): Promise<number[]> {
  const entity = await table.getEntity<{ times: string }>(partition, RATE_LIMIT_ROW_KEY);
  return JSON.parse(entity.times) as number[];
}

/** A TableClient that runs `before` ahead of the chosen operations (to write behind the limiter's back). */
function interfering(
  table: TableClient,
  before: Partial<Record<'updateEntity' | 'createEntity', (call: number) => Promise<void>>>,
): TableClient {
  const calls = { updateEntity: 0, createEntity: 0 };
  return new Proxy(table, {
    get(target, prop) {
      if (prop === 'updateEntity' || prop === 'createEntity') {
        const hook = before[prop];
        const original = target[prop].bind(target) as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          calls[prop]++;
          if (hook) await hook(calls[prop]);
          return original(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

describe('createTableClient', () => {
  it('builds a client from a connection string and creates the table once', async () => {
    const table = await createTableClient(settingsFor(azurite.connectionString), 'clientpath');
    expect(table.url).toBe(`http://127.0.0.1:${azurite.tablePort}/${azurite.account}`);
    await ensureTable(table);
    await ensureTable(table); // memoised
    await ensureTable(table, { recheck: true }); // an existing table is fine
    await table.createEntity({ partitionKey: 'p', rowKey: 'r' });
    await expect(table.getEntity('p', 'r')).resolves.toBeTruthy();
  });

  it('accepts UseDevelopmentStorage=true', async () => {
    const table = await createTableClient(settingsFor('UseDevelopmentStorage=true'), 'devtable');
    expect(table.url).toBe('http://127.0.0.1:10002/devstoreaccount1');
  });

  it('builds the identity-based client from the service URI or the account name', async () => {
    const byUri = await createTableClient(
      parseSettings({
        AzureWebJobsStorage__tableServiceUri: 'https://acct.table.core.windows.net/',
        AzureWebJobsStorage__clientId: '00000000-0000-0000-0000-000000000000',
      }),
      'ratelimits',
    );
    expect(byUri.url).toBe('https://acct.table.core.windows.net');
    const byName = await createTableClient(
      parseSettings({ AzureWebJobsStorage__accountName: 'myaccount' }),
      'ratelimits',
    );
    expect(byName.url).toBe('https://myaccount.table.core.windows.net');
  });

  it('refuses missing or unsafe storage settings as a configuration problem', async () => {
    const missing = await createTableClient(parseSettings({}), 'ratelimits').catch((e) => e);
    expect(missing).toBeInstanceOf(DependencyUnavailableError);
    expect(missing).toMatchObject({ dependency: 'configuration' });
    expect((missing as Error).message).toMatch(/AzureWebJobsStorage/);

    const plainHttp = await createTableClient(
      parseSettings({ AzureWebJobsStorage__tableServiceUri: 'http://example.com' }),
      'ratelimits',
    ).catch((e) => e);
    expect(plainHttp).toMatchObject({ dependency: 'configuration' });

    const secret = 'AccountKey=c2VjcmV0LXNob3VsZC1ub3QtbGVhaw==';
    const bad = await createTableClient(settingsFor(`Nonsense=1;${secret}`), 'x').catch((e) => e);
    expect(bad).toMatchObject({ dependency: 'configuration' });
    expect((bad as Error).message).not.toContain('c2VjcmV0');
  });
});

describe('RateLimiter on one process', () => {
  it('admits exactly maxCalls of 50 concurrent callers, then frees slots after the window', async () => {
    const table = await newTable();
    const rl = await limiter({ maxCalls: 10, windowMs: 1_000, safetyMarginMs: 100 }, table);
    const first = await Promise.all(Array.from({ length: 50 }, () => rl.tryAcquire()));
    expect(admittedTimes(first)).toHaveLength(10);
    for (const a of first) {
      if (!a.admitted) {
        expect(a.retryAfterMs).toBeGreaterThan(0);
        expect(a.retryAfterMs).toBeLessThanOrEqual(1_100);
      }
    }
    // Still full a little later.
    await sleep(300);
    const again = await Promise.all(Array.from({ length: 20 }, () => rl.tryAcquire()));
    expect(admittedTimes(again)).toHaveLength(0);

    // After window + margin, a full set of slots again; never more than 10 per window.
    await sleep(900);
    const later = await Promise.all(Array.from({ length: 50 }, () => rl.tryAcquire()));
    expect(admittedTimes(later)).toHaveLength(10);
    const all = [...admittedTimes(first), ...admittedTimes(later)];
    expect(maxInAnyWindow(all, 1_100)).toBeLessThanOrEqual(10);
    expect(rl.stats().admissions).toBe(20);
  });

  it('keeps the log sorted and exact under a saturating loop (recorded and arrival times)', async () => {
    const rl = await limiter({ maxCalls: 10, windowMs: 400, safetyMarginMs: 50 });
    const recorded: number[] = [];
    const arrived: number[] = [];
    const until = Date.now() + 2_000;
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (Date.now() < until) {
          const a = await rl.tryAcquire();
          if (a.admitted) {
            recorded.push(a.at);
            arrived.push(Date.now());
          } else {
            await sleep(a.retryAfterMs);
          }
        }
      }),
    );
    expect(maxInAnyWindow(recorded, 450)).toBeLessThanOrEqual(10);
    expect(maxInAnyWindow(arrived, 400)).toBeLessThanOrEqual(10);
    // Saturated: close to the theoretical 10 per 450 ms.
    expect(recorded.length).toBeGreaterThanOrEqual(Math.floor((2_000 / 450) * 10 * 0.9));
  });

  it('is exact against the injected clock at the window boundary', async () => {
    let t = 1_000_000;
    const rl = await limiter({ maxCalls: 5, windowMs: 1_000, now: () => t });
    const first = await Promise.all(Array.from({ length: 7 }, () => rl.tryAcquire()));
    expect(first.filter((a) => a.admitted)).toHaveLength(5);
    expect(first[6]).toEqual({ admitted: false, retryAfterMs: 1_000 });
    t += 999;
    expect(await rl.tryAcquire()).toEqual({ admitted: false, retryAfterMs: 1 });
    t += 1;
    expect(await rl.tryAcquire()).toEqual({ admitted: true, at: t });
  });

  it('gives a retryAfterMs after which a waiting caller is admitted', async () => {
    const rl = await limiter({ maxCalls: 3, windowMs: 800, safetyMarginMs: 100 });
    const taken = await Promise.all([rl.tryAcquire(), rl.tryAcquire(), rl.tryAcquire()]);
    const oldest = Math.min(...admittedTimes(taken));
    await sleep(200);
    const denied = await rl.tryAcquire();
    expect(denied.admitted).toBe(false);
    if (denied.admitted) return;
    const expected = oldest + 900 - Date.now();
    expect(Math.abs(denied.retryAfterMs - expected)).toBeLessThanOrEqual(30);

    // Not early: a little before the slot frees, still denied.
    await sleep(Math.max(0, denied.retryAfterMs - 150));
    expect((await rl.tryAcquire()).admitted).toBe(false);
    await sleep(160);
    expect((await rl.tryAcquire()).admitted).toBe(true);
  });

  it('acquire waits for a slot that frees within maxWaitMs and throws RateLimitedError otherwise', async () => {
    const rl = await limiter({ maxCalls: 2, windowMs: 600 });
    await rl.acquire(0);
    await rl.acquire(0);

    const started = performance.now();
    await rl.acquire(2_000);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(500);
    expect(waited).toBeLessThan(1_000);

    await rl.acquire(0); // the second slot also freed by now
    const before = performance.now();
    const error = await rl.acquire(300).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(300);
    expect((error as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(600);
    // It knows no slot can free within 300 ms, so it answers without sleeping first.
    expect(performance.now() - before).toBeLessThan(250);
  });

  it('counts entries another instance recorded ahead of this clock (skewed clocks)', async () => {
    const table = await newTable();
    const partition = account();
    const options = { maxCalls: 5, windowMs: 1_000, safetyMarginMs: 0, account: partition };
    const ahead = new RateLimiter(table, { ...options, now: () => Date.now() + 300 });
    const behind = new RateLimiter(table, options);
    const early = await Promise.all(Array.from({ length: 5 }, () => ahead.tryAcquire()));
    expect(admittedTimes(early)).toHaveLength(5);
    // Those five lie 300 ms in this instance's future, yet fill every window that holds now.
    const late = await behind.tryAcquire();
    expect(late.admitted).toBe(false);
    if (!late.admitted) expect(late.retryAfterMs).toBeGreaterThan(1_000);
    const log = await storedLog(table, partition);
    expect(log).toEqual([...log].sort((x, y) => x - y));
  });

  it('holds 1000 admission times in one entity (RATE_LIMIT_MAX_CALLS upper bound)', async () => {
    const table = await newTable();
    const partition = account();
    const rl = new RateLimiter(table, {
      maxCalls: 1_000,
      windowMs: 60_000,
      safetyMarginMs: 1_000,
      account: partition,
    });
    const results = await Promise.all(Array.from({ length: 1_001 }, () => rl.tryAcquire()));
    expect(admittedTimes(results)).toHaveLength(1_000);
    expect(await storedLog(table, partition)).toHaveLength(1_000);
    const entity = await table.getEntity<{ times: string }>(partition, RATE_LIMIT_ROW_KEY);
    expect(entity.times.length * 2).toBeLessThan(32 * 1024); // bytes (UTF-16) vs the 64 KiB limit
  });

  it('treats an unreadable log as full (fail closed) and heals after one window', async () => {
    const table = await newTable();
    const partition = account();
    await table.createEntity({
      partitionKey: partition,
      rowKey: RATE_LIMIT_ROW_KEY,
      times: 'nope',
    });
    const rl = new RateLimiter(table, {
      maxCalls: 3,
      windowMs: 300,
      safetyMarginMs: 0,
      account: partition,
    });
    const denied = await rl.tryAcquire();
    expect(denied.admitted).toBe(false);
    expect(await storedLog(table, partition)).toHaveLength(3);
    await sleep(320);
    expect((await rl.tryAcquire()).admitted).toBe(true);
  });

  it('rateLimiterFromSettings is memoised per process and uses the settings', async () => {
    const settings = settingsFor(azurite.connectionString, {
      RATE_LIMIT_TABLE_NAME: 'fromsettings',
      SENDMODE_ACCOUNT_NAME: account(),
      RATE_LIMIT_MAX_CALLS: '2',
      RATE_LIMIT_WINDOW_SECONDS: '30',
    });
    const a = await rateLimiterFromSettings(settings);
    expect(await rateLimiterFromSettings(settings)).toBe(a);
    const results = await Promise.all([a.tryAcquire(), a.tryAcquire(), a.tryAcquire()]);
    expect(admittedTimes(results)).toHaveLength(2);
    const denied = results[2];
    expect(denied?.admitted).toBe(false);
    if (denied && !denied.admitted) {
      expect(denied.retryAfterMs).toBeGreaterThan(30_000);
      expect(denied.retryAfterMs).toBeLessThanOrEqual(31_000);
    }
  });
});

describe('RateLimiter across instances (separate TableClients, one table)', () => {
  it('never over-admits with many concurrent callers on several instances, and retries conflicts', async () => {
    const partition = account();
    const windowMs = 500;
    const maxCalls = 20;
    const instances = await Promise.all(
      Array.from(
        { length: 4 },
        async () =>
          new RateLimiter(await newTable(), {
            maxCalls,
            windowMs,
            safetyMarginMs: 0,
            account: partition,
          }),
      ),
    );
    const recorded: number[] = [];
    const durationMs = 2_600;
    const until = Date.now() + durationMs;
    await Promise.all(
      instances.flatMap((rl) =>
        Array.from({ length: 16 }, async () => {
          while (Date.now() < until) {
            const a = await rl.tryAcquire();
            if (a.admitted) recorded.push(a.at);
            else await sleep(a.retryAfterMs + Math.random() * 5);
          }
        }),
      ),
    );
    expect(maxInAnyWindow(recorded, windowMs)).toBeLessThanOrEqual(maxCalls);
    // Saturation: every window is used almost fully.
    const theoretical = Math.ceil(durationMs / windowMs) * maxCalls;
    expect(recorded.length).toBeGreaterThanOrEqual(theoretical * 0.85);
    const stats = instances.map((rl) => rl.stats());
    const conflicts = stats.reduce((sum, s) => sum + s.conflictRetries, 0);
    expect(stats.reduce((sum, s) => sum + s.admissions, 0)).toBe(recorded.length);
    expect(conflicts).toBeGreaterThan(0);
    console.log(
      `[rate-limiter] 4 instances x 16 callers: ${recorded.length} admitted (theoretical ${theoretical}), ` +
        `${conflicts} conflict retries (${(conflicts / recorded.length).toFixed(2)} per admission), ` +
        `${stats.reduce((sum, s) => sum + s.staleCacheConflicts, 0)} of them stale-cache writes`,
    );
  });

  it('exact across three child processes started with node --import tsx', async () => {
    const partition = account();
    const script = `
      import { RateLimiter } from './shared/limit/rate-limiter.ts';
      import { createTableClient, ensureTable } from './shared/storage/table-storage.ts';
      import { parseSettings } from './shared/settings.ts';
      const table = await createTableClient(parseSettings({ AzureWebJobsStorage: process.env.CS }), '${TABLE}');
      await ensureTable(table);
      const rl = new RateLimiter(table, { maxCalls: 10, windowMs: 30000, safetyMarginMs: 0, account: '${partition}' });
      const results = await Promise.all(Array.from({ length: 20 }, () => rl.tryAcquire()));
      console.log(JSON.stringify(results.filter((r) => r.admitted).length));
    `;
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '--eval', script],
          { cwd: process.cwd(), env: { ...process.env, CS: azurite.connectionString } },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) =>
          code === 0 ? resolve(Number(out.trim())) : reject(new Error(`child failed: ${err}`)),
        );
      });
    const counts = await Promise.all([run(), run(), run()]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10);
  });
});

describe('RateLimiter conditional writes', () => {
  it('treats a 412 from a stale ETag as a conflict, re-reads and re-decides (no over-admission)', async () => {
    const base = await newTable();
    const other = await newTable();
    const partition = account();
    const options = { maxCalls: 3, windowMs: 10_000, safetyMarginMs: 0, account: partition };
    await new RateLimiter(base, options).tryAcquire(); // the log exists with one entry

    // Between the limiter's read and its write, another instance fills the log.
    const sneaky = interfering(base, {
      updateEntity: async (call) => {
        if (call !== 1) return;
        const rival = new RateLimiter(other, options);
        const filled = await Promise.all([rival.tryAcquire(), rival.tryAcquire()]);
        expect(admittedTimes(filled)).toHaveLength(2);
      },
    });
    const rl = new RateLimiter(sneaky, options);
    const result = await rl.tryAcquire();
    expect(result.admitted).toBe(false);
    expect(rl.stats().conflictRetries).toBe(1);
    expect(await storedLog(base, partition)).toHaveLength(3);
  });

  it('treats a 409 on create as a conflict and re-reads', async () => {
    const base = await newTable();
    const other = await newTable();
    const partition = account();
    const options = { maxCalls: 2, windowMs: 10_000, safetyMarginMs: 0, account: partition };
    const sneaky = interfering(base, {
      createEntity: async (call) => {
        if (call !== 1) return;
        const rival = new RateLimiter(other, options);
        await Promise.all([rival.tryAcquire(), rival.tryAcquire()]);
      },
    });
    const rl = new RateLimiter(sneaky, options);
    expect((await rl.tryAcquire()).admitted).toBe(false);
    expect(rl.stats().conflictRetries).toBe(1);
    expect(await storedLog(base, partition)).toHaveLength(2);
  });

  it('fails closed with DependencyUnavailableError when conflicts outlast maxConflictRetries', async () => {
    const base = await newTable();
    const other = await newTable();
    const partition = account();
    // Every write is beaten by another writer (who keeps the log empty).
    const sneaky = interfering(base, {
      updateEntity: async () => {
        const current = await other.getEntity(partition, RATE_LIMIT_ROW_KEY);
        await other.updateEntity(
          { partitionKey: partition, rowKey: RATE_LIMIT_ROW_KEY, times: '[]' },
          'Replace',
          { etag: current.etag },
        );
      },
    });
    await other.createEntity({ partitionKey: partition, rowKey: RATE_LIMIT_ROW_KEY, times: '[]' });
    const rl = new RateLimiter(sneaky, {
      maxCalls: 5,
      windowMs: 10_000,
      safetyMarginMs: 0,
      account: partition,
      maxConflictRetries: 3,
    });
    const error = await rl.tryAcquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error).toMatchObject({ dependency: 'table-storage' });
    expect(rl.stats()).toMatchObject({ admissions: 0, conflictRetries: 4 });
    expect(await storedLog(base, partition)).toEqual([]);
  });
});

describe('RateLimiter when storage fails', () => {
  let own: Azurite;
  beforeAll(async () => {
    own = await startAzurite();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('fails closed quickly while storage is down and works again once it is back', async () => {
    const table = await newTable(own.connectionString);
    const rl = new RateLimiter(table, {
      maxCalls: 5,
      windowMs: 1_000,
      safetyMarginMs: 0,
      account: account(),
    });
    expect((await rl.tryAcquire()).admitted).toBe(true);

    await own.stop();
    const started = performance.now();
    const error = await rl.tryAcquire().catch((e: unknown) => e);
    const detectMs = performance.now() - started;
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error).toMatchObject({ dependency: 'table-storage' });
    expect((error as DependencyUnavailableError).retryAfterMs).toBeGreaterThan(0);
    expect((error as Error).message).not.toMatch(/AccountKey|Eby8vdM02/);
    expect(detectMs).toBeLessThan(3_000);

    // acquire() passes the storage failure on; it is not a rate limit.
    const waited = await rl.acquire(1_000).catch((e: unknown) => e);
    expect(waited).toBeInstanceOf(DependencyUnavailableError);
    expect(rl.stats().admissions).toBe(1);
    console.log(`[rate-limiter] storage down detected in ${detectMs.toFixed(0)} ms`);

    await own.start(); // in-memory: the table is gone and is created again
    expect((await rl.tryAcquire()).admitted).toBe(true);
  });
});

describe('RateLimiter when storage hangs', () => {
  it('gives up after operationTimeoutMs and fails closed', async () => {
    // A "storage" that accepts connections and never answers (a network black hole).
    const sockets = new Set<Socket>();
    const server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const cs = azurite.connectionString.replace(
        /TableEndpoint=[^;]+/,
        `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
      );
      const table = await createTableClient(settingsFor(cs), TABLE);
      const rl = new RateLimiter(table, {
        maxCalls: 5,
        windowMs: 1_000,
        safetyMarginMs: 0,
        account: account(),
        operationTimeoutMs: 300,
      });
      const started = performance.now();
      const error = await rl.tryAcquire().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DependencyUnavailableError);
      expect(error).toMatchObject({ dependency: 'table-storage' });
      expect((error as Error).message).toMatch(/300 ms/);
      expect(performance.now() - started).toBeLessThan(1_500);
      expect(rl.stats().admissions).toBe(0);
      // The looks that change nothing (the status page's window, a queued send's estimate)
      // time out the same way: a 503 naming the dependency, never an unexpected AbortError.
      for (const look of [() => rl.snapshot(), () => rl.expectedStart(3)]) {
        const lookError = await look().catch((e: unknown) => e);
        expect(lookError).toBeInstanceOf(DependencyUnavailableError);
        expect(lookError).toMatchObject({ dependency: 'table-storage' });
        expect((lookError as Error).message).toMatch(/300 ms/);
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('RateLimiter latency on Azurite', () => {
  it('reports decision latency beside a raw read + conditional write pair', async () => {
    const table = await newTable();
    const rl = await limiter({ maxCalls: 1_000, windowMs: 60_000 }, table);
    const partition = account();
    await table.createEntity({ partitionKey: partition, rowKey: 'raw', times: '[]' });
    const rounds = 200;
    const raw: number[] = [];
    const decisions: number[] = [];
    for (let i = 0; i < rounds; i++) {
      let t = performance.now();
      const entity = await table.getEntity<{ times: string }>(partition, 'raw');
      await table.updateEntity(
        { partitionKey: partition, rowKey: 'raw', times: entity.times },
        'Replace',
        { etag: entity.etag },
      );
      raw.push(performance.now() - t);
      t = performance.now();
      const a = await rl.tryAcquire();
      decisions.push(performance.now() - t);
      expect(a.admitted).toBe(i < 1_000);
    }
    const p50 = percentile(decisions, 50);
    const rawP50 = percentile(raw, 50);
    console.log(
      `[rate-limiter] 1 caller: decision p50 ${p50.toFixed(2)} ms p99 ${percentile(decisions, 99).toFixed(2)} ms; ` +
        `raw read+write p50 ${rawP50.toFixed(2)} ms p99 ${percentile(raw, 99).toFixed(2)} ms; ratio ${(p50 / rawP50).toFixed(2)}`,
    );
    expect(rl.stats().admissions).toBe(rounds);
  });
});

describe('RateLimiter: classes of work and reservations, through Table Storage', () => {
  it('keeps the interactive reserve across instances, and records each admission’s class', async () => {
    const partition = account();
    const options = {
      maxCalls: 6,
      windowMs: 30_000,
      safetyMarginMs: 0,
      interactiveReserve: 2,
      account: partition,
    };
    const [a, b] = [
      new RateLimiter(await newTable(), options),
      new RateLimiter(await newTable(), options),
    ];
    const background = await Promise.all(
      [a, b].flatMap((rl) => [1, 2, 3].map(() => rl.tryAcquire({ workClass: 'background' }))),
    );
    expect(admittedTimes(background)).toHaveLength(4);
    // One holds a reservation; the next, a background slot later, is beyond the horizon.
    expect(background.filter((d) => !d.admitted && d.reservation !== undefined)).toHaveLength(1);
    const interactive = await Promise.all([a.tryAcquire(), b.tryAcquire(), a.tryAcquire()]);
    expect(admittedTimes(interactive)).toHaveLength(2);
    const entity = await (
      await newTable()
    ).getEntity<{ kinds: string }>(partition, RATE_LIMIT_ROW_KEY);
    expect([...entity.kinds].sort().join('')).toBe('bbbbiir');
    const snapshot = await a.snapshot();
    expect(snapshot.admitted).toEqual({ interactive: 2, background: 4, total: 6 });
    expect(snapshot.reservedAhead).toBe(1);
  });

  it('a background caller waits in-process for a reservation within its wait and claims it', async () => {
    const rl = await limiter({ maxCalls: 1, windowMs: 600, safetyMarginMs: 0 });
    await rl.tryAcquire({ workClass: 'background' });
    const started = Date.now();
    await rl.acquire(2_000, { workClass: 'background' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(rl.stats()).toMatchObject({ reservations: 1, claims: 1, admissions: 2 });
  });

  it('beyond its wait, RateLimitedError carries the reservation, which a later call claims', async () => {
    const rl = await limiter({ maxCalls: 1, windowMs: 1_500, safetyMarginMs: 0 });
    await rl.tryAcquire({ workClass: 'background' });
    const error = await rl.acquire(0, { workClass: 'background' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    const reservation = (error as RateLimitedError).reservation;
    expect(reservation).toBeGreaterThan(Date.now());
    // Anyone else is refused meanwhile; the holder gets its slot at its moment.
    expect((await rl.tryAcquire({ workClass: 'background' })).admitted).toBe(false);
    await sleep(Math.max(0, reservation! - Date.now()));
    const claim = await rl.tryAcquire({ workClass: 'background', reservation });
    expect(claim.admitted).toBe(true);
  });

  it('reads a log written before classes existed as interactive admissions', async () => {
    const table = await newTable();
    const partition = account();
    const now = Date.now();
    await table.createEntity({
      partitionKey: partition,
      rowKey: RATE_LIMIT_ROW_KEY,
      times: JSON.stringify([now - 100, now - 50]),
    });
    const rl = new RateLimiter(table, {
      maxCalls: 3,
      windowMs: 10_000,
      safetyMarginMs: 0,
      interactiveReserve: 1,
      account: partition,
    });
    expect((await rl.snapshot()).admitted).toEqual({ interactive: 2, background: 0, total: 2 });
    expect((await rl.tryAcquire({ workClass: 'background' })).admitted).toBe(false);
    expect((await rl.tryAcquire()).admitted).toBe(true);
  });

  it.each([
    ['kinds of another length', { times: '[1,2]', kinds: 'i' }],
    ['an unknown kind', { times: '[1]', kinds: 'x' }],
  ])('fails closed on a log with %s (treated as full)', async (_what, props) => {
    const table = await newTable();
    const partition = account();
    await table.createEntity({ partitionKey: partition, rowKey: RATE_LIMIT_ROW_KEY, ...props });
    const rl = new RateLimiter(table, {
      maxCalls: 3,
      windowMs: 10_000,
      safetyMarginMs: 0,
      account: partition,
    });
    expect((await rl.tryAcquire()).admitted).toBe(false);
  });
});
