/**
 * GET /api/status/page as the handler serves it: one self-contained HTML page whose only script
 * and style are allowed by hash, nothing from another origin, function-level auth. Rendering
 * against the live JSON route is tested in Chromium: test/e2e/browser-pages.test.ts.
 */
import { createHash } from 'node:crypto';
import { runInNewContext } from 'node:vm';

import { app, HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { testContext } from './helpers/app-env.js';

const registered: { name: string; options: Record<string, unknown> }[] = [];
let statusPage: typeof import('../functions/status-page.js').statusPage;

beforeAll(async () => {
  vi.spyOn(app, 'http').mockImplementation((name, options) => {
    registered.push({ name, options: options as unknown as Record<string, unknown> });
  });
  ({ statusPage } = await import('../functions/status-page.js'));
});
afterAll(() => vi.restoreAllMocks());

async function get() {
  const context = testContext('status-page');
  const response = await statusPage(
    new HttpRequest({ method: 'GET', url: 'http://localhost:7071/api/status/page?code=k' }),
    context,
  );
  return { response, context };
}

interface FakeElement {
  textContent: string;
  className: string;
  hidden: boolean;
  style: Record<string, string>;
  dataset: Record<string, string>;
  children: FakeElement[];
  readonly firstChild: FakeElement | null;
  setAttribute(name: string, value: string): void;
  append(...nodes: FakeElement[]): void;
  replaceChildren(): void;
}

function fakeElement(): FakeElement {
  return {
    textContent: '',
    className: '',
    hidden: false,
    style: {},
    dataset: {},
    children: [],
    get firstChild() {
      return this.children[0] ?? null;
    },
    setAttribute() {},
    append(...nodes) {
      this.children.push(...nodes);
    },
    replaceChildren() {
      this.children = [];
    },
  };
}

type FakeFetch = (
  url: string,
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

/** Runs the page's script once against a stand-in DOM; gives its elements by id. */
async function runPage(
  script: string,
  fetch: FakeFetch,
  setTimeout: (callback: () => void, ms: number) => number = () => 0,
): Promise<Map<string, FakeElement>> {
  const elements = new Map<string, FakeElement>();
  const document = {
    getElementById: (id: string) => {
      if (!elements.has(id)) elements.set(id, fakeElement());
      return elements.get(id);
    },
    createElement: () => fakeElement(),
  };
  runInNewContext(script, {
    window: { location: { href: 'http://localhost:7071/api/status/page' } },
    document,
    fetch,
    URL,
    setTimeout,
    setInterval: () => 0,
  });
  await new Promise((resolve) => globalThis.setTimeout(resolve, 20));
  return elements;
}

const answering = (status: number, body: unknown) =>
  Promise.resolve({ ok: status < 400, status, json: () => Promise.resolve(body) });

/**
 * Runs the page's script once with `status` as /api/status's answer (the limit's window 60 s),
 * and gives each element's text and class by id.
 */
async function render(
  script: string,
  status: Record<string, unknown>,
): Promise<Record<string, { text: string; className: string }>> {
  const answer = {
    status: 'ok',
    at: new Date().toISOString(),
    limit: { maxCalls: 100, windowSeconds: 60, admitted: {}, free: {} },
    queues: [],
    ...status,
  };
  const elements = await runPage(script, () => answering(200, answer));
  expect(elements.get('live')?.textContent, 'the poll succeeded').toBe('live');
  return Object.fromEntries(
    [...elements].map(([id, e]) => [id, { text: e.textContent, className: e.className }]),
  );
}

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe('GET /api/status/page', () => {
  it('is registered as GET status/page with function-level auth, like /api/status', () => {
    expect(registered).toEqual([
      {
        name: 'status-page',
        options: expect.objectContaining({
          methods: ['GET'],
          authLevel: 'function',
          route: 'status/page',
        }),
      },
    ]);
  });

  it('serves one HTML page whose inline script and style are the only ones allowed', async () => {
    const { response, context } = await get();
    expect(response.status).toBe(200);
    const headers = response.headers as Record<string, string>;
    expect(headers['content-type']).toBe('text/html; charset=utf-8');
    expect(headers['cache-control']).toBe('no-store');
    expect(headers['referrer-policy']).toBe('no-referrer');
    const html = String(response.body);
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    expect(script).toContain("new URL('../status', page)");
    expect(script).toContain("'recentOptOuts', '10'");
    const csp = headers['content-security-policy'] ?? '';
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(html.match(/<script/g)).toHaveLength(1);
    // Offline: nothing is loaded from anywhere else.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(context.logs.join('\n')).toMatch(/"operation":"status-page","outcome":"success"/);
  });

  it('shows the send queue: how many wait, when the last goes, the line and its poison queue', async () => {
    const { response } = await get();
    const html = String(response.body);
    const body = /<body>([\s\S]*?)<script>/.exec(html)?.[1] ?? '';
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    // Its own section, before the queue table; each line has an element the script fills in.
    const outbox = /<section id="outbox">([\s\S]*?)<\/section>/.exec(body)?.[1] ?? '';
    expect(outbox).toContain('<h2>Send queue');
    for (const id of [
      'outbox-queue',
      'outbox-waiting',
      'outbox-last',
      'outbox-lined-up',
      'outbox-poison',
    ]) {
      expect(outbox).toContain(`id="${id}"`);
    }
    expect(body.indexOf('id="outbox"')).toBeLessThan(body.indexOf('id="queues"'));
    // Drawn from /api/status's outbox section and the sends' line in the limit.
    for (const field of [
      'outbox.waiting',
      'outbox.lastExpectedAt',
      'limit.sendsLinedUpUntil',
      'outbox.queue',
    ]) {
      expect(script).toContain(field);
    }
    expect(script).toContain('showOutbox(status.outbox, status.limit || {}, status.queues)');
    expect(script).toMatch(/sends waiting/);
    expect(script).toMatch(/expected to go/);
    expect(script).toMatch(/lined up for the limit until/);
    expect(script).toMatch(/parked in/);
    // Nothing in it names a number: counts and times only (the one count of recipients it reads
    // is merged calls' recipientsPerCall, written "recipients per call").
    expect(script).not.toMatch(/\brecipients\b(?! per call)|mobilenumber/);
  });

  it('shows merged calls: on or off, recipients per call and calls saved in the last window', async () => {
    const { response } = await get();
    const html = String(response.body);
    const body = /<body>([\s\S]*?)<script>/.exec(html)?.[1] ?? '';
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const merging = /<section id="merging">([\s\S]*?)<\/section>/.exec(body)?.[1] ?? '';
    expect(merging).toContain('<h2>Merged calls');
    for (const id of ['merging-state', 'merging-headline', 'merging-summary', 'merging-settings']) {
      expect(merging).toContain(`id="${id}"`);
    }
    // After the send queue, before the queue table.
    expect(body.indexOf('id="outbox"')).toBeLessThan(body.indexOf('id="merging"'));
    expect(body.indexOf('id="merging"')).toBeLessThan(body.indexOf('id="queues"'));
    // Drawn from /api/status's merging section.
    expect(script).toContain('showMerging(status.merging, status.limit || {})');
    for (const field of [
      'merging.enabled',
      'merging.lastWindow',
      'last.calls',
      'last.sends',
      'last.recipientsPerCall',
      'last.callsSaved',
      'merging.windowMs',
      'merging.maxRecipientsPerCall',
    ]) {
      expect(script).toContain(field);
    }

    const lastWindow = {
      calls: 3,
      sends: 2000,
      recipients: 2000,
      recipientsPerCall: 666.7,
      callsSaved: 1997,
    };
    const on = await render(script, {
      merging: { enabled: true, windowMs: 2000, maxRecipientsPerCall: 1000, lastWindow },
    });
    expect(on['merging-state']).toEqual({ text: 'on', className: 'on' });
    expect(on['merging-headline']?.text).toBe('1,997 calls saved');
    expect(on['merging-summary']?.text).toBe(
      '3 calls carried 2,000 sends (667 recipients per call), 1,997 calls saved in the last 60 s.',
    );
    expect(on['merging-settings']?.text).toBe(
      'Up to 1,000 recipients per call; a send of a busy text waits up to 2.0 s for company.',
    );

    const one = await render(script, {
      merging: {
        enabled: true,
        windowMs: 0,
        maxRecipientsPerCall: 1,
        lastWindow: { calls: 1, sends: 1, recipients: 1, recipientsPerCall: 1, callsSaved: 0 },
      },
    });
    expect(one['merging-headline']?.text).toBe('No calls saved');
    expect(one['merging-summary']?.text).toBe(
      '1 call carried 1 send (1 recipient per call), 0 calls saved in the last 60 s.',
    );
    expect(one['merging-settings']?.text).toBe(
      'Up to 1 recipient per call; a send never waits for company.',
    );

    const idle = await render(script, {
      merging: {
        enabled: true,
        windowMs: 2000,
        maxRecipientsPerCall: 1000,
        lastWindow: { calls: 0, sends: 0, recipients: 0, recipientsPerCall: null, callsSaved: 0 },
      },
    });
    expect(idle['merging-summary']?.text).toBe('No queued send was sent in the last 60 s.');

    const off = await render(script, {
      merging: { enabled: false, windowMs: 2000, maxRecipientsPerCall: 1000, lastWindow },
    });
    expect(off['merging-state']).toEqual({ text: 'off', className: 'muted' });
    expect(off['merging-headline']?.text).toBe('Merging is off');
    expect(off['merging-summary']?.text).toBe(
      'Each queued send makes its own Sendmode call (SEND_MERGE=off).',
    );

    const older = await render(script, {});
    expect(older['merging-headline']?.text).toBe('not reported by this version of /api/status');
  });

  it('sets every value as text: the script never writes HTML', async () => {
    const { response } = await get();
    expect(String(response.body)).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write/,
    );
  });
});

describe('the status page’s delivery reports', () => {
  it('shows how many sends were delivered, the unmatched reports, and the warning when there is one', async () => {
    const { response } = await get();
    const html = String(response.body);
    const body = /<body>([\s\S]*?)<script>/.exec(html)?.[1] ?? '';
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const section = /<section id="delivery">([\s\S]*?)<\/section>/.exec(body)?.[1] ?? '';
    expect(section).toContain('<h2>Delivery reports');
    expect(section).toMatch(/id="delivery-warning" role="alert" hidden/);
    const warning = {
      kind: 'unreported',
      message:
        'None of the last 20 sends has any delivery report. Usually the sender id is not registered.',
    };
    const warned = await render(script, {
      deliveryReports: {
        expected: true,
        watched: 20,
        reported: 0,
        delivered: 0,
        unmatched: 3,
        warning,
      },
    });
    expect(warned['delivery-state']).toEqual({ text: 'expected', className: 'on' });
    expect(warned['delivery-headline']?.text).toBe('0 of 20 sends delivered');
    expect(warned['delivery-summary']?.text).toBe(
      '0 sends with any report, of the latest 20 old enough to have one.',
    );
    expect(warned['delivery-unmatched']?.text).toBe('3 reports matched no send.');
    expect(warned['delivery-warning']?.text).toBe(warning.message);
    const fine = await render(script, {
      deliveryReports: {
        expected: true,
        watched: 20,
        reported: 20,
        delivered: 19,
        unmatched: 1,
        warning: null,
      },
    });
    expect(fine['delivery-headline']?.text).toBe('19 of 20 sends delivered');
    expect(fine['delivery-warning']?.text).toBe('');
    const off = await render(script, {
      deliveryReports: {
        expected: false,
        watched: 0,
        reported: 0,
        delivered: 0,
        unmatched: 0,
        warning: null,
      },
    });
    expect(off['delivery-state']).toEqual({ text: 'not expected', className: 'muted' });
    expect(off['delivery-summary']?.text).toMatch(/DELIVERY_REPORTS is off/);
  });
});

describe('the status page’s hour of history', () => {
  /**
   * The delay before the page asks for the history again after an answer of `historyStatus`
   * (an OK answer without charts: this stand-in DOM draws no SVG), and what it then says.
   */
  async function nextHistoryRead(historyStatus: number) {
    const { response } = await get();
    const script = /<script>([\s\S]*?)<\/script>/.exec(String(response.body))?.[1] ?? '';
    const delays: Record<string, number> = {};
    const elements = await runPage(
      script,
      (url) =>
        String(url).includes('history=')
          ? answering(
              historyStatus,
              historyStatus < 400 ? {} : { detail: 'Table Storage did not answer within 5000 ms.' },
            )
          : answering(200, { limit: {}, queues: [] }),
      (callback, ms) => {
        delays[callback.name] = ms;
        return 0;
      },
    );
    return { delay: delays.pollHistory, summary: elements.get('history-summary')?.textContent };
  }

  it('asks again every 30 s, and every 2 s after a read that failed', async () => {
    expect(await nextHistoryRead(200)).toEqual({
      delay: 30_000,
      summary: 'not reported by this version of /api/status',
    });
    expect(await nextHistoryRead(503)).toEqual({
      delay: 2_000,
      summary:
        'The history could not be read: HTTP 503: Table Storage did not answer within 5000 ms.',
    });
  });
});
