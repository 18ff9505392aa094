/**
 * The status page's hour of history in a real browser (Debian's headless Chromium, driven by
 * playwright-core), served by the built app under the local host: history rows of two
 * instances are seeded through the app's own store, and the page must chart them (bars per
 * minute, the largest figure, the queue lines), load nothing from another origin and log no
 * error. A screenshot is left in test-results/.
 */
import { join } from 'node:path';

import { TableClient } from '@azure/data-tables';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type HistoryRow, HistoryStore } from '../../shared/history/history-store.js';
import { emptyCounts, type MinuteCounts, minuteOf } from '../../shared/history/minute-counts.js';
import { type Browser, launchChromium, TEST_RESULTS } from '../helpers/browser.js';
import { type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';

const MINUTE = 60_000;
const suffix = Math.random().toString(36).slice(2, 8);

let browser: Browser;
let env: HostsEnv;
let pageUrl: string;

beforeAll(async () => {
  // The browser first: without it these tests fail at once, saying what to install.
  browser = await launchChromium();
  env = await startHostsEnv(1, { HISTORY_TABLE_NAME: `historyui${suffix}` });
  pageUrl = `${env.hosts[0]!.url}/api/status/page`;
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

/** Opens `url`, recording requests to another origin and every error the page logs. */
async function openPage(
  url: string,
): Promise<{ page: Page; foreign: string[]; errors: string[]; asked: string[] }> {
  const page = await browser.context.newPage();
  const origin = new URL(url).origin;
  const foreign: string[] = [];
  const errors: string[] = [];
  const asked: string[] = [];
  page.on('request', (request) => {
    const target = new URL(request.url());
    if (target.protocol !== 'data:' && target.origin !== origin) foreign.push(request.url());
    if (target.pathname === '/api/status') asked.push(target.search);
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(url);
  return { page, foreign, errors, asked };
}

describe('the status page’s last hour in Chromium', () => {
  it('charts the seeded minutes: calls by class, the limit’s 429s and deferrals, queue depths', async () => {
    const { settings } = env;
    const outbox = settings.SEND_QUEUE_NAME!;
    const queues = [
      outbox,
      settings.IMPORT_QUEUE_NAME!,
      settings.OPT_OUT_QUEUE_NAME!,
      settings.EVENT_QUEUE_NAME ?? 'event-deliveries',
    ];
    const table = TableClient.fromConnectionString(
      env.azurite.connectionString,
      settings.HISTORY_TABLE_NAME!,
      { allowInsecureConnection: true },
    );
    await table.createTable();
    const store = new HistoryStore(table);
    const now = minuteOf(Date.now());
    const ago = (k: number) => now - k * MINUTE;
    const counts = (values: Partial<MinuteCounts>): MinuteCounts => ({
      ...emptyCounts(),
      ...values,
    });
    const depths = (depth: number, poison: number) =>
      Object.fromEntries(
        queues.map((name) => [name, name === outbox ? { depth, poison } : { depth: 0, poison: 0 }]),
      );
    const seeded: HistoryRow[] = [
      // Two instances in one minute: 42 interactive, 4 background calls; the outbox 25 deep.
      {
        minute: ago(5),
        instance: 'a',
        counts: counts({ interactive: 30, background: 4 }),
        queues: depths(25, 3),
      },
      { minute: ago(5), instance: 'b', counts: counts({ interactive: 12 }), queues: depths(17, 1) },
      {
        minute: ago(6),
        instance: 'a',
        counts: counts({ interactive: 3, background: 7 }),
        queues: depths(10, 3),
      },
      { minute: ago(7), instance: 'a', counts: emptyCounts(), queues: depths(8, 2) },
      { minute: ago(8), instance: 'a', counts: emptyCounts(), queues: depths(0, 0) },
      { minute: ago(10), instance: 'a', counts: counts({ background: 2 }), queues: null },
      {
        minute: ago(20),
        instance: 'a',
        counts: counts({ rateLimited: 9, deferred: 4 }),
        queues: null,
      },
      { minute: ago(20), instance: 'b', counts: counts({ rateLimited: 2 }), queues: null },
      {
        minute: ago(30),
        instance: 'a',
        counts: counts({ deferred: 6, poisoned: 1 }),
        queues: null,
      },
      // Older than the hour the page asks for: not charted.
      {
        minute: ago(90),
        instance: 'a',
        counts: counts({ interactive: 500 }),
        queues: depths(900, 0),
      },
    ];
    for (const row of seeded) await store.write(row);

    const { page, foreign, errors, asked } = await openPage(pageUrl);
    await expect.poll(() => page.locator('#live').textContent(), { timeout: 15_000 }).toBe('live');
    const summary = page.locator('#history-summary');
    await expect.poll(() => summary.textContent(), { timeout: 15_000 }).toMatch(/^In the last/);
    expect(asked).toContain('?history=60');
    expect(await summary.textContent()).toBe(
      'In the last 60 minutes: 58 Sendmode calls (45 interactive, 13 background), 11 calls answered 429, 10 messages deferred for the limit, 1 parked in a poison queue.',
    );

    // Calls: stacked bars, one per class and minute with calls, the busiest minute labelled.
    const calls = page.locator('#chart-calls-plot svg');
    expect(await calls.count()).toBe(1);
    expect(await page.locator('#chart-calls-max').textContent()).toBe('max 46 a minute');
    const bars = async (selector: string) =>
      page
        .locator(selector)
        .evaluateAll((nodes) =>
          nodes.map((n) => [n.getAttribute('data-minute'), Number(n.getAttribute('data-value'))]),
        );
    const iso = (k: number) => new Date(ago(k)).toISOString();
    expect(await bars('#chart-calls-plot rect.s-interactive')).toEqual([
      [iso(6), 3],
      [iso(5), 42],
    ]);
    expect(await bars('#chart-calls-plot rect.s-background')).toEqual([
      [iso(10), 2],
      [iso(6), 7],
      [iso(5), 4],
    ]);
    // The tallest bar reaches (near) the top; the scale's top is labelled.
    const busiest = page.locator(`#chart-calls-plot rect[data-minute="${iso(5)}"]`);
    expect(await busiest.count()).toBe(2);
    expect(await page.locator('#chart-calls-plot text').allTextContents()).toContain('50');
    expect(
      await page
        .locator(`#chart-calls-plot rect.s-interactive[data-minute="${iso(5)}"] title`)
        .textContent(),
    ).toMatch(/^\d{1,2}:\d\d(\s?[AP]M)?: 42 interactive$/); // in the browser's locale

    // Held back by the limit: side-by-side bars.
    expect(await page.locator('#chart-waits-max').textContent()).toBe('max 11 a minute');
    expect(await bars('#chart-waits-plot rect.s-rateLimited')).toEqual([[iso(20), 11]]);
    expect(await bars('#chart-waits-plot rect.s-deferred')).toEqual([
      [iso(30), 6],
      [iso(20), 4],
    ]);
    expect(await bars('#chart-waits-plot rect.s-poisoned')).toEqual([[iso(30), 1]]);

    // Queues: a line per queue (the largest depth of the two instances), dashed for its poison queue.
    expect(await page.locator('#chart-queues-max').textContent()).toBe('max 25 messages');
    const lines = await page
      .locator(`#chart-queues-plot [data-queue="${outbox}"]`)
      .evaluateAll((nodes) =>
        nodes.map((n) => [
          n.tagName,
          n.getAttribute('data-series'),
          n.getAttribute('data-points'),
          n.getAttribute('class'),
        ]),
      );
    expect(lines).toEqual(
      expect.arrayContaining([
        ['polyline', 'depth', '4', 'line q0'],
        ['polyline', 'poison', '4', 'line q0 poison'],
      ]),
    );
    expect(await page.locator('#chart-queues-legend li').allTextContents()).toEqual(queues);

    await page.screenshot({ path: join(TEST_RESULTS, 'status-history.png'), fullPage: true });
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
