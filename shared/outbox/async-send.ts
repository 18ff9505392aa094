/**
 * `POST /api/sms` with `Prefer: respond-async`: the send, validated already, is put on the send
 * queue with a status, and the caller is answered `202 Accepted` at once with where to look.
 *
 * The status URL is a capability: a random token, shown once and stored only as its hash, lets a
 * plain `GET` (a Logic Apps poller follows `Location` without the request's headers) read this
 * one send's status, and nothing else. No function key is ever written into a URL.
 */
import { randomBytes } from 'node:crypto';

import type { HttpResponseInit } from '@azure/functions';

import { jsonResponse } from '../http/http.js';
import { RESPOND_ASYNC } from '../http/prefer.js';
import type { SendSmsInput } from '../schemas/send-sms.js';
import { hashToken, type SendStatusStore } from './send-status.js';
import { retryAfterFor } from './status-response.js';

export interface AsyncSendDeps {
  statuses: SendStatusStore;
  /** Puts the message on the send queue. */
  enqueue(message: unknown): Promise<unknown>;
  /** When a send queued now is expected to go (ms). */
  expectedAt(): Promise<number>;
  now?: () => number;
}

/** The status URL of a send queued over HTTP: `…/api/sms/{id}/status?token=…`. */
export function statusUrlOf(origin: string, id: string, token: string): string {
  return `${origin}/api/sms/${encodeURIComponent(id)}/status?token=${token}`;
}

/** A new send's id: 22 URL-safe characters. */
export const newSendId = () => randomBytes(16).toString('base64url');

export async function queueSend(
  sms: SendSmsInput,
  origin: string,
  deps: AsyncSendDeps,
): Promise<HttpResponseInit> {
  const now = (deps.now ?? Date.now)();
  const id = newSendId();
  const token = randomBytes(32).toString('base64url');
  const expectedAt = Math.max(now, await deps.expectedAt());
  const stored = await deps.statuses.create(
    { id, state: 'queued', queuedAt: now, expectedAt, tokenHash: hashToken(token) },
    now,
  );
  if (!stored) throw new Error('A random send id was taken already.');
  try {
    await deps.enqueue({ id, message: sms });
  } catch (error) {
    await deps.statuses.discard(stored);
    throw error;
  }
  const statusUrl = statusUrlOf(origin, id, token);
  return jsonResponse(
    202,
    { id, status: 'queued', statusUrl, expectedAt: new Date(expectedAt).toISOString() },
    {
      location: statusUrl,
      'retry-after': String(retryAfterFor(expectedAt, now)),
      'preference-applied': RESPOND_ASYNC,
    },
  );
}
