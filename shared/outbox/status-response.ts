/**
 * A send's status as `GET /api/sms/{id}` answers it (the asynchronous request-reply pattern):
 * `202` with `Retry-After` while it waits; once it is final, exactly what a synchronous send
 * would have answered (`200` with Sendmode's answer, plus `id` and `sentAt`; or the problem).
 */
import type { HttpResponseInit } from '@azure/functions';

import type { DeliveryView } from '../delivery/delivery-view.js';
import { jsonResponse } from '../http/http.js';
import type { SendStatus } from './send-status.js';

/** A poller never waits longer than this between looks, however far off the send is. */
const MAX_RETRY_AFTER_SECONDS = 3_600;
/** While Sendmode is being called, look again soon. */
const SENDING_RETRY_AFTER_SECONDS = 2;

/** Whole seconds until `expectedAt`: at least 1, at most an hour. */
export function retryAfterFor(expectedAt: number, now: number): number {
  const seconds = Math.ceil((expectedAt - now) / 1000);
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, seconds));
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The answer for `status`; `location` is repeated on a 202 so a poller keeps following it. A sent
 * one's answer gains `delivery` (its recipients' delivery reports) when given.
 */
export function statusResponse(
  status: SendStatus,
  now: number,
  location?: string,
  delivery?: DeliveryView,
): HttpResponseInit {
  if (status.answer) {
    const type = status.answer.status < 400 ? 'application/json' : 'application/problem+json';
    const body = delivery
      ? JSON.stringify({ ...(JSON.parse(status.answer.body) as object), delivery })
      : status.answer.body;
    return {
      status: status.answer.status,
      headers: { 'content-type': type, 'cache-control': 'no-store' },
      body,
    };
  }
  const retryAfter =
    status.state === 'sending'
      ? SENDING_RETRY_AFTER_SECONDS
      : retryAfterFor(status.expectedAt, now);
  return jsonResponse(
    202,
    {
      id: status.id,
      status: status.state,
      queuedAt: iso(status.queuedAt),
      expectedAt: iso(Math.max(status.expectedAt, now)),
      ...(status.lastError ? { lastError: status.lastError } : {}),
    },
    {
      'retry-after': String(retryAfter),
      'cache-control': 'no-store',
      ...(location ? { location } : {}),
    },
  );
}
