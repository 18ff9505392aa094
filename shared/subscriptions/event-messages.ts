/**
 * The two messages on the event queue (`EVENT_QUEUE_NAME`): an event as published, which the
 * queue's handler fans out, and one delivery of it to one subscription. Both carry the whole
 * event, so a delivery needs nothing but its subscription to be made, and a parked one can be
 * replayed as it is.
 */
import * as z from 'zod';

import { validate } from '../schemas/validate.js';
import { EVENT_TYPE_NAMES, EVENT_TYPES, type EventData, type EventType } from './event-types.js';

export interface AppEvent<T extends EventType = EventType> {
  /** `evt_` + 32 hex digits: the `webhook-id` of every delivery of it. */
  id: string;
  type: T;
  /** When it was published (ISO 8601). */
  timestamp: string;
  data: EventData<T>;
}

export interface EventMessage {
  kind: 'event';
  event: AppEvent;
}

export interface DeliveryMessage {
  kind: 'delivery';
  subscriptionId: string;
  event: AppEvent;
}

export type EventWork = EventMessage | DeliveryMessage;

const eventSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, _ or -'),
    type: z.enum(EVENT_TYPE_NAMES, { error: `must be one of ${EVENT_TYPE_NAMES.join(', ')}` }),
    timestamp: z.string().min(1),
    data: z.record(z.string(), z.unknown(), { error: 'must be an object' }),
  })
  // The data must have its type's shape (fields the registry does not name are left out).
  .transform((event, ctx) => {
    const data = EVENT_TYPES[event.type].data.safeParse(event.data);
    if (!data.success) {
      for (const issue of data.error.issues) {
        ctx.addIssue({ code: 'custom', path: ['data', ...issue.path], message: issue.message });
      }
      return z.NEVER;
    }
    return { ...event, data: data.data } as AppEvent;
  });

const workSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('event'), event: eventSchema }),
    z.object({
      kind: z.literal('delivery'),
      subscriptionId: z.string().min(1).max(64),
      event: eventSchema,
    }),
  ],
  { error: 'must be an event or a delivery message' },
);

/** A message as the queue hands it over; ValidationError (the message is parked) otherwise. */
export function parseEventWork(payload: unknown): EventWork {
  return validate(workSchema, payload) as EventWork;
}
