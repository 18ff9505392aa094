/**
 * The subscribe request, `POST /api/subscriptions`: one schema for validation, the type and the
 * published API description. `events` left out means every event type; a trigger's route
 * (`POST /api/subscriptions/optout-changed`) fixes its one event instead.
 */
import * as z from 'zod';

import { type AppAddress, callbackUrlProblem } from '../subscriptions/callback-url.js';
import { EVENT_TYPE_NAMES, type EventType, isEventType } from '../subscriptions/event-types.js';
import { validate } from './validate.js';

/** More than there are event types, few enough that a list cannot be used to flood the answer. */
export const MAX_EVENTS_LISTED = 20;
/** Longer than any event type name: a longer string is not quoted back. */
const MAX_EVENT_NAME_LENGTH = 64;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

function eventTypeProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string (an event type)';
  if (isEventType(value)) return undefined;
  const known = EVENT_TYPE_NAMES.join(', ');
  // Named back only when it is short and printable: a hostile value is not echoed.
  if (value.length > MAX_EVENT_NAME_LENGTH || !PRINTABLE_ASCII.test(value)) {
    return `is not a known event type (known: ${known})`;
  }
  return `${JSON.stringify(value)} is not a known event type (known: ${known})`;
}

const events = z
  // Items are checked after the count, so a huge list is one error, not one per item.
  .array(z.unknown().meta({ type: 'string', enum: EVENT_TYPE_NAMES }), {
    error: 'must be an array of event types',
  })
  .min(1, 'must list at least one event type (leave events out for all of them)')
  .max(MAX_EVENTS_LISTED, `must list at most ${MAX_EVENTS_LISTED} event types`)
  .transform((list, ctx) => {
    const chosen = new Set<EventType>();
    list.forEach((value, index) => {
      const problem = eventTypeProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', path: [index], message: problem });
      else chosen.add(value as EventType);
    });
    // The registry's order, without duplicates.
    return EVENT_TYPE_NAMES.filter((type) => chosen.has(type));
  });

function callbackUrl(app?: AppAddress) {
  return z
    .string({ error: 'is required and must be a string' })
    .superRefine((value, ctx) => {
      const problem = callbackUrlProblem(value, app);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({ format: 'uri' });
}

/** The request's schema; with `app`, a callback URL pointing back at the app is refused too. */
export function subscriptionRequestSchema(app?: AppAddress) {
  return z.object(
    { callbackUrl: callbackUrl(app), events: events.optional() },
    { error: 'must be a JSON object' },
  );
}

/** What a trigger sends: only the callback URL (the route says which event). */
export function triggerRequestSchema(app?: AppAddress) {
  return z.object({ callbackUrl: callbackUrl(app) }, { error: 'must be a JSON object' });
}

export interface SubscriptionInput {
  callbackUrl: string;
  events: EventType[];
}

/**
 * Validates a subscribe body; throws ValidationError naming each bad field. `routeEvent`: the
 * trigger route's event, which the subscription gets instead of any `events` in the body.
 */
export function parseSubscriptionRequest(
  body: unknown,
  app: AppAddress,
  routeEvent?: EventType,
): SubscriptionInput {
  if (routeEvent) {
    const { callbackUrl } = validate(triggerRequestSchema(app), body);
    return { callbackUrl, events: [routeEvent] };
  }
  const parsed = validate(subscriptionRequestSchema(app), body);
  return { callbackUrl: parsed.callbackUrl, events: parsed.events ?? [...EVENT_TYPE_NAMES] };
}
