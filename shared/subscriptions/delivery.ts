/**
 * The event queue's work: an event is fanned out to one delivery message per subscription to its
 * type; a delivery POSTs `{ type, timestamp, data }` to its callback, signed (signer.ts). Either
 * throws to be retried by the queue's common rule (shared/queues/queue-work.ts): a growing delay,
 * then `<queue>-poison` with the reason. So a fan-out that failed half-way is made again
 * (receivers drop the repeats by `webhook-id`), and no delivery is lost.
 *
 * A delivery ends: 2xx, delivered; `410 Gone`, the subscriber has gone and its subscription is
 * deleted; the subscription deleted meanwhile, dropped. Anything else (another status, a
 * time-out, no connection) is a failure of this attempt. Redirects are not followed: a callback
 * is called where it was registered, nowhere else.
 */
import { Agent, errors as undiciErrors, request } from 'undici';

import { UpstreamUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DeliveryMessage, EventWork } from './event-messages.js';
import { webhookHeaders } from './signer.js';
import type { SubscriptionStore } from './store.js';

/** Connect, headers and body each: a subscriber that takes longer is retried later. */
const CALLBACK_TIMEOUT_MS = 10_000;
/** Whatever a callback answers is read and dropped; more than this closes the connection. */
const MAX_ANSWER_BYTES = 64 * 1024;
const USER_AGENT = 'sendmode-connector-webhooks/1';

/** A callback did not take a delivery: transient, so it is retried, then parked. */
export class CallbackFailedError extends UpstreamUnavailableError {}

export type DeliveryResult = 'delivered' | 'unsubscribed' | 'subscription-gone';

export interface EventWorkDeps {
  subscriptions: SubscriptionStore;
  /** Puts a delivery message on the event queue. */
  enqueue(message: DeliveryMessage): Promise<unknown>;
  log: Logger;
}

/** Does one message's work; what it did goes in `log` (ids, counts, statuses: no URL, no data). */
export async function handleEventWork(
  work: EventWork,
  deps: EventWorkDeps,
  log: Record<string, unknown>,
): Promise<void> {
  log.kind = work.kind;
  log.eventId = work.event.id;
  log.eventType = work.event.type;
  if (work.kind === 'event') {
    log.deliveries = await fanOut(work, deps);
    return;
  }
  log.subscriptionId = work.subscriptionId;
  log.result = await deliver(work, deps, log);
}

/** One delivery message per subscription to the event's type; how many. */
export async function fanOut(
  { event }: Extract<EventWork, { kind: 'event' }>,
  deps: Pick<EventWorkDeps, 'subscriptions' | 'enqueue'>,
): Promise<number> {
  const subscribers = await deps.subscriptions.matching(event.type);
  await Promise.all(
    subscribers.map((subscription) =>
      deps.enqueue({ kind: 'delivery', subscriptionId: subscription.id, event }),
    ),
  );
  return subscribers.length;
}

export async function deliver(
  { subscriptionId, event }: DeliveryMessage,
  deps: Pick<EventWorkDeps, 'subscriptions' | 'log'>,
  log: Record<string, unknown> = {},
): Promise<DeliveryResult> {
  const subscription = await deps.subscriptions.get(subscriptionId);
  if (!subscription) return 'subscription-gone';
  log.callbackHost = new URL(subscription.callbackUrl).host;
  const body = JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
  const status = await postToCallback(
    subscription.callbackUrl,
    {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...webhookHeaders(subscription.secret, event.id, body),
    },
    body,
  );
  log.httpStatus = status;
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 410) {
    await deps.subscriptions.delete(subscriptionId);
    deps.log.info(`Subscription ${subscriptionId} removed: its callback answered 410 Gone.`);
    return 'unsubscribed';
  }
  throw new CallbackFailedError(`The callback answered HTTP ${status}.`, status);
}

let agent: Agent | undefined;

/** One pool for every callback origin, with the time-outs above. */
function callbackAgent(): Agent {
  agent ??= new Agent({
    connect: { timeout: CALLBACK_TIMEOUT_MS },
    headersTimeout: CALLBACK_TIMEOUT_MS,
    bodyTimeout: CALLBACK_TIMEOUT_MS,
    keepAliveTimeout: 4_000,
  });
  return agent;
}

/** The callback's HTTP status; throws CallbackFailedError when there is none. */
async function postToCallback(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<number> {
  try {
    const answer = await request(url, {
      method: 'POST',
      headers,
      body,
      dispatcher: callbackAgent(),
    });
    // The status is the answer; a body cut short changes nothing.
    await answer.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => undefined);
    return answer.statusCode;
  } catch (error) {
    // Never the URL (it may carry a credential) nor the error's message (it may quote the URL).
    throw new CallbackFailedError(`The callback ${failureOf(error)}.`);
  }
}

function failureOf(error: unknown): string {
  if (error instanceof undiciErrors.ConnectTimeoutError) return 'did not connect in time';
  if (error instanceof undiciErrors.HeadersTimeoutError) return 'did not answer in time';
  if (error instanceof undiciErrors.BodyTimeoutError) return 'did not finish its answer in time';
  const code = (error as { code?: unknown } | null)?.code;
  return `could not be reached (${typeof code === 'string' && /^[A-Z_]{2,40}$/.test(code) ? code : 'network error'})`;
}
