/**
 * The simulator's inbox over real HTTP: the page and its assets, the entries each call becomes
 * (accepted, injected fault, refused key, Sendmode's rejection), the event stream, clearing,
 * and bodies it cannot read. The page in a real browser: test/e2e/browser-pages.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { type InboxEntry, toEntry } from '../tools/sendmode-simulator/inbox/model.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { RecordedCall, Simulator } from '../tools/sendmode-simulator/types.js';

const KEY = 'inbox-key';
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY], balance: 1000 });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => sim.reset());

function send(message: unknown, key = KEY, form = false): Promise<Response> {
  return fetch(`${sim.url}/send`, {
    method: 'POST',
    headers: {
      authorization: key,
      'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
    },
    body: form
      ? new URLSearchParams({ message: JSON.stringify(message) }).toString()
      : JSON.stringify(message),
  });
}

async function entries(): Promise<InboxEntry[]> {
  const res = await fetch(`${sim.origin}/__inbox/entries`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { entries: InboxEntry[] }).entries;
}

describe('the inbox page', () => {
  it('serves the page, its script and styles, offline (nothing from another origin)', async () => {
    const page = await fetch(`${sim.origin}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('/__inbox/inbox.js');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const js = await fetch(`${sim.origin}/__inbox/inbox.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await js.text()).toContain('EventSource');
    expect((await fetch(`${sim.origin}/__inbox/inbox.css`)).status).toBe(200);
    // Serving the page is not a Sendmode call.
    expect(sim.calls()).toEqual([]);
  });

  it('answers 404 for an unknown asset and 405 for a write', async () => {
    expect((await fetch(`${sim.origin}/__inbox/nope.js`)).status).toBe(404);
    const post = await fetch(`${sim.origin}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('inbox entries', () => {
  it('an accepted send: recipients, sender, customer id, parts and encoding', async () => {
    await send({
      messagetext: 'x'.repeat(161),
      recipients: ['+353 87 000 0001', '+353870000002'],
      senderid: 'Acme',
      customerid: 'order-7',
    });
    await send({ messagetext: 'Grüße 😀', recipients: ['+353870000001'] }, KEY, true);
    const [gsm, ucs] = await entries();
    expect(gsm).toMatchObject({
      seq: 1,
      kind: 'sms',
      ok: true,
      httpStatus: 200,
      sms: [
        {
          recipients: ['+353870000001', '+353870000002'],
          senderId: 'Acme',
          customerId: 'order-7',
          parts: 2,
          encoding: 'GSM-7',
        },
      ],
    });
    expect(ucs).toMatchObject({
      ok: true,
      sms: [{ text: 'Grüße 😀', encoding: 'UCS-2', parts: 1 }],
    });
  });

  it('an injected fault and a refused key are failed, and still name the recipient', async () => {
    sim.injectFault({ kind: 'http-error', httpStatus: 503, times: 1 });
    await send({ messagetext: 'Hi', recipients: ['+353870000009'] });
    sim.injectFault({ kind: 'reset', times: 1 });
    await send({ messagetext: 'Hi', recipients: ['+353870000009'] }).catch(() => undefined);
    await send({ messagetext: 'Hi', recipients: ['+353870000009'] }, 'wrong-key');
    await send({ messagetext: 'Hi', recipients: ['12'] });
    await expect.poll(async () => (await entries()).length).toBe(4);
    const [fault, reset, refused, rejected] = await entries();
    expect(fault).toMatchObject({
      ok: false,
      httpStatus: 503,
      failure: 'injected fault: http-error (HTTP 503)',
      sms: [{ recipients: ['+353870000009'] }],
    });
    expect(reset).toMatchObject({
      ok: false,
      httpStatus: 0,
      failure: 'injected fault: reset (no answer)',
    });
    expect(refused).toMatchObject({ ok: false, failure: 'rejected key: INVALID_ACCESS_KEY (14)' });
    expect(rejected).toMatchObject({ ok: false, failure: 'INVALID_MOBILE_NUMBER (11)' });
  });

  it('imports and opt-outs get their own kinds', async () => {
    await fetch(`${sim.url}/import`, {
      method: 'POST',
      headers: { authorization: KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        group: 'VIP',
        importdata: { mobilenumber: '+353870000004', firstname: 'Aoife', surname: 'Byrne' },
      }),
    });
    await fetch(`${sim.url}/optout`, {
      method: 'POST',
      headers: { authorization: KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ mobilenumber: '+353870000005', optoutresponse: 'STOP' }),
    });
    await fetch(`${sim.url}/credits`, { headers: { authorization: KEY } });
    const [imported, optOut, credits] = await entries();
    expect(imported).toMatchObject({
      kind: 'import',
      ok: true,
      contact: { group: 'VIP', mobileNumber: '+353870000004', name: 'Aoife Byrne' },
    });
    expect(optOut).toMatchObject({
      kind: 'optout',
      ok: true,
      optOut: { mobileNumber: '+353870000005', reason: 'STOP' },
    });
    expect(credits).toMatchObject({ kind: 'credits', ok: true });
  });

  it('bodies it cannot read become entries without details, never errors', async () => {
    for (const body of ['not json', '[1,2]', '{"message":"{broken"}', '\u0000'.repeat(10)]) {
      await fetch(`${sim.url}/send`, {
        method: 'POST',
        headers: { authorization: KEY, 'content-type': 'application/json' },
        body,
      });
    }
    await fetch(`${sim.url}/send`, {
      method: 'POST',
      headers: { authorization: KEY, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'message=%7Bnope',
    });
    const list = await entries();
    expect(list).toHaveLength(5);
    for (const entry of list) {
      expect(entry).toMatchObject({ kind: 'sms', ok: false });
      expect(entry.sms?.[0]?.recipients).toEqual([]);
    }
    // The simulator still works.
    expect((await send({ messagetext: 'ok', recipients: ['+353870000001'] })).status).toBe(200);
  });

  it('shows Sendmode 3.0 sends (single and bulk) and their failures', async () => {
    const v3 = (path: string, body: unknown, key = KEY) =>
      fetch(`${sim.origin}/3.0/${path}`, {
        method: 'POST',
        headers: { authorization: key, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await v3('send', {
      sender_id: 'Acme',
      message: 'Grüße 😀',
      mobile_number: '+353870000001',
      customer_id: 'c-1',
    });
    await v3('send/bulk', {
      sender_id: 'Acme',
      message: 'Bulk',
      mobile_numbers: ['+353870000002', '+353870000003'],
    });
    await v3('send', { sender_id: 'Acme', message: 'x', mobile_number: '+353870000004' }, 'bad');
    const [single, bulk, refused] = await entries();
    expect(single).toMatchObject({
      apiVersion: 'v3',
      kind: 'sms',
      ok: true,
      sms: [
        {
          text: 'Grüße 😀',
          recipients: ['+353870000001'],
          senderId: 'Acme',
          customerId: 'c-1',
          encoding: 'UCS-2',
        },
      ],
    });
    expect(bulk).toMatchObject({
      ok: true,
      sms: [{ text: 'Bulk', recipients: ['+353870000002', '+353870000003'] }],
    });
    expect(refused).toMatchObject({
      ok: false,
      failure: 'rejected key (HTTP 401)',
      sms: [{ recipients: ['+353870000004'] }],
    });
  });

  it('reads a call recorded without a payload or an API version (older recorders)', () => {
    const call = {
      seq: 9,
      operation: 'unknown',
      method: 'POST',
      path: '/3.0/send',
      arrivedAt: Date.UTC(2030, 0, 1),
      authorized: true,
      contentType: 'application/json',
      payload: null,
      httpStatus: 404,
    } as unknown as RecordedCall;
    expect(toEntry(call)).toMatchObject({
      apiVersion: 'v2',
      kind: 'sms',
      ok: false,
      failure: 'HTTP 404',
      at: '2030-01-01T00:00:00.000Z',
      sms: [{ recipients: [], text: '' }],
    });
  });
});

describe('the event stream', () => {
  it('sends a snapshot on connect, then each call as it is answered, then a clear', async () => {
    await send({ messagetext: 'before', recipients: ['+353870000001'] });
    const controller = new AbortController();
    const res = await fetch(`${sim.origin}/__inbox/events`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    const nextEvent = async (): Promise<{ event: string; data: unknown }> => {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) return { event, data: JSON.parse(data) };
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += value;
      }
    };
    const snapshot = await nextEvent();
    expect(snapshot.event).toBe('snapshot');
    expect(
      (snapshot.data as { entries: InboxEntry[] }).entries.map((e) => e.sms?.[0]?.text),
    ).toEqual(['before']);
    await send({ messagetext: 'after', recipients: ['+353870000002'] });
    const live = await nextEvent();
    expect(live).toMatchObject({ event: 'entry', data: { seq: 2, sms: [{ text: 'after' }] } });
    expect((await fetch(`${sim.origin}/__admin/calls`, { method: 'DELETE' })).status).toBe(204);
    expect((await nextEvent()).event).toBe('cleared');
    expect(await entries()).toEqual([]);
    controller.abort();
  });

  it('a subscriber hears each answered call until it unsubscribes', async () => {
    let count = 0;
    const stop = sim.subscribe((event) => {
      if (event.type === 'call') count += 1;
    });
    await send({ messagetext: 'x', recipients: ['+353870000001'] });
    stop();
    await send({ messagetext: 'y', recipients: ['+353870000001'] });
    expect(count).toBe(1);
  });
});
