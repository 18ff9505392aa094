/**
 * The two pages in a real browser (Debian's headless Chromium, driven by playwright-core), under
 * `npm start`-like conditions: Azurite, the simulator and the built app under the local host as
 * child processes. SMS go in through POST /api/sms; the pages must follow without a reload, load
 * nothing from another origin, and leave screenshots in test-results/.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Azurite, startAzurite } from '../helpers/azurite.js';
import { type Browser, launchChromium, TEST_RESULTS } from '../helpers/browser.js';
import { ensureBuilt } from '../helpers/build.js';
import {
  type HostProcess,
  type SimulatorProcess,
  startHostProcess,
  startSimulatorProcess,
} from '../helpers/processes.js';

const KEY = 'browser-key-51c2';
const suffix = Math.random().toString(36).slice(2, 8);

let azurite: Azurite;
let simulator: SimulatorProcess;
let host: HostProcess;
let browser: Browser;

beforeAll(async () => {
  // The browser first: without it these tests fail at once, saying what to install.
  browser = await launchChromium();
  await ensureBuilt();
  [azurite, simulator] = await Promise.all([startAzurite(), startSimulatorProcess(KEY)]);
  host = await startHostProcess({
    env: {
      AzureWebJobsStorage: azurite.connectionString,
      SENDMODE_BASE_URL: simulator.url,
      SENDMODE_API_KEY: KEY,
      KEY_VAULT_URI: '',
      SENDMODE_ACCOUNT_NAME: `browser${suffix}`,
      IMPORT_QUEUE_NAME: `imports-${suffix}`,
      OPTOUT_QUEUE_NAME: `optout-${suffix}`,
      RATE_LIMIT_MAX_CALLS: '100',
      RATE_LIMIT_WINDOW_SECONDS: '60',
      RATE_LIMIT_MAX_WAIT_SECONDS: '0',
    },
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await host?.stop();
  await Promise.all([simulator?.stop(), azurite?.stop()]);
});

async function sendSms(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${host.url}/api/sms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** A page that records every request to another origin (the pages must work offline). */
async function openPage(url: string): Promise<{ page: Page; foreign: string[]; errors: string[] }> {
  const page = await browser.context.newPage();
  const origin = new URL(url).origin;
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on('request', (request) => {
    const target = new URL(request.url());
    if (target.protocol !== 'data:' && target.origin !== origin) foreign.push(request.url());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(url);
  return { page, foreign, errors };
}

describe('the simulator inbox in Chromium', () => {
  it('shows a sent SMS live, a fault as failed, searches and clears', async () => {
    const { page, foreign, errors } = await openPage(`${simulator.origin}/`);
    await expect.poll(() => page.locator('#live').textContent()).toBe('live');
    // A marker that a reload would wipe out.
    await page.evaluate(() => Object.assign(globalThis, { notReloaded: true }));

    const sent = await sendSms({
      messagetext: 'Your order has shipped <b>not bold</b>',
      recipients: ['+353870000001', '+353870000002'],
      senderid: 'Acme',
      customerid: 'order-1042',
    });
    expect(sent.status).toBe(200);
    const thread = page.locator('.thread-item[data-number="+353870000001"]');
    await thread.waitFor({ timeout: 10_000 });
    await thread.click();
    const bubble = page.locator('#thread .sms').first();
    await expect
      .poll(() => bubble.locator('.text').textContent())
      .toBe('Your order has shipped <b>not bold</b>');
    const facts = await bubble.locator('.fact').allTextContents();
    expect(facts).toEqual(
      expect.arrayContaining(['from Acme', 'customer order-1042', '1 part', 'GSM-7']),
    );
    expect(await page.locator('#thread b').count()).toBe(0); // text, never HTML

    // An injected fault: the app answers 5xx and the inbox shows the call as failed.
    const fault = await fetch(`${simulator.origin}/__admin/faults`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'http-error', httpStatus: 503, times: 1 }),
    });
    expect(fault.status).toBe(204);
    const failed = await sendSms({ messagetext: 'Grüße 😀', recipients: ['+353870000001'] });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const failedBubble = page.locator('#thread .sms.failed');
    await failedBubble.waitFor({ timeout: 10_000 });
    expect(await failedBubble.locator('.failure').textContent()).toBe(
      'Failed: injected fault: http-error (HTTP 503)',
    );
    expect(await failedBubble.locator('.fact').allTextContents()).toContain('UCS-2');
    expect(await page.locator('#count-failed').textContent()).toBe('1 failed');
    expect(await page.evaluate(() => 'notReloaded' in globalThis)).toBe(true);
    await page.screenshot({ path: join(TEST_RESULTS, 'inbox.png') });

    // Search by number, in any spelling.
    await page.fill('#search', '0000 002');
    await expect.poll(() => page.locator('.thread-item').count()).toBe(1);
    expect(await page.locator('.thread-item').getAttribute('data-number')).toBe('+353870000002');
    await page.fill('#search', '');

    // The All calls tab lists both calls, the failed one marked.
    await page.click('#tab-all');
    expect(await page.locator('#calls tr').count()).toBe(2);
    expect(await page.locator('#calls tr.failed').count()).toBe(1);

    await page.click('#clear');
    await expect.poll(() => page.locator('#count-all').textContent()).toBe('0');
    expect(await simulator.calls()).toEqual([]);
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
