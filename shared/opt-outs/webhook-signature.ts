/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/): the sender puts
 * `webhook-id`, `webhook-timestamp` and `webhook-signature` on the request (Svix names them
 * `svix-*`: see `deliveryHeaders`), the signature
 * being `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`. Pure: no I/O, no clock
 * unless `nowSeconds` is left out. Replay protection (remembering `webhook-id`) is the
 * caller's job; this module only says whether the signature and timestamp hold.
 *
 * Rules, in the order they are checked:
 * - any header missing or blank → `missing-headers`;
 * - `webhook-timestamp` not integer Unix seconds (digits only, at most 15) → `bad-timestamp`;
 * - timestamp more than `toleranceSeconds` (default 300) before or after now →
 *   `timestamp-out-of-tolerance` (checked before any HMAC is computed);
 * - `webhook-id` over 256 characters, `webhook-signature` over 4096, or no `v1` entry that
 *   equals the expected signature → `bad-signature`.
 *
 * `webhook-signature` may hold several space-separated entries (`v1,abc v1,def`, as during
 * a key rotation): any matching `v1` entry passes; entries of other versions (`v1a,...`) are
 * ignored. Each entry is compared with `crypto.timingSafeEqual` on the base64 text, so a
 * differently padded or URL-safe spelling of the same bytes does not match.
 *
 * Secrets: `whsec_<base64>` is base64-decoded to the key bytes (the Standard Webhooks
 * convention); any other string is used as its UTF-8 bytes. An empty key, or a `whsec_`
 * secret whose rest is not base64, is a configuration error and throws (the message never
 * includes the secret). Reasons never include the secret or any signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface WebhookHeaders {
  /** `webhook-id` */
  id: string | null;
  /** `webhook-timestamp` */
  timestamp: string | null;
  /** `webhook-signature` */
  signature: string | null;
}

/**
 * The delivery's signature headers. Standard Webhooks names them `webhook-*`; Svix, the most
 * deployed implementation, sends the same values as `svix-id`, `svix-timestamp` and
 * `svix-signature`. One set is taken whole, never mixed: `webhook-*` when all three are there,
 * else `svix-*` when all three are there, else whichever set has any (to report what is missing).
 */
export function deliveryHeaders(get: (name: string) => string | null): WebhookHeaders {
  const set = (prefix: string): WebhookHeaders => ({
    id: get(`${prefix}-id`),
    timestamp: get(`${prefix}-timestamp`),
    signature: get(`${prefix}-signature`),
  });
  const standard = set('webhook');
  const svix = set('svix');
  const complete = (h: WebhookHeaders) => Boolean(h.id && h.timestamp && h.signature);
  const any = (h: WebhookHeaders) => Boolean(h.id || h.timestamp || h.signature);
  if (complete(standard)) return standard;
  if (complete(svix)) return svix;
  return any(standard) || !any(svix) ? standard : svix;
}

export type SignatureFailure =
  'missing-headers' | 'bad-timestamp' | 'timestamp-out-of-tolerance' | 'bad-signature';

export type SignatureCheck =
  { ok: true; id: string; timestampSeconds: number } | { ok: false; reason: SignatureFailure };

export interface VerifyOptions {
  /** Seconds either side of now a timestamp may be; default 300 (the spec's five minutes). */
  toleranceSeconds?: number;
  /** Now, in Unix seconds; default the system clock. */
  nowSeconds?: number;
}

export const DEFAULT_TOLERANCE_SECONDS = 300;
export const MAX_WEBHOOK_ID_LENGTH = 256;
export const MAX_SIGNATURE_HEADER_LENGTH = 4096;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Integer seconds; 15 digits keeps every value a safe integer. */
const TIMESTAMP = /^\d{1,15}$/;

/** Whether `secret` can be used as a signing secret (non-empty key; `whsec_` followed by base64). */
export function isValidWebhookSecret(secret: string): boolean {
  try {
    secretKey(secret);
    return true;
  } catch {
    return false;
  }
}

function secretKey(secret: string): Buffer {
  if (secret.startsWith(SECRET_PREFIX)) {
    const encoded = secret.slice(SECRET_PREFIX.length);
    if (encoded.length === 0 || !BASE64.test(encoded)) {
      throw new Error('The webhook signing secret starts with whsec_ but the rest is not base64.');
    }
    return Buffer.from(encoded, 'base64');
  }
  if (secret.length === 0) throw new Error('The webhook signing secret is empty.');
  return Buffer.from(secret, 'utf8');
}

function computeSignature(
  key: Buffer,
  id: string,
  timestamp: string,
  body: Buffer | string,
): string {
  return createHmac('sha256', key)
    .update(`${id}.${timestamp}.`, 'utf8')
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('base64');
}

/** Constant-time for equal lengths; a length mismatch is false without comparing or throwing. */
function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The `webhook-signature` value for one delivery: `v1,<base64>`. For tests, the simulator
 * and documentation; `timestampSeconds` must be a non-negative integer.
 */
export function signWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError('timestampSeconds must be a non-negative integer.');
  }
  return `v1,${computeSignature(secretKey(secret), id, String(timestampSeconds), body)}`;
}

/** Checks a delivery's Standard Webhooks headers against the raw body, exactly as received. */
export function verifyWebhookSignature(
  secret: string,
  headers: WebhookHeaders,
  rawBody: Buffer | string,
  options: VerifyOptions = {},
): SignatureCheck {
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError('toleranceSeconds must be a non-negative number.');
  }
  const key = secretKey(secret);

  const id = headers.id?.trim() ?? '';
  const timestamp = headers.timestamp?.trim() ?? '';
  const signature = headers.signature ?? '';
  if (id === '' || timestamp === '' || signature.trim() === '') {
    return { ok: false, reason: 'missing-headers' };
  }

  if (!TIMESTAMP.test(timestamp)) return { ok: false, reason: 'bad-timestamp' };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > tolerance) {
    return { ok: false, reason: 'timestamp-out-of-tolerance' };
  }

  if (id.length > MAX_WEBHOOK_ID_LENGTH || signature.length > MAX_SIGNATURE_HEADER_LENGTH) {
    return { ok: false, reason: 'bad-signature' };
  }

  const expected = computeSignature(key, id, timestamp, rawBody);
  let matched = false;
  for (const entry of signature.split(/\s+/)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    // No early exit: every v1 entry is compared, whichever one matches.
    if (sameText(entry.slice(comma + 1), expected)) matched = true;
  }
  return matched
    ? { ok: true, id, timestampSeconds: Number(timestamp) }
    : { ok: false, reason: 'bad-signature' };
}
