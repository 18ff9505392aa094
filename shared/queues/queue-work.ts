/**
 * How a queue message ends: done, retried later with a growing delay, deferred until the shared
 * limit has a slot for it (without using up an attempt; carrying the reservation the limiter
 * handed out, so it comes back to a slot kept for it), or parked in `<queue>-poison` with the
 * reason. Retries are re-enqueued copies in a small envelope that counts attempts, so the delay
 * can grow (the host's own visibility time-out is fixed) and the poison message can say why.
 */
import type { InvocationContext } from '@azure/functions';

import {
  AppError,
  DependencyUnavailableError,
  type FieldError,
  NotOfferedError,
  RateLimitedError,
  type SendmodeStatus,
  UpstreamRejectedError,
  UpstreamUnavailableError,
  ValidationError,
} from '../errors.js';
import type { SlotRequest } from '../limit/admission-policy.js';
import { poisonQueueOf } from '../queue-names.js';
import { countLimitWait, countPoisoned } from '../telemetry/metrics.js';
import {
  currentTraceparent,
  isTraceparent,
  noteOutcome,
  tracedQueueWork,
} from '../telemetry/tracing.js';
import { decodeQueueMessage } from './decode.js';
import { type Envelope, ENVELOPE_KIND, isEnvelope } from './envelope.js';

export interface Delivery {
  /** The message as the sender wrote it. */
  payload: unknown;
  /** This attempt's number, from 1. */
  attempt: number;
  deferrals: number;
  reservation?: number;
  /** The trace of the work that wrote the message, when it carried one. */
  traceparent?: string;
}

/**
 * Thrown by a handler to put its message back until later without using up an attempt (a send
 * held until its schedule, or one another delivery is sending now).
 */
export class NotYetError extends Error {
  constructor(
    readonly delaySeconds: number,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * How queue work asks the limiter for a slot: as background work, with the reservation it
 * holds, waiting in-process only briefly (a message comes back up to a second before its slot).
 */
export interface BackgroundSlot extends SlotRequest {
  workClass: 'background';
  maxWaitMs: number;
}

export const BACKGROUND_MAX_WAIT_MS = 2_000;

export interface RetryPolicy {
  /** Attempts before the message is parked; Infinity retries until it succeeds. */
  maxAttempts: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

export type Disposition =
  | { action: 'poison'; reason: string; errors?: FieldError[]; upstream?: SendmodeStatus }
  | { action: 'retry'; delaySeconds: number; reason: string }
  | { action: 'defer'; delaySeconds: number; reservation?: number };

/** Opens a message as the host handed it over (JSON already parsed, or a string). */
export function openDelivery(message: unknown, dequeueCount: number): Delivery {
  // Plain JSON or base64 of JSON, whatever the producer wrote; anything else is left as the
  // text, and the handler's validation says what is wrong with it.
  const value = decodeQueueMessage(message);
  // The host's own redeliveries (after a throw) count as attempts too.
  const redeliveries = Math.max(0, dequeueCount - 1);
  if (isEnvelope(value)) {
    return {
      payload: value.payload,
      attempt: value.attempts + redeliveries + 1,
      deferrals: value.deferrals,
      ...(Number.isFinite(value.reservation) ? { reservation: value.reservation } : {}),
      ...(isTraceparent(value.traceparent) ? { traceparent: value.traceparent } : {}),
    };
  }
  return { payload: value, attempt: redeliveries + 1, deferrals: 0 };
}

/** What to do with a delivery whose handling threw `error`. */
export function dispositionFor(
  error: unknown,
  delivery: Delivery,
  policy: RetryPolicy,
): Disposition {
  if (error instanceof NotYetError) {
    return { action: 'defer', delaySeconds: Math.max(0, Math.ceil(error.delaySeconds)) };
  }
  if (error instanceof RateLimitedError) {
    if (error.reservation !== undefined) {
      // Back a little before the reserved moment (visibility is in whole seconds): the limiter
      // waits in-process for the rest and claims the slot then.
      return {
        action: 'defer',
        delaySeconds: Math.floor(error.retryAfterMs / 1000),
        reservation: error.reservation,
      };
    }
    // The limiter spaced the return times of lined-up work already: no jitter needed.
    return { action: 'defer', delaySeconds: Math.ceil(error.retryAfterMs / 1000) };
  }
  if (error instanceof ValidationError) {
    return {
      action: 'poison',
      reason: 'The message is not a valid request.',
      errors: error.errors,
    };
  }
  // A refused key is the operator's to fix, not the message's fault: retry, do not park.
  const refusedKey = error instanceof UpstreamRejectedError && error.isAuthFailure;
  if (error instanceof AppError && error.permanent && !refusedKey) {
    const upstream = error instanceof UpstreamRejectedError ? error.upstream : undefined;
    return {
      action: 'poison',
      // Not offered by the configured API generation: its message says so; nothing was sent.
      reason:
        error instanceof NotOfferedError ? error.message : `Sendmode rejected it: ${error.message}`,
      ...(upstream ? { upstream } : {}),
    };
  }
  const reason = error instanceof AppError ? error.message : 'An unexpected error occurred.';
  if (delivery.attempt >= policy.maxAttempts) {
    return { action: 'poison', reason: `Failed ${delivery.attempt} times; last: ${reason}` };
  }
  const growing = policy.baseDelaySeconds * 2 ** (delivery.attempt - 1);
  const upstreamHint =
    error instanceof UpstreamUnavailableError && error.retryAfterMs ? error.retryAfterMs / 1000 : 0;
  return {
    action: 'retry',
    delaySeconds: Math.ceil(Math.min(Math.max(growing, upstreamHint), policy.maxDelaySeconds)),
    reason,
  };
}

/** Puts a JSON message on a queue, visible after `delaySeconds`. */
export type Enqueue = (
  queueName: string,
  payload: unknown,
  delaySeconds?: number,
) => Promise<unknown>;

/** Carries out a disposition. Throws only if the queue cannot be written: the host then redelivers. */
export async function settle(
  disposition: Disposition,
  delivery: Delivery,
  queueName: string,
  enqueue: Enqueue,
): Promise<void> {
  if (disposition.action === 'poison') {
    const { action: _action, ...why } = disposition;
    const traceparent = currentTraceparent();
    await enqueue(poisonQueueOf(queueName), {
      ...why,
      attempts: delivery.attempt,
      failedAt: new Date().toISOString(),
      message: delivery.payload,
      ...(traceparent ? { traceparent } : {}),
    });
    countPoisoned(queueName);
    return;
  }
  if (disposition.action === 'defer') countLimitWait('background', 'deferred');
  const envelope: Envelope = {
    kind: ENVELOPE_KIND,
    attempts: disposition.action === 'retry' ? delivery.attempt : delivery.attempt - 1,
    deferrals: delivery.deferrals + (disposition.action === 'defer' ? 1 : 0),
    ...(disposition.action === 'defer' && disposition.reservation !== undefined
      ? { reservation: disposition.reservation }
      : {}),
    ...(disposition.action === 'retry' ? { lastError: disposition.reason } : {}),
    payload: delivery.payload,
  };
  await enqueue(queueName, envelope, disposition.delaySeconds);
}

export interface QueueWork {
  queueName: string;
  policy: RetryPolicy;
  enqueue: Enqueue;
}

/** What a queue's handler may add around the common handling. */
export interface QueueHooks {
  /** The first delivery's payload as it should travel on (e.g. with an id written in). */
  prepare?(payload: unknown, messageId: string | undefined): unknown;
  /** Runs when a failure has been decided, before it is carried out (a throw: redelivery). */
  settling?(disposition: Disposition, error: unknown, payload: unknown): Promise<void>;
}

/**
 * Runs `handle` on one delivery and settles a failure. Logs one structured line: operation,
 * outcome, attempt, duration and the fields `handle` adds (never the payload).
 */
export async function handleQueueMessage(
  context: InvocationContext,
  operation: string,
  message: unknown,
  work: () => Promise<QueueWork>,
  handle: (payload: unknown, log: Record<string, unknown>, slot: BackgroundSlot) => Promise<void>,
  hooks: QueueHooks = {},
): Promise<void> {
  const started = performance.now();
  const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
  const opened = openDelivery(message, Number.isFinite(dequeueCount) ? dequeueCount : 1);
  await tracedQueueWork(operation, opened.traceparent, async () => {
    const outcome = await handleDelivery(context, operation, opened, work, handle, hooks, started);
    noteOutcome(outcome, outcome === 'poison' || outcome === 'retry');
  });
}

async function handleDelivery(
  context: InvocationContext,
  operation: string,
  opened: Delivery,
  work: () => Promise<QueueWork>,
  handle: (payload: unknown, log: Record<string, unknown>, slot: BackgroundSlot) => Promise<void>,
  hooks: QueueHooks,
  started: number,
): Promise<string> {
  const messageId = context.triggerMetadata?.id;
  const delivery = hooks.prepare
    ? {
        ...opened,
        payload: hooks.prepare(
          opened.payload,
          typeof messageId === 'string' ? messageId : undefined,
        ),
      }
    : opened;
  const log: Record<string, unknown> = {};
  let outcome = 'done';
  try {
    const slot: BackgroundSlot = {
      workClass: 'background',
      maxWaitMs: BACKGROUND_MAX_WAIT_MS,
      waited: delivery.deferrals > 0,
      ...(delivery.reservation !== undefined ? { reservation: delivery.reservation } : {}),
    };
    await handle(delivery.payload, log, slot);
  } catch (error) {
    const { queueName, policy, enqueue } = await work();
    const disposition = dispositionFor(error, delivery, policy);
    await hooks.settling?.(disposition, error, delivery.payload);
    await settle(disposition, delivery, queueName, enqueue);
    outcome = disposition.action;
    if (error instanceof AppError) log.error = error.kind;
    if (error instanceof DependencyUnavailableError) log.dependency = error.dependency;
    if (disposition.action !== 'poison') log.delaySeconds = disposition.delaySeconds;
    if (disposition.action === 'defer') log.reserved = disposition.reservation !== undefined;
  }
  const line = {
    operation,
    outcome,
    attempt: delivery.attempt,
    deferrals: delivery.deferrals,
    durationMs: Math.round(performance.now() - started),
    invocationId: context.invocationId,
    ...log,
  };
  (outcome === 'poison' ? context.warn : context.info).call(context, JSON.stringify(line));
  return outcome;
}
