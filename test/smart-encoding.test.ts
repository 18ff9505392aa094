/**
 * Smart encoding and the parts every send answer reports (shared/sendmode/sms-text.ts):
 *
 * - on a corpus of realistic texts (test/fixtures/sms-corpus.ts), look-alikes are replaced
 *   exactly when that keeps the text GSM-7, and nothing else changes;
 * - the part counter against an independent implementation: Twilio's message segment calculator
 *   (`sms-segments-calculator`, a test oracle only), on the corpus and on texts made to sit on
 *   every part boundary;
 * - through the app, on Azurite and the simulator: the synchronous answer, a queued send's
 *   status (alone and in a merged call) and an idempotent replay all carry
 *   `sms: { encoding, parts, characters, replaced }`, and Sendmode gets the replaced text.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { SegmentedMessage } from 'sms-segments-calculator';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { sendSms } from '../functions/send-sms.js';
import { smsStatus } from '../functions/sms-status.js';
import {
  describeSms,
  GSM7_LOOK_ALIKES,
  isGsm7,
  measureSms,
  smartEncode,
  smartEncoded,
} from '../shared/sendmode/sms-text.js';
import { SMS_CORPUS } from './fixtures/sms-corpus.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';
import { drainOutbox } from './helpers/outbox.js';

const lookAlike = (text: string) => [...text].map((c) => GSM7_LOOK_ALIKES[c] ?? c).join('');
const lookAlikes = (text: string) => [...text].filter((c) => c in GSM7_LOOK_ALIKES).length;

describe('smart encoding on realistic texts', () => {
  it.each(SMS_CORPUS)('$name', ({ text, stays }) => {
    const on = describeSms(text, true);
    const off = describeSms(text, false);
    const encoded = smartEncode(text);
    expect(off).toEqual({ ...measured(text), replaced: 0 });
    expect(on.parts).toBeLessThanOrEqual(off.parts);
    if (stays || isGsm7(text)) {
      // Nothing to gain (GSM-7 already), or something keeps it UCS-2: exactly as given.
      expect(encoded).toEqual({ text, replaced: 0 });
      expect(on).toEqual(off);
      expect(on.encoding).toBe(stays ?? 'GSM-7');
      return;
    }
    // Only the look-alikes change, each as the table says, and the text is GSM-7.
    expect(encoded.text).toBe(lookAlike(text));
    expect(encoded.replaced).toBe(lookAlikes(text));
    expect(encoded.replaced).toBeGreaterThan(0);
    expect(on).toEqual({ ...measured(encoded.text), replaced: encoded.replaced });
    expect(on.encoding).toBe('GSM-7');
  });

  it('a reminder with curly quotes and a dash goes in one GSM-7 part instead of two or three', () => {
    const byName = (name: string) => SMS_CORPUS.find((c) => c.name === name)!.text;
    for (const name of [
      'reminder, curly apostrophe',
      'reminder, curly quotes and en dash',
      'delivery, curly apostrophe, 150 characters',
      '160 GSM-7 characters with one curly apostrophe',
    ]) {
      expect(describeSms(byName(name), false), name).toMatchObject({ encoding: 'UCS-2' });
      expect(describeSms(byName(name), false).parts, name).toBeGreaterThan(1);
      expect(describeSms(byName(name), true), name).toMatchObject({ encoding: 'GSM-7', parts: 1 });
    }
    // And straight punctuation costs the same as smart punctuation made straight.
    expect(describeSms(byName('delivery, curly apostrophe, 150 characters'), true)).toEqual({
      ...describeSms(byName('delivery, straight punctuation, 150 characters'), true),
      replaced: 1,
    });
  });

  it('saves parts on the corpus as a whole', () => {
    const total = (on: boolean) =>
      SMS_CORPUS.reduce((sum, { text }) => sum + describeSms(text, on).parts, 0);
    expect(total(true)).toBeLessThan(total(false) * 0.75);
  });

  it('off sends the text exactly as given', () => {
    for (const { text } of SMS_CORPUS) expect(smartEncoded(text, false)).toBe(text);
  });

  it('replaces only characters outside GSM-7, each with GSM-7 text (as the oracle counts it too)', () => {
    const entries = Object.entries(GSM7_LOOK_ALIKES);
    expect(entries.length).toBeGreaterThan(100);
    for (const [from, to] of entries) {
      expect(isGsm7(from), `U+${from.codePointAt(0)!.toString(16)}`).toBe(false);
      expect(isGsm7(to)).toBe(true);
      if (to !== '') expect(new SegmentedMessage(to).getEncodingName()).toBe('GSM-7');
    }
    // The README's list.
    for (const char of '‘’‚‛′“”„‟″«»‐‑‒–—―−…\u00A0\u2009\u202F\u3000\t\u200B\uFEFF\u00AD！Ａ０') {
      expect(GSM7_LOOK_ALIKES, `U+${char.codePointAt(0)!.toString(16)}`).toHaveProperty(char);
    }
    // Letters are never respelt: accents GSM-7 lacks stay.
    for (const letter of 'áíóúçêłšőÁÍÓÚ') expect(GSM7_LOOK_ALIKES).not.toHaveProperty(letter);
  });
});

function measured(text: string) {
  const { encoding, parts, units } = measureSms(text);
  return { encoding, parts, characters: units };
}

describe('the part counter against an independent implementation (sms-segments-calculator)', () => {
  function expectSameAsOracle(text: string) {
    const oracle = new SegmentedMessage(text);
    const ours = measureSms(text);
    const label = `${ours.encoding} ${ours.units} units: ${JSON.stringify(text.slice(0, 40))}…`;
    expect(ours.encoding, label).toBe(oracle.getEncodingName());
    expect(ours.parts, label).toBe(oracle.segmentsCount);
    // In GSM-7 both count septets (an extension character two); in UCS-2 the oracle counts
    // graphemes, so only the parts are compared there.
    if (ours.encoding === 'GSM-7') expect(ours.units, label).toBe(oracle.numberOfCharacters);
  }

  it.each(SMS_CORPUS)('$name, as given and smart-encoded', ({ text }) => {
    expectSameAsOracle(text);
    expectSameAsOracle(smartEncode(text).text);
  });

  it('on every part boundary, with extension characters and surrogate pairs across them', () => {
    const boundaries = [
      ...[159, 160, 161, 305, 306, 307, 458, 459, 460, 1529, 1530, 1531],
      ...[69, 70, 71, 133, 134, 135, 200, 201, 202, 669, 670, 671],
    ];
    const fillers = ['a', '€', 'ж', '😀', 'é'];
    let checked = 0;
    for (const length of boundaries) {
      for (const filler of fillers) {
        for (const at of [0, 152, 153, 66, 67, length - 1]) {
          // `length` characters of 'a', with one `filler` at `at`, and a run of fillers at the end.
          const chars = Array.from({ length }, (_, i) => (i === at ? filler : 'a'));
          const text = chars.join('');
          expectSameAsOracle(text);
          expectSameAsOracle(text.slice(0, -8) + filler.repeat(4));
          checked += 2;
        }
      }
    }
    expect(checked).toBeGreaterThan(500);
  });
});

/* ------------------------------ through the app ------------------------------ */

let env: AppEnv;
let run = 0;
const TEXT = SMS_CORPUS.find((c) => c.name === 'reminder, curly quotes and en dash')!.text;

type Json = Record<string, unknown>;
const parse = (response: HttpResponseInit): Json => JSON.parse(String(response.body)) as Json;

function post(body: unknown, headers: Record<string, string> = {}) {
  return sendSms(
    new HttpRequest({
      method: 'POST',
      url: 'https://sms.example.net/api/sms',
      headers: { 'content-type': 'application/json', ...headers },
      body: { string: JSON.stringify(body) },
    }),
    testContext('send-sms'),
  );
}

const sentText = () =>
  env.simulator
    .callsFor('send')
    .map((call) => (call.payload as { messagetext: string }).messagetext);

describe('every send answer reports the text as sent', () => {
  beforeAll(async () => {
    env = await startAppEnv({ QUEUE_RETRY_BASE_SECONDS: '1' });
  });
  afterAll(async () => env?.stop());
  beforeEach(async () => {
    env.resetSimulator();
    const suffix = `${(run += 1)}x${Date.now()}`;
    await env.configure({
      SMART_ENCODING: undefined,
      SEND_MERGE: undefined,
      SENDMODE_ACCOUNT_NAME: `smart${suffix}`,
      SEND_QUEUE_NAME: `smart-${suffix.toLowerCase()}`,
      SEND_STATUS_TABLE_NAME: `smart${suffix}`,
      IDEMPOTENCY_TABLE_NAME: `smartidem${suffix}`,
    });
  });

  it('synchronous, smart encoding on (the default): one GSM-7 part, and Sendmode gets the replaced text', async () => {
    const response = await post({ messagetext: TEXT, recipients: ['+353871234567'] });
    expect(response.status).toBe(200);
    expect(parse(response).sms).toEqual({
      encoding: 'GSM-7',
      parts: 1,
      characters: 124,
      replaced: 3,
    });
    expect(sentText()).toEqual([lookAlike(TEXT)]);
    expect(sentText()[0]).toContain('"Smile Dental"');
  });

  it('synchronous, SMART_ENCODING=off: the text exactly as given, in UCS-2', async () => {
    await env.configure({ SMART_ENCODING: 'off' });
    const response = await post({ messagetext: TEXT, recipients: ['+353871234567'] });
    expect(parse(response).sms).toEqual({
      encoding: 'UCS-2',
      parts: 2,
      characters: 124,
      replaced: 0,
    });
    expect(sentText()).toEqual([TEXT]);
  });

  it('the 10-part ceiling counts the text as it will be sent', async () => {
    // 700 characters: 11 UCS-2 parts as given (one curly apostrophe), 5 GSM-7 parts replaced.
    const long = `It’s ${'x'.repeat(695)}`;
    expect((await post({ messagetext: long, recipients: ['+353871234567'] })).status).toBe(200);
    await env.configure({ SMART_ENCODING: 'off' });
    const refused = await post({ messagetext: long, recipients: ['+353871234567'] });
    expect(refused.status).toBe(400);
    expect(parse(refused).errors).toEqual([
      { field: 'messagetext', message: expect.stringMatching(/^is too long/) },
    ]);
  });

  it('an idempotent replay answers the stored body, sms included', async () => {
    const key = { 'idempotency-key': `smart-${run}` };
    const first = await post({ messagetext: TEXT, recipients: ['+353871234567'] }, key);
    const replay = await post({ messagetext: TEXT, recipients: ['+353871234567'] }, key);
    expect((replay.headers as Record<string, string>)['idempotent-replayed']).toBe('true');
    expect(parse(replay).sms).toEqual(parse(first).sms);
    expect(parse(replay).sms).toMatchObject({ encoding: 'GSM-7', replaced: 3 });
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it.each([
    ['alone (SEND_MERGE=off)', 'off'],
    ['in a merged call (SEND_MERGE=on)', 'on'],
  ])('a queued send’s status, %s', async (_name, merge) => {
    await env.configure({ SEND_MERGE: merge });
    const queued = await post(
      { messagetext: TEXT, recipients: ['+353871234567'] },
      { prefer: 'respond-async' },
    );
    expect(queued.status).toBe(202);
    const { id } = parse(queued) as { id: string };
    await drainOutbox(env.azurite.connectionString, process.env.SEND_QUEUE_NAME!);
    const status = await smsStatus(
      new HttpRequest({
        method: 'GET',
        url: `https://sms.example.net/api/sms/${id}`,
        params: { id },
      }),
      testContext('sms-status'),
    );
    expect(status.status).toBe(200);
    expect(parse(status).sms).toEqual({
      encoding: 'GSM-7',
      parts: 1,
      characters: 124,
      replaced: 3,
    });
    expect(sentText()).toEqual([lookAlike(TEXT)]);
  });
});
