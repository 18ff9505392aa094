/**
 * The two pages in a real browser (Debian's headless Chromium, driven by playwright-core), as
 * `npm start` serves them: tools/start.ts itself runs the simulator and the built app under the
 * local host (on free ports, against a test Azurite), and the pages are opened at the URLs it
 * prints. SMS go in through POST /api/sms; the pages must follow without a reload, load nothing
 * from another origin, and leave screenshots in test-results/. The queued-send commands npm start
 * prints are run as pasted (bash, curl, node).
 */
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { QueueClient } from '@azure/storage-queue';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Azurite } from '../helpers/azurite.js';
import { type Browser, launchChromium, TEST_RESULTS } from '../helpers/browser.js';
import { freshSuffix } from '../helpers/common.js';
import { freePorts } from '../helpers/free-port.js';
import { type Child, ROOT, spawnNode } from '../helpers/processes.js';
import { sharedAzurite } from '../helpers/storage.js';

const suffix = freshSuffix(6);
const OUTBOX = `outbox-${suffix}`;

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
  azurite = await sharedAzurite();
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
      OPT_OUT_QUEUE_NAME: `optout-${suffix}`,
      SEND_QUEUE_NAME: OUTBOX,
      RATE_LIMIT_MAX_CALLS: '100',
      RATE_LIMIT_WINDOW_SECONDS: '60',
      RATE_LIMIT_MAX_WAIT_SECONDS: '0',
      // Sends count as unreported at once, and two make the warning (the status page's test).
      DELIVERY_REPORT_EXPECTED_MINUTES: '0',
      DELIVERY_REPORT_WATCH_SENDS: '2',
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

const run = promisify(execFile);

/** The command lines npm start printed from the line matching `from` up to the next function's. */
function printedCommands(from: RegExp, until: RegExp): string[] {
  const lines = start.output().split('\n');
  const first = lines.findIndex((l) => from.test(l));
  const last = lines.findIndex((l, i) => i > first && until.test(l));
  expect(first).toBeGreaterThan(-1);
  return lines
    .slice(first, last === -1 ? undefined : last)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Runs lines as a user pasting them into bash would, in the repository, with Azurite as storage. */
async function paste(lines: string[]): Promise<string> {
  const { stdout } = await run('bash', ['-c', `set -e\n${lines.join('\n')}`], {
    cwd: ROOT,
    env: { ...process.env, AzureWebJobsStorage: azurite.connectionString },
    timeout: 20_000,
  });
  return stdout;
}

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
  // Which resource failed, which the console's "Failed to load resource" does not say.
  page.on('response', (response) => {
    if (response.status() >= 500) errors.push(`${response.status()} from ${response.url()}`);
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(url);
  return { page, foreign, errors };
}

/** The lines of npm start's output (the host's log among them) that report an error. */
function hostErrors(): string {
  const lines = start.output().split('\n');
  return lines
    .filter((line) => /error|exception|fail/i.test(line))
    .slice(-20)
    .join('\n');
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
    expect(errors, hostErrors()).toEqual([]);
    await page.close();
  }, 60_000);

  it("shows each recipient's delivery report as it arrives", async () => {
    // A page of our own answering True (npm start points the simulator at the app's).
    const queries: URLSearchParams[] = [];
    const receiver = createServer((req, res) => {
      queries.push(new URL(req.url ?? '/', 'http://receiver.invalid').searchParams);
      res.end('True');
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    const reportsUrl = `${simulatorOrigin}/__admin/delivery-reports`;
    const configure = (settings: unknown) =>
      fetch(reportsUrl, { method: 'PUT', body: JSON.stringify(settings) });
    const started = (await (await fetch(reportsUrl)).json()) as { url: string };
    // npm start points the simulator at the app, and says so.
    expect(started.url).toBe(`${hostUrl.replace('localhost', '127.0.0.1')}/api/delivery-reports`);
    expect(start.output()).toContain(
      `Reports:    the simulator's delivery reports to ${started.url} (DELIVERY_REPORTS=on;`,
    );
    try {
      const put = await configure({
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/reports`,
        delayMs: 500,
        finalDelayMs: 1500,
        statusByNumber: { '353870000012': 'UNDELIV' },
      });
      expect(put.status).toBe(200);
      const { page, foreign, errors } = await openPage(inboxUrl);
      await expect.poll(() => page.locator('#live').textContent()).toBe('live');
      await page.evaluate(() => Object.assign(globalThis, { notReloaded: true }));
      const sent = await sendSms({
        messagetext: 'Delivery check',
        recipients: ['+353870000011', '+353870000012'],
        customerid: 'order-2001',
      });
      expect(sent.status).toBe(200);
      const report = (number: string) =>
        page.locator(`#thread .delivery[data-recipient="${number}"]`);
      await page.locator('.thread-item[data-number="+353870000011"]').click();
      await expect
        .poll(() => report('+353870000011').textContent(), { timeout: 10_000 })
        .toBe('Delivery: DISPATCHED');
      await expect
        .poll(() => report('+353870000011').textContent(), { timeout: 10_000 })
        .toBe('Delivery: DELIVRD');
      expect(await report('+353870000011').getAttribute('class')).toBe('delivery ok');
      await page.locator('.thread-item[data-number="+353870000012"]').click();
      await expect
        .poll(() => report('+353870000012').textContent(), { timeout: 10_000 })
        .toBe('Delivery: UNDELIV');
      expect(await report('+353870000012').getAttribute('class')).toBe('delivery failed');
      await page.screenshot({ path: join(TEST_RESULTS, 'inbox-delivery.png'), fullPage: true });
      const seen = queries.map((q) => [q.get('Phonenumber'), q.get('Status'), q.get('CustomerID')]);
      expect(seen.sort()).toEqual([
        ['353870000011', 'DELIVRD', 'order-2001'],
        ['353870000011', 'DISPATCHED', 'order-2001'],
        ['353870000012', 'DISPATCHED', 'order-2001'],
        ['353870000012', 'UNDELIV', 'order-2001'],
      ]);

      // Without a URL, the inbox says so.
      await configure({ url: null });
      expect(
        (await sendSms({ messagetext: 'Unreported', recipients: ['+353870000013'] })).status,
      ).toBe(200);
      await page.locator('.thread-item[data-number="+353870000013"]').click();
      await expect
        .poll(() => report('+353870000013').textContent(), { timeout: 10_000 })
        .toBe('Delivery: no report configured');
      expect(await page.evaluate(() => 'notReloaded' in globalThis)).toBe(true);
      expect(foreign).toEqual([]);
      expect(errors, hostErrors()).toEqual([]);
      await page.close();
    } finally {
      await configure(started);
      await new Promise((done) => receiver.close(done));
    }
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

    // The send queue: three sends waiting (kept invisible, as deferred ones are), one parked.
    const outbox = new QueueClient(azurite.connectionString, OUTBOX);
    const parked = new QueueClient(azurite.connectionString, `${OUTBOX}-poison`);
    await Promise.all([outbox.createIfNotExists(), parked.createIfNotExists()]);
    for (let n = 0; n < 3; n++) {
      const waiting = { id: `page-${n}`, messagetext: 'Queued', recipients: ['+353870000009'] };
      await outbox.sendMessage(JSON.stringify(waiting), { visibilityTimeout: 600 });
    }
    await parked.sendMessage(
      JSON.stringify({ reason: 'test', message: { id: 'page-p', recipients: ['+353870000009'] } }),
    );
    await expect
      .poll(() => page.locator('#outbox-waiting').textContent(), { timeout: 10_000 })
      .toBe('3 sends waiting');
    expect(await page.locator('#outbox-queue').textContent()).toBe(OUTBOX);
    expect(await page.locator('#outbox-last').textContent()).toMatch(
      /^The last of them is expected to go (now|in \d.* \(at .+\))\.$/,
    );
    expect(await page.locator('#outbox-lined-up').textContent()).toMatch(
      /^(No sends are lined up for the limit|Sends are lined up for the limit until .+)\.$/,
    );
    const poisonLine = page.locator('#outbox-poison');
    expect(await poisonLine.textContent()).toBe(
      `1 send parked in ${OUTBOX}-poison (npm run poison -- list ${OUTBOX}).`,
    );
    expect(await poisonLine.getAttribute('class')).toBe('poisoned');
    // The outbox heads the queue table, with its poison queue.
    const first = page.locator('#queues tr').first();
    expect(await first.getAttribute('data-queue')).toBe(OUTBOX);
    expect(await first.locator('td').allTextContents()).toEqual([
      OUTBOX,
      '3',
      `${OUTBOX}-poison`,
      '1',
    ]);
    expect(await page.locator('body').textContent()).not.toContain('870000009');

    // Merged calls: on (the default), with the window's figures (no queued send has gone yet
    // here, or some have: either way a sentence about the last 60 s).
    expect(await page.locator('#merging-state').textContent()).toBe('on');
    expect(await page.locator('#merging-headline').textContent()).toMatch(
      /^(No calls saved|[\d,]+ calls? saved)$/,
    );
    expect(await page.locator('#merging-summary').textContent()).toMatch(
      /^(No queued send was sent|[\d,]+ calls? carried [\d,]+ sends? \([\d,.]+ recipients? per call\), [\d,]+ calls? saved) in the last 60 s\.$/,
    );
    expect(await page.locator('#merging-settings').textContent()).toBe(
      'Up to 1,000 recipients per call; a send of a busy text waits up to 2.0 s for company.',
    );

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
    expect(errors, hostErrors()).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('the status page’s delivery warning in Chromium', () => {
  it('warns when sends go out and no delivery report comes back', async () => {
    const admin = `${simulatorOrigin}/__admin/delivery-reports`;
    const saved = (await (await fetch(admin)).json()) as Record<string, unknown>;
    const put = (config: Record<string, unknown>) =>
      fetch(admin, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(config),
      });
    expect((await put({ url: saved.url, none: true })).status).toBe(200);
    try {
      for (const n of [1, 2]) {
        const sent = await sendSms({ messagetext: 'Unreported', recipients: [`+35387000070${n}`] });
        expect(sent.status).toBe(200);
      }
      const { page, errors } = await openPage(statusUrl);
      const warning = page.locator('#delivery-warning');
      await expect.poll(() => warning.isVisible(), { timeout: 30_000 }).toBe(true);
      expect(await warning.textContent()).toMatch(
        /^None of the last 2 sends has any delivery report\. Usually the sender id is not registered/,
      );
      expect(await page.locator('#delivery-state').textContent()).toBe('expected');
      expect(await page.locator('#delivery-headline').textContent()).toBe('0 of 2 sends delivered');
      expect(await page.locator('#delivery').textContent()).not.toContain('87000070');
      await page.screenshot({
        path: join(TEST_RESULTS, 'status-page-delivery.png'),
        fullPage: true,
      });
      expect(errors, hostErrors()).toEqual([]);
      await page.close();
    } finally {
      await put(saved);
    }
  }, 60_000);
});

describe('npm start, the curls', () => {
  it('prints a curl for every HTTP function with no placeholder left, each answering when pasted', async () => {
    const output = start.output().split('\n');
    const headers = output
      .map((line, i) => ({ line: line.trim(), i }))
      .filter(({ line }) => /^# [\w-]+ \((GET|POST|DELETE)[^)]*\)$/.test(line));
    expect(headers.length).toBeGreaterThanOrEqual(15);
    for (const { line, i } of headers) {
      const name = /^# ([\w-]+)/.exec(line)![1]!;
      // The sends and their status look-ups have a test of their own (below).
      if (name === 'send-sms' || name.startsWith('sms-status')) continue;
      const command = output[i + 1]!.trim();
      expect(command, name).toMatch(/^curl /);
      expect(command, name).not.toMatch(/\{\w+\??\}/);
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(await paste([command]))?.[1]);
      // A made-up subscription id is the one look-up that finds nothing.
      const expected = name === 'subscriptions-delete' ? [404] : [200, 201, 202, 204];
      expect(expected, `${name}: ${command} answered ${status}`).toContain(status);
    }
  }, 60_000);
});

describe('npm start, the queued send', () => {
  it('prints a queued send and two status look-ups that work when pasted', async () => {
    const lines = printedCommands(/# send-sms \(POST\)/, /# status-page/);
    expect(lines.some((l) => /^curl .*-H 'Prefer: respond-async'/.test(l))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/\{id\}/); // no placeholder to fill in
    expect(lines).toHaveLength(5);
    // After the synchronous send: the queued one, answered 202 with its status URL.
    const queued = await paste([lines[1]!]);
    expect(queued).toMatch(/^HTTP\/1\.1 202 /);
    expect(queued).toMatch(
      /^location: http:\/\/localhost:\d+\/api\/sms\/[\w-]+\/status\?token=[\w-]+\r?$/im,
    );
    // Then one kept in $loc, and its look-ups by id and by Location: waiting or sent already.
    const out = await paste(lines.slice(2));
    const loc = /^(http:\/\/localhost:\d+\/api\/sms\/([\w-]+)\/status\?token=[\w-]+)$/.exec(
      out.split('\n')[0] ?? '',
    );
    expect(loc).not.toBeNull();
    // (curl -i prints a body without a newline after it: the next answer follows on its line.)
    const answers = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(answers).toHaveLength(2);
    for (const status of answers) expect([200, 202]).toContain(status);
    expect(out.match(new RegExp(`"id":"${loc![2]}"`, 'g'))).toHaveLength(2);
    // Followed again once the app has sent it: 200 with the id.
    // The host polls its queue every 2 s at most and may hold the send up to 2 s for company;
    // on two loaded cores that has taken over 10 s, so the look-up is given 25 s. The last
    // answer's body says where the send was when it was not sent in time.
    let lastBody = '';
    await expect
      .poll(
        async () => {
          const res = await fetch(loc![1]!);
          lastBody = await res.text();
          return res.status;
        },
        { timeout: 25_000 },
      )
      .toBe(200)
      .catch((error: unknown) => {
        throw new Error(`the queued send was not sent in time; its last status: ${lastBody}`, {
          cause: error,
        });
      });
    const sent = JSON.parse(lastBody) as { id: string };
    expect(sent.id).toBe(loc![2]);
  }, 45_000);

  it('prints a drop onto the send queue whose status look-up works', async () => {
    const lines = printedCommands(/# send-queued-sms: drop a message on/, /^Ctrl-C/);
    const node = lines.find((l) => l.startsWith('node -e'));
    expect(node).toContain(`'${OUTBOX}'`);
    const out = await paste([node!]);
    const printed = /^queued (local-\w+); .*: (curl -sS -i (http:\/\/\S+))$/m.exec(out);
    expect(printed).not.toBeNull();
    expect(printed![3]).toMatch(new RegExp(`/api/sms/${printed![1]}$`));
    await expect
      .poll(async () => (await paste([printed![2]!])).split('\n')[0], { timeout: 10_000 })
      .toMatch(/^HTTP\/1\.1 200/);
    // The az one names an id of its own and looks that id up.
    const az = lines.find((l) => l.startsWith('az storage message put'));
    const azId = /"id":"([\w-]+)"/.exec(az ?? '')?.[1];
    expect(az).toContain(`--queue-name ${OUTBOX}`);
    expect(lines).toContain(`curl -sS -i ${hostUrl}/api/sms/${azId}`);
  }, 30_000);
});
