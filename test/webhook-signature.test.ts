import { createHmac } from 'node:crypto';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  isValidWebhookSecret,
  signWebhook,
  verifyWebhookSignature,
  type WebhookHeaders,
} from '../shared/opt-outs/webhook-signature.js';

// The Standard Webhooks reference test vector (also used by the official libraries).
const SPEC_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SPEC_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const SPEC_TIMESTAMP = 1614265330;
const SPEC_BODY = '{"test": 2432232314}';
const SPEC_SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

const SECRET = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const NOW = 1_700_000_000;
const BODY = '{"mobilenumber":"+353871234567","optoutresponse":"STOP"}';

function headersFor(
  body: string | Buffer = BODY,
  { secret = SECRET, id = 'msg_1', timestamp = NOW } = {},
): WebhookHeaders {
  return {
    id,
    timestamp: String(timestamp),
    signature: signWebhook(secret, id, timestamp, body),
  };
}

const verify = (
  headers: WebhookHeaders,
  body: string | Buffer = BODY,
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
  secret = SECRET,
) => verifyWebhookSignature(secret, headers, body, { nowSeconds: NOW, ...options });

describe('signWebhook', () => {
  it('matches the Standard Webhooks test vector', () => {
    expect(signWebhook(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)).toBe(SPEC_SIGNATURE);
    expect(
      verifyWebhookSignature(
        SPEC_SECRET,
        { id: SPEC_ID, timestamp: String(SPEC_TIMESTAMP), signature: SPEC_SIGNATURE },
        SPEC_BODY,
        { nowSeconds: SPEC_TIMESTAMP },
      ),
    ).toMatchObject({ ok: true, id: SPEC_ID });
  });

  it('signs `${id}.${timestamp}.${body}` with the base64-decoded whsec_ key', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const expected = createHmac('sha256', key).update(`msg_1.${NOW}.${BODY}`).digest('base64');
    expect(signWebhook(SECRET, 'msg_1', NOW, BODY)).toBe(`v1,${expected}`);
  });

  it('uses the UTF-8 bytes of a secret without the whsec_ prefix', () => {
    const expected = createHmac('sha256', Buffer.from('plain sécret', 'utf8'))
      .update(`msg_1.${NOW}.${BODY}`)
      .digest('base64');
    expect(signWebhook('plain sécret', 'msg_1', NOW, BODY)).toBe(`v1,${expected}`);
  });

  it('signs a Buffer body byte for byte, the same as its string', () => {
    expect(signWebhook(SECRET, 'a', NOW, Buffer.from(BODY))).toBe(
      signWebhook(SECRET, 'a', NOW, BODY),
    );
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60])(
    'refuses the timestamp %s',
    (timestamp) => {
      expect(() => signWebhook(SECRET, 'a', timestamp, BODY)).toThrow(RangeError);
    },
  );
});

describe('verifyWebhookSignature', () => {
  it('accepts a valid delivery and returns its id', () => {
    expect(verify(headersFor())).toMatchObject({ ok: true, id: 'msg_1' });
  });

  it('accepts a Buffer body, and bytes that are not valid UTF-8', () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    expect(verify(headersFor(bytes), bytes)).toMatchObject({ ok: true, id: 'msg_1' });
    // The same bytes decoded as UTF-8 (replacement characters) no longer match.
    expect(verify(headersFor(bytes), bytes.toString('utf8'))).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('accepts a raw (non-whsec_) secret', () => {
    const secret = 'a plain shared secret';
    expect(verify(headersFor(BODY, { secret }), BODY, {}, secret)).toMatchObject({
      ok: true,
      id: 'msg_1',
    });
    expect(verify(headersFor(BODY, { secret }), BODY, {}, SECRET)).toMatchObject({ ok: false });
  });

  it('tells a whsec_ secret from the same text used raw', () => {
    const raw = headersFor(BODY, { secret: SECRET.slice('whsec_'.length) });
    expect(verify(raw)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a wrong secret', () => {
    const other = 'whsec_' + Buffer.from('another key of thirty-two bytes!').toString('base64');
    expect(verify(headersFor(BODY, { secret: other }))).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it.each([
    ['a changed body', { body: BODY.replace('STOP', 'STOQ') }],
    ['a body with a trailing newline', { body: BODY + '\n' }],
    ['an empty body', { body: '' }],
    ['another id', { id: 'msg_2' }],
    ['another timestamp', { timestamp: String(NOW + 1) }],
  ])('rejects %s', (_name, change: { body?: string; id?: string; timestamp?: string }) => {
    const headers = { ...headersFor(), ...(change.id ? { id: change.id } : {}) };
    if (change.timestamp) headers.timestamp = change.timestamp;
    expect(verify(headers, change.body ?? BODY)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  describe('timestamps', () => {
    it.each([
      ['just inside the past edge', NOW - 300, true],
      ['just inside the future edge', NOW + 300, true],
      ['expired', NOW - 301, false],
      ['an hour old', NOW - 3600, false],
      ['in the future', NOW + 301, false],
      ['zero', 0, false],
    ])('%s', (_name, timestamp, ok) => {
      const result = verify(headersFor(BODY, { timestamp }));
      expect(result).toEqual(
        ok
          ? { ok: true, id: 'msg_1', timestampSeconds: timestamp }
          : { ok: false, reason: 'timestamp-out-of-tolerance' },
      );
    });

    it('honours a custom tolerance', () => {
      const headers = headersFor(BODY, { timestamp: NOW - 30 });
      expect(verify(headers, BODY, { toleranceSeconds: 10 })).toMatchObject({ ok: false });
      expect(verify(headers, BODY, { toleranceSeconds: 30 })).toMatchObject({ ok: true });
    });

    it('defaults to the system clock', () => {
      const now = Math.floor(Date.now() / 1000);
      const headers = headersFor(BODY, { timestamp: now });
      expect(verifyWebhookSignature(SECRET, headers, BODY)).toMatchObject({
        ok: true,
        id: 'msg_1',
      });
      const old = headersFor(BODY, { timestamp: now - 600 });
      expect(verifyWebhookSignature(SECRET, old, BODY)).toEqual({
        ok: false,
        reason: 'timestamp-out-of-tolerance',
      });
    });

    it.each([
      'abc',
      '1700000000.5',
      '1.7e9',
      '-1700000000',
      '+1700000000',
      '0x6553f100',
      '1700000000s',
      '17 00000000',
      '1'.repeat(16),
      '１７００００００００', // full-width digits
    ])('rejects the timestamp %j as bad', (timestamp) => {
      const headers = { ...headersFor(), timestamp };
      expect(verify(headers)).toEqual({ ok: false, reason: 'bad-timestamp' });
    });

    it('checks the timestamp before the signature', () => {
      const headers = { ...headersFor(), timestamp: String(NOW - 1000), signature: 'v1,nope' };
      expect(verify(headers)).toEqual({ ok: false, reason: 'timestamp-out-of-tolerance' });
    });

    it('refuses a negative or non-finite tolerance', () => {
      expect(() => verify(headersFor(), BODY, { toleranceSeconds: -1 })).toThrow(RangeError);
      expect(() => verify(headersFor(), BODY, { toleranceSeconds: Number.NaN })).toThrow(
        RangeError,
      );
    });
  });

  describe('missing headers', () => {
    it.each([
      ['no id', { id: null }],
      ['no timestamp', { timestamp: null }],
      ['no signature', { signature: null }],
      ['blank id', { id: '  ' }],
      ['empty timestamp', { timestamp: '' }],
      ['blank signature', { signature: ' ' }],
      ['nothing at all', { id: null, timestamp: null, signature: null }],
    ])('%s', (_name, change: Partial<WebhookHeaders>) => {
      expect(verify({ ...headersFor(), ...change })).toEqual({
        ok: false,
        reason: 'missing-headers',
      });
    });
  });

  describe('several signatures', () => {
    const good = () => headersFor().signature ?? '';
    const otherKey = 'whsec_' + Buffer.from('rotated-out key, thirty-two byte').toString('base64');
    const stale = () => headersFor(BODY, { secret: otherKey }).signature ?? '';

    it.each([
      ['the good one first', () => `${good()} ${stale()}`],
      ['the good one last', () => `${stale()} ${stale()} ${good()}`],
      ['extra spaces between', () => `  ${stale()}   ${good()}  `],
      ['other versions around it', () => `v1a,${'A'.repeat(86)}== ${good()} v2,xyz`],
      ['a malformed entry before it', () => `garbage v1, ,,, ${good()}`],
    ])('passes with %s', (_name, signature) => {
      expect(verify({ ...headersFor(), signature: signature() })).toMatchObject({
        ok: true,
        id: 'msg_1',
      });
    });

    it.each([
      ['only wrong v1 signatures', () => `${stale()} ${stale()}`],
      ['the right value under another version', () => good().replace('v1,', 'v1a,')],
      [
        'the right value under V1 (versions are case-sensitive)',
        () => good().replace('v1,', 'V1,'),
      ],
      ['the right value with no version', () => good().slice(3)],
      ['the right value with a comma but no space', () => `${stale()},${good()}`],
    ])('fails with %s', (_name, signature) => {
      expect(verify({ ...headersFor(), signature: signature() })).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
    });
  });

  describe('length mismatches and oversized headers', () => {
    it.each([
      ['empty', 'v1,'],
      ['one character', 'v1,A'],
      ['truncated', () => (headersFor().signature ?? '').slice(0, -2)],
      ['without padding', () => (headersFor().signature ?? '').replace(/=+$/, '')],
      ['with extra characters', () => `${headersFor().signature ?? ''}AAAA`],
      ['multi-byte characters', 'v1,' + 'é'.repeat(22)],
      ['a hex digest of the right bytes', () => hexOfGood()],
    ])('a signature %s is false, not an exception', (_name, value) => {
      const signature = typeof value === 'function' ? value() : value;
      expect(() => verify({ ...headersFor(), signature })).not.toThrow();
      expect(verify({ ...headersFor(), signature })).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
    });

    it('rejects an id over 256 characters even when correctly signed', () => {
      const id = 'm'.repeat(257);
      expect(verify(headersFor(BODY, { id }))).toEqual({ ok: false, reason: 'bad-signature' });
      const longest = 'm'.repeat(256);
      expect(verify(headersFor(BODY, { id: longest }))).toMatchObject({ ok: true, id: longest });
    });

    it('rejects a signature header over 4096 characters even with the good one inside', () => {
      const good = headersFor().signature ?? '';
      const padding = 'x'.repeat(4097 - good.length - 1);
      expect(verify({ ...headersFor(), signature: `${padding} ${good}` })).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
      const fits = 'x'.repeat(4096 - good.length - 1);
      expect(verify({ ...headersFor(), signature: `${fits} ${good}` })).toMatchObject({ ok: true });
    });
  });

  describe('secrets', () => {
    it.each([
      ['whsec_ with 32 base64 bytes', SECRET, true],
      ['a raw string', 'raw', true],
      ['empty', '', false],
      ['whsec_ alone', 'whsec_', false],
      ['whsec_ with non-base64', 'whsec_not base64!', false],
      ['whsec_ with bad padding', 'whsec_abc', false],
    ])('%s → usable %s', (_name, secret, usable) => {
      expect(isValidWebhookSecret(secret)).toBe(usable);
      if (!usable) {
        expect(() => verify(headersFor(), BODY, {}, secret)).toThrow(Error);
        expect(() => signWebhook(secret, 'a', NOW, BODY)).toThrow(Error);
      }
    });

    it('never puts the secret or a signature into a result or an error', () => {
      const secret = 'whsec_!!top-secret!!';
      try {
        verify(headersFor(), BODY, {}, secret);
        expect.unreachable();
      } catch (error) {
        expect(String(error)).not.toContain('top-secret');
      }
      const headers = headersFor();
      const results = [
        verify({ ...headersFor(), signature: 'v1,c2VjcmV0' }),
        verify({ ...headers, timestamp: 'abc' }),
        verify(headers, 'tampered'),
      ];
      for (const result of results) {
        const text = JSON.stringify(result);
        expect(text).not.toContain(SECRET.slice(6));
        expect(text).not.toContain('c2VjcmV0');
        expect(text).not.toContain((headers.signature ?? '').slice(3));
      }
    });
  });
});

function hexOfGood(): string {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  return `v1,${createHmac('sha256', key).update(`msg_1.${NOW}.${BODY}`).digest('hex')}`;
}

describe('properties', () => {
  const secretArb = fc.oneof(
    fc
      .uint8Array({ minLength: 1, maxLength: 64 })
      .map((b) => `whsec_${Buffer.from(b).toString('base64')}`),
    fc.string({ minLength: 1, maxLength: 40 }),
  );
  const idArb = fc
    .string({ minLength: 1, maxLength: 256 })
    .filter((s) => s.trim() === s && s !== '');
  const timestampArb = fc.integer({ min: 0, max: 4_000_000_000 });

  it('sign → verify is always ok', () => {
    fc.assert(
      fc.property(
        secretArb,
        idArb,
        timestampArb,
        fc.string({ unit: 'grapheme' }),
        (secret, id, ts, body) => {
          const headers = {
            id,
            timestamp: String(ts),
            signature: signWebhook(secret, id, ts, body),
          };
          expect(verifyWebhookSignature(secret, headers, body, { nowSeconds: ts })).toEqual({
            ok: true,
            id,
            timestampSeconds: ts,
          });
          expect(
            verifyWebhookSignature(secret, headers, Buffer.from(body, 'utf8'), { nowSeconds: ts }),
          ).toEqual({ ok: true, id, timestampSeconds: ts });
        },
      ),
    );
  });

  it('any single-byte change to the body fails', () => {
    fc.assert(
      fc.property(
        secretArb,
        fc.uint8Array({ minLength: 1, maxLength: 512 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (secret, bytes, at, flip) => {
          const body = Buffer.from(bytes);
          const headers = {
            id: 'msg',
            timestamp: String(NOW),
            signature: signWebhook(secret, 'msg', NOW, body),
          };
          const changed = Buffer.from(body);
          const index = at % changed.length;
          changed[index] = (changed[index] ?? 0) ^ flip;
          expect(verify(headers, changed, {}, secret)).toEqual({
            ok: false,
            reason: 'bad-signature',
          });
        },
      ),
    );
  });

  it('an inserted or removed byte fails', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 256 }),
        fc.nat(),
        fc.boolean(),
        (bytes, at, insert) => {
          const body = Buffer.from(bytes);
          const headers = headersFor(body);
          const index = at % body.length;
          const changed = insert
            ? Buffer.concat([
                body.subarray(0, index),
                Buffer.from([at % 256]),
                body.subarray(index),
              ])
            : Buffer.concat([body.subarray(0, index), body.subarray(index + 1)]);
          expect(verify(headers, changed)).toEqual({ ok: false, reason: 'bad-signature' });
        },
      ),
    );
  });

  it('arbitrary header strings never throw and never pass without the secret', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ maxLength: 300 })),
        fc.option(fc.oneof(fc.string(), timestampArb.map(String), fc.constant(String(NOW)))),
        fc.option(
          fc.oneof(
            fc.string({ maxLength: 5000 }),
            fc.base64String().map((s) => `v1,${s}`),
            fc
              .array(fc.base64String({ minLength: 44, maxLength: 44 }).map((s) => `v1,${s}`))
              .map((a) => a.join(' ')),
          ),
        ),
        (id, timestamp, signature) => {
          const result = verify({ id, timestamp, signature });
          expect(result.ok).toBe(false);
        },
      ),
    );
  });
});
