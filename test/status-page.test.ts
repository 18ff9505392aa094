/**
 * GET /api/status/page as the handler serves it: one self-contained HTML page whose only script
 * and style are allowed by hash, nothing from another origin, function-level auth. Rendering
 * against the live JSON route is tested in Chromium: test/e2e/browser-pages.test.ts.
 */
import { createHash } from 'node:crypto';
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
    // Nothing in it names a number: the outbox section carries counts and times only.
    expect(script).not.toMatch(/recipients|mobilenumber/);
  });

  it('sets every value as text: the script never writes HTML', async () => {
    const { response } = await get();
    expect(String(response.body)).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write/,
    );
  });
});
