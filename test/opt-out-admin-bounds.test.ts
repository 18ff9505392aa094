/**
 * Storage work per request on the operator routes is bounded:
 * `GET /api/optouts/{number}` answers a number's newest `TRAIL_PAGE_SIZE` trail entries and a
 * continuation for the older ones, whatever the trail's length (rows an earlier version wrote,
 * keyed oldest first, included); `since` on `GET /api/optouts` is applied by the storage query,
 * so old rows are never read. Real handlers and the real suppression list on Azurite; the only
 * instrumentation counts the entities the Table service hands back to the TableClient.
 */
import { TableClient, type TableEntityResult } from '@azure/data-tables';
import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { optOutsGet } from '../functions/opt-outs-get.js';
import { AuditTrail } from '../shared/opt-outs/audit-trail.js';
import { listPage, TRAIL_PAGE_SIZE } from '../shared/opt-outs/opt-out-admin.js';
import { csvExport } from '../shared/opt-outs/opt-out-export.js';
import { type ListChange, SuppressionList } from '../shared/opt-outs/suppression.js';
import { DEFAULT_PAGE_SIZE, type ListQuery } from '../shared/schemas/opt-out-admin.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

const NUMBER = '+353871234567';
const CANONICAL = '353871234567';
const DAY = 86_400_000;

type Json = Record<string, unknown>;

let env: AppEnv;
let run = 0;
let auditTableName = '';
let suppressionTableName = '';

beforeAll(async () => {
  env = await startAppEnv();
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  run += 1;
  const suffix = `${run}x${Date.now()}`;
  auditTableName = `boundsaudit${suffix}`;
  suppressionTableName = `boundsoptouts${suffix}`;
  await env.configure({
    SENDMODE_ACCOUNT_NAME: `bounds${suffix}`,
    SUPPRESSION_TABLE_NAME: suppressionTableName,
    OPT_OUT_AUDIT_TABLE_NAME: auditTableName,
    DEFAULT_COUNTRY_CODE: undefined,
  });
});

const tableClient = (name: string) =>
  TableClient.fromConnectionString(env.azurite.connectionString, name, {
    allowInsecureConnection: true,
  });

async function lookUp(number: string, query: Record<string, string> = {}) {
  const search = new URLSearchParams(query).toString();
  const response = await optOutsGet(
    new HttpRequest({
      method: 'GET',
      url: `http://localhost/api/optouts/${encodeURIComponent(number)}${search ? `?${search}` : ''}`,
      params: { number },
    }),
    testContext('opt-outs-get'),
  );
  return { response, json: JSON.parse(String(response.body)) as Json };
}

/** Every page of a number's trail, following the continuation; the pages as answered. */
async function allTrailPages(number: string): Promise<Json[][]> {
  const pages: Json[][] = [];
  let token: string | undefined;
  do {
    const { response, json } = await lookUp(number, token ? { trailContinuationToken: token } : {});
    expect(response.status).toBe(200);
    pages.push(json.trail as Json[]);
    token = json.trailContinuationToken as string | undefined;
    expect(pages.length).toBeLessThan(20);
  } while (token);
  return pages;
}

/** `count` alternating opt-outs and opt-ins (no repeats to coalesce), a second apart, from `start`. */
async function changes(list: SuppressionList, count: number, start: number, from = 0) {
  const made: { action: string; at: string }[] = [];
  for (let i = from; i < from + count; i++) {
    const change: ListChange = {
      number: NUMBER,
      action: i % 2 === 0 ? 'opt-out' : 'opt-in',
      source: 'api',
      eventAt: start + i * 1000,
    };
    const result = await list.apply(change);
    expect(result.applied).toBe(true);
    made.push({ action: change.action, at: new Date(change.eventAt).toISOString() });
  }
  return made;
}

const shape = (entries: Json[]) => entries.map((e) => ({ action: e.action, at: e.at }));

async function partitionRows(table: TableClient, partition: string) {
  const rows: TableEntityResult<Record<string, unknown>>[] = [];
  for await (const row of table.listEntities<Record<string, unknown>>({
    queryOptions: { filter: `PartitionKey eq '${partition}'` },
  }))
    rows.push(row);
  return rows;
}

/* ------------------------------------ the trail's cap ------------------------------------ */

describe('GET /api/optouts/{number}: the trail, newest first a page at a time', () => {
  it('a trail longer than the cap: the newest N, then the older ones, none twice or missed', async () => {
    const { suppression } = await getServices();
    const total = 2 * TRAIL_PAGE_SIZE + 7;
    const made = await changes(suppression, total, Date.now() - DAY);

    const first = await lookUp(NUMBER);
    expect(first.json).toMatchObject({ number: CANONICAL, suppressed: true }); // the last: opt-out
    const trail = first.json.trail as Json[];
    expect(trail).toHaveLength(TRAIL_PAGE_SIZE);
    // The newest N, shown oldest first as before: the last one is the latest change.
    expect(shape(trail)).toEqual(made.slice(-TRAIL_PAGE_SIZE));
    expect(first.json.trailContinuationToken).toEqual(expect.any(String));

    const pages = await allTrailPages(NUMBER);
    expect(pages.map((page) => page.length)).toEqual([TRAIL_PAGE_SIZE, TRAIL_PAGE_SIZE, 7]);
    const everything = pages.reverse().flat();
    expect(shape(everything)).toEqual(made);
    expect(new Set(everything.map((e) => e.changeId)).size).toBe(total);
  });

  it('exactly the cap: one page, no continuation', async () => {
    const { suppression } = await getServices();
    const made = await changes(suppression, TRAIL_PAGE_SIZE, Date.now() - DAY);
    const { json } = await lookUp(NUMBER);
    expect(shape(json.trail as Json[])).toEqual(made);
    expect(json).not.toHaveProperty('trailContinuationToken');
  });

  it('rows an earlier version wrote (keyed oldest first) are still shown, in order and once', async () => {
    const { suppression } = await getServices();
    const start = Date.now() - DAY;
    const made = await changes(suppression, 60, start);
    // Rewrite the trail as the earlier version kept it: padded event time + change id, ascending.
    const audit = tableClient(auditTableName);
    for (const row of await partitionRows(audit, CANONICAL)) {
      const { partitionKey, rowKey, etag: _etag, timestamp: _timestamp, ...fields } = row;
      const legacyKey = `${String(Date.parse(String(fields.at))).padStart(13, '0')}-${String(fields.changeId)}`;
      await audit.deleteEntity(partitionKey!, rowKey!);
      await audit.createEntity({ partitionKey: partitionKey!, rowKey: legacyKey, ...fields });
    }
    expect((await partitionRows(audit, CANONICAL)).every((r) => /^\d{13}-/.test(r.rowKey!))).toBe(
      true,
    );
    // This version carries on: its first change writes the previous one again (under its key).
    made.push(...(await changes(suppression, 3, start, 60)));

    // Two first reads at once: both move the old rows (one of them finds them gone), both answer.
    const firsts = await Promise.all([lookUp(NUMBER), lookUp(NUMBER)]);
    for (const first of firsts) {
      expect(first.response.status).toBe(200);
      expect(shape(first.json.trail as Json[])).toEqual(made.slice(-TRAIL_PAGE_SIZE));
    }
    const everything = (await allTrailPages(NUMBER)).reverse().flat();
    expect(shape(everything)).toEqual(made);
    expect(new Set(everything.map((e) => e.changeId)).size).toBe(made.length);

    // Moved to newest-first keys once, nothing left under the old ones and no row twice.
    const rows = await partitionRows(audit, CANONICAL);
    expect(rows).toHaveLength(made.length);
    expect(rows.filter((r) => /^\d/.test(r.rowKey!))).toEqual([]);
  });

  it('the latest change is shown even when its trail write failed, on the right page', async () => {
    const { suppression } = await getServices();
    const made = await changes(suppression, TRAIL_PAGE_SIZE + 1, Date.now() - DAY);
    // Lose the newest trail row: the suppression row still has it as its last change.
    const audit = tableClient(auditTableName);
    const rows = await partitionRows(audit, CANONICAL);
    const newest = rows.find((r) => r.at === made.at(-1)!.at)!;
    await audit.deleteEntity(CANONICAL, newest.rowKey!);

    const pages = await allTrailPages(NUMBER);
    expect(pages.map((page) => page.length)).toEqual([TRAIL_PAGE_SIZE, 1]);
    expect(shape(pages[0]!)).toEqual(made.slice(-TRAIL_PAGE_SIZE));
    expect(shape(pages.reverse().flat())).toEqual(made);
  });

  it.each([
    ['not base64url', 'not a token!'],
    ['another prefix', Buffer.from('after:353871234567').toString('base64url')],
    ['not a row key', Buffer.from("trail:d' or 1 eq 1").toString('base64url')],
    ['too long', 'x'.repeat(500)],
  ])('a bad trailContinuationToken (%s) → 400 naming it', async (_name, token) => {
    const { response, json } = await lookUp(NUMBER, { trailContinuationToken: token });
    expect(response.status).toBe(400);
    expect(json.errors).toEqual([{ field: 'trailContinuationToken', message: expect.any(String) }]);
  });
});

/* ------------------------------------ since, in the query ------------------------------------ */

/** Counts the entities the Table service returns through `table.listEntities`. */
function countEntities(table: TableClient): { read: number } {
  const counter = { read: 0 };
  const listEntities = table.listEntities.bind(table);
  table.listEntities = ((options?: Parameters<TableClient['listEntities']>[0]) => {
    const result = listEntities(options);
    const counted = (async function* () {
      for await (const entity of result) {
        counter.read += 1;
        yield entity;
      }
    })();
    return Object.assign(counted, {
      byPage: (settings?: Parameters<typeof result.byPage>[0]) =>
        (async function* () {
          for await (const page of result.byPage(settings)) {
            counter.read += page.length;
            yield page;
          }
        })(),
    });
  }) as unknown as TableClient['listEntities'];
  return counter;
}

describe('GET /api/optouts?since=…: applied by the storage query', () => {
  const oldNumbers = Array.from({ length: 300 }, (_, i) => `35386${String(1_000_000 + i)}`);
  // One more digit: spread through the key order, old ones before, between and after them.
  const newNumbers = [7, 88, 150, 222, 299].map((i) => `35386${String(1_000_000 + i)}5`);

  async function fill(list: SuppressionList) {
    const optOut = (number: string, eventAt: number) =>
      list.apply({ number, action: 'opt-out', source: 'api', eventAt });
    // The old ones were recorded a month ago (their optedOutAt too: the clock says so).
    const monthAgo = Date.now() - 30 * DAY;
    vi.useFakeTimers({ toFake: ['Date'], now: monthAgo });
    try {
      for (let i = 0; i < oldNumbers.length; i += 25) {
        await Promise.all(oldNumbers.slice(i, i + 25).map((n, j) => optOut(n, monthAgo + i + j)));
      }
    } finally {
      vi.useRealTimers();
    }
    const cut = Date.now() - 1000;
    await Promise.all(newNumbers.map((n) => optOut(n, Date.now())));
    return { cut, fresh: [...newNumbers].sort() };
  }

  async function setUp() {
    const table = tableClient(suppressionTableName);
    const list = new SuppressionList(table, new AuditTrail(tableClient(auditTableName)));
    const { cut, fresh } = await fill(list);
    return { list, counter: countEntities(table), cut, fresh };
  }

  const query = (since: number, pageSize = DEFAULT_PAGE_SIZE): ListQuery => ({
    since,
    pageSize,
    format: 'json',
  });

  it('with many old rows and a few new, one page holds the new ones and no old row is read', async () => {
    const { list, counter, cut, fresh } = await setUp();
    const page = await listPage(list, query(cut));
    expect(page.items.map((item) => item.number)).toEqual(fresh);
    expect(page).not.toHaveProperty('continuationToken');
    expect(counter.read).toBe(fresh.length);
  });

  it('pages by continuation through exactly the new ones, reading only them', async () => {
    const { list, counter, cut, fresh } = await setUp();
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await listPage(list, { ...query(cut, 2), ...(after ? { after } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => item.number));
      after = page.continuationToken
        ? Buffer.from(page.continuationToken, 'base64url').toString('utf8').slice('after:'.length)
        : undefined;
      pages += 1;
    } while (after);
    expect(pages).toBe(3);
    expect(seen).toEqual(fresh);
    // Each page reads at most pageSize + 1 matching rows (to know whether more follow).
    expect(counter.read).toBeLessThanOrEqual(3 + 3 + 1);
  });

  it('the CSV export with since reads only the new rows too', async () => {
    const { list, counter, cut, fresh } = await setUp();
    const stream = await csvExport(list, { ...query(cut), format: 'csv' });
    const lines = (await new Response(stream).text()).trim().split('\r\n');
    expect(lines.slice(1).map((line) => line.split(',')[0])).toEqual(fresh);
    expect(counter.read).toBe(fresh.length);
  });

  it('rows from before opt-ins existed (no since, only optedOutAt) are matched on optedOutAt', async () => {
    const table = tableClient(suppressionTableName);
    const list = new SuppressionList(table, new AuditTrail(tableClient(auditTableName)));
    const cut = Date.now() - DAY;
    await list.apply({ number: NUMBER, action: 'opt-out', source: 'api', eventAt: Date.now() });
    // The row shape the first version wrote: no suppressed, since or eventAt.
    const iso = (ms: number) => new Date(ms).toISOString();
    await table.createEntity({
      partitionKey: 'optout',
      rowKey: '353860000001',
      state: 'synced',
      optedOutAt: iso(cut + 1000),
      lastOptOutAt: iso(cut + 1000),
    });
    await table.createEntity({
      partitionKey: 'optout',
      rowKey: '353860000002',
      state: 'synced',
      optedOutAt: iso(cut - 1000),
      lastOptOutAt: iso(cut - 1000),
    });
    const counter = countEntities(table);
    const page = await listPage(list, query(cut));
    expect(page.items.map((item) => [item.number, item.since])).toEqual([
      ['353860000001', iso(cut + 1000)],
      [CANONICAL, expect.any(String)],
    ]);
    expect(counter.read).toBe(2);
  });
});
