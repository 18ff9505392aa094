/**
 * Signing the app's own deliveries the Standard Webhooks way (https://www.standardwebhooks.com/),
 * with the same HMAC the opt-out webhook verifies incoming ones with
 * (shared/opt-outs/webhook-signature.ts): `v1,` + base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`
 * keyed with the secret's decoded bytes. Any Standard Webhooks library verifies them.
 */
import { randomBytes } from 'node:crypto';

import { signWebhook } from '../opt-outs/webhook-signature.js';

/** 32 random bytes: the top of the 24-64 bytes Standard Webhooks asks for. */
const SECRET_BYTES = 32;

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/**
 * The three headers of one attempt: `webhook-id` (the event's id, the same on every retry, for
 * the receiver to drop duplicates), `webhook-timestamp` (now, in seconds) and the signature.
 */
export function webhookHeaders(
  secret: string,
  eventId: string,
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(nowSeconds),
    'webhook-signature': signWebhook(secret, eventId, nowSeconds, body),
  };
}
