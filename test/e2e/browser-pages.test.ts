/**
 * The two pages in a real browser (Debian's headless Chromium, driven by playwright-core), as
 * `npm start` serves them: tools/start.ts itself runs the simulator and the built app under the
 * local host (on free ports, against a test Azurite), and the pages are opened at the URLs it
 * prints. SMS go in through POST /api/sms; the pages must follow without a reload, load nothing
 * from another origin, and leave screenshots in test-results/.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Azurite, startAzurite } from '../helpers/azurite.js';
import { type Browser, launchChromium, TEST_RESULTS } from '../helpers/browser.js';
import { ensureBuilt } from '../helpers/build.js';
import { freePorts } from '../helpers/free-port.js';
import { type Child, ROOT, spawnNode } from '../helpers/processes.js';

const suffix = Math.random().toString(36).slice(2, 8);

let azurite: Azurite;
let start: Child;
let browser: Browser;
/** What npm start printed. */
let inboxUrl: string;
let statusUrl: string;
let simulatorOrigin: string;
let hostUrl: string;
/** npm start makes local.settings.json when it is missing; a test leaves no such trace. */
const SETTINGS_FILE = join(ROOT, 'local.settings.json');
const hadSettingsFile = existsSync(SETTINGS_FILE);

beforeAll(async () => {
  // The browser first: without it these tests fail at once, saying what to install.
  browser = await launchChromium();
  await ensureBuilt();
  azurite = await startAzurite();
  const [simulatorPort, hostPort] = await freePorts(2);
  start = spawnNode(['--import', 'tsx', 'tools/start.ts'], {
    env: {
      SIMULATOR_PORT: String(simulatorPort),
      PORT: String(hostPort),
      // Not the development storage on 10000-10002: npm start then starts no Azurite.
      AzureWebJobsStorage: azurite.connectionString,
      SENDMODE_BASE_URL: undefined,
      SENDMODE_API_KEY: undefined,
      KEY_VAULT_URI: undefined,
      SENDMODE_ACCOUNT_NAME: `browser${suffix}`,
      IMPORT_QUEUE_NAME: `imports-${suffix}`,
      OPTOUT_QUEUE_NAME: `optout-${suffix}`,
      RATE_LIMIT_MAX_CALLS: '100',
      RATE_LIMIT_WINDOW_SECONDS: '60',
      RATE_LIMIT_MAX_WAIT_SECONDS: '0',
    },
  });
  await start.waitFor(/^Ready\./, 90_000);
  await start.waitFor(/Ctrl-C stops everything/);
  inboxUrl = (await start.waitFor(/^\s+Inbox:\s+(http:\/\/\S+)/))[1]!;
  statusUrl = (await start.waitFor(/^\s+Status:\s+(http:\/\/\S+)/))[1]!;
  simulatorOrigin = new URL(inboxUrl).origin;
  hostUrl = new URL(statusUrl).origin;
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await start?.stop('SIGINT', 30_000);
  await azurite?.stop();
  if (!hadSettingsFile) rmSync(SETTINGS_FILE, { force: true });
});

describe('without the browser', () => {
  it('fails, saying what to install (never skipped)', async () => {
    await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow(
      /need headless Chromium at \/nonexistent\/chromium, which is missing\. Install Debian's package as root: apt-get update && apt-get install -y chromium/,
    );
  });
});

describe('npm start', () => {
  it('prints the inbox and the status page, and both answer', async () => {
    expect(inboxUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(statusUrl).toMatch(/^http:\/\/localhost:\d+\/api\/status\/page$/);
    for (const url of [inboxUrl, statusUrl]) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    }
  });
});

async function sendSms(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${hostUrl}/api/sms`, {
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
    const { page, foreign, errors } = await openPage(inboxUrl);
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
    const fault = await fetch(`${simulatorOrigin}/__admin/faults`, {
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
    await page.screenshot({ path: join(TEST_RESULTS, 'inbox.png'), fullPage: true });

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
    const calls = await fetch(`${simulatorOrigin}/__admin/calls`);
    expect(((await calls.json()) as { calls: unknown[] }).calls).toEqual([]);
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('the status page in Chromium', () => {
  it('shows the limit, a used slot and a recent opt-out without a reload', async () => {
    const { page, foreign, errors } = await openPage(statusUrl);
    await expect.poll(() => page.locator('#live').textContent(), { timeout: 10_000 }).toBe('live');
    await page.evaluate(() => Object.assign(globalThis, { notReloaded: true }));
    const before = Number(await page.locator('#n-interactive').textContent());

    const sent = await sendSms({ messagetext: 'Status check', recipients: ['+353870000003'] });
    expect(sent.status).toBe(200);
    await expect
      .poll(async () => Number(await page.locator('#n-interactive').textContent()), {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(before + 1);
    const used = Number(
      /^(\d+) of 100 calls used in the last 60 s$/.exec(
        (await page.locator('#used').textContent()) ?? '',
      )?.[1],
    );
    expect(used).toBeGreaterThanOrEqual(before + 1);
    const bar = await page.locator('#bar-interactive').boundingBox();
    expect(bar?.width).toBeGreaterThan(0);
    expect(await page.locator('#next-slot').textContent()).toMatch(/^in \d+\.\d s \(at .+\)$/);
    await expect
      .poll(() => page.locator(`#queues tr[data-queue="imports-${suffix}"]`).count())
      .toBe(1);

    // An opt-out appears among the recent ones, masked.
    const optOut = await fetch(`${hostUrl}/api/optout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mobilenumber: '+353870000005', optoutresponse: 'STOP' }),
    });
    expect(optOut.status).toBe(200);
    await expect
      .poll(() => page.locator('#optouts li strong').first().textContent(), { timeout: 10_000 })
      .toBe('*********005');
    expect(await page.locator('#optouts').textContent()).not.toContain('870000005');
    expect(await page.evaluate(() => 'notReloaded' in globalThis)).toBe(true);
    await page.screenshot({ path: join(TEST_RESULTS, 'status-page.png'), fullPage: true });
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
