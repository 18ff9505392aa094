/**
 * The app's event types, in one registry: each type's data shape (zod: the TypeScript type its
 * producer must publish, the check a queued event passes, and the payload its connector trigger
 * documents) and the trigger that subscribes to it alone. Subscribing, fan-out, signing, retries
 * and the connector's triggers all follow from this list: another event type is one more entry
 * here and one producer calling `EventPublisher.publish` (shared/subscriptions/publisher.ts).
 */
import * as z from 'zod';

import { DELIVERY_STATES } from '../delivery/report-format.js';
import type { ChangeAction, ChangeSource } from '../opt-outs/audit-trail.js';

// Complete by type: a new action, source or delivery state must be added here too.
const changeActions: { [K in ChangeAction]: K } = {
  'opt-out': 'opt-out',
  'opt-in': 'opt-in',
  removal: 'removal',
};
const changeSources: { [K in ChangeSource]: K } = {
  webhook: 'webhook',
  api: 'api',
  manual: 'manual',
  sendmode: 'sendmode',
};

const optOutChangedData = z.object({
  number: z.string().describe('The number: canonical international digits, without + or 00.'),
  maskedNumber: z.string(),
  action: z.enum(changeActions),
  source: z
    .enum(changeSources)
    .describe(
      'webhook (a signed delivery), api (an unsigned call to /api/optout), manual (an operator) or sendmode (a delivery report: Sendmode’s own list blocks the number).',
    ),
  at: z.string(),
});

const smsDeliveryData = z.object({
  id: z.string().describe('The send’s id (as GET /sms/{id} reads it).'),
  recipient: z.string(),
  status: z
    .enum(DELIVERY_STATES)
    .describe(
      'What Sendmode reported for this recipient: delivered, or a failure (expired, undelivered, rejected, opted-out), or a step before (pending, dispatched); unknown for a word this app does not know.',
    ),
  at: z.string().describe('When Sendmode reported it (ISO 8601).'),
  customerid: z.string().optional().describe('The customerid the send carried, when it had one.'),
});

/** How the connector offers one event type as a trigger of its own. */
export interface TriggerDoc {
  /** The route's last segment: `POST /api/subscriptions/<path>` subscribes to this type alone. */
  path: string;
  operationId: string;
  summary: string;
  description: string;
  /** The name of the notification's definition in the OpenAPI document. */
  definition: string;
}

export interface EventTypeEntry {
  description: string;
  data: z.ZodObject;
  trigger: TriggerDoc;
}

export const EVENT_TYPES = {
  'optout.changed': {
    description:
      'A change of the suppression list was applied: a number opted out, opted back in, or an operator took it off the list.',
    data: optOutChangedData,
    trigger: {
      path: 'optout-changed',
      operationId: 'WhenANumberOptsOutOrIn',
      summary: 'When a number opts out or opts back in',
      description:
        'Triggers when a change of the suppression list is applied: a number opts out (a STOP reply, the opt-out webhook, a Sendmode delivery report), opts back in (a START reply), or an operator removes it.',
      definition: 'OptOutChangedEvent',
    },
  },
  'sms.delivery': {
    description: 'Sendmode reported the delivery (or the failure) of a send to one recipient.',
    data: smsDeliveryData,
    trigger: {
      path: 'sms-delivery',
      operationId: 'WhenAnSmsIsDeliveredOrFails',
      summary: 'When an SMS is delivered or fails',
      description:
        'Triggers when Sendmode reports on a send to one recipient: delivered, or failed (expired, undelivered, rejected, opted out).',
      definition: 'SmsDeliveryEvent',
    },
  },
} as const satisfies Record<string, EventTypeEntry>;

export type EventType = keyof typeof EVENT_TYPES;

/** The data a producer publishes with an event of type `T`. */
export type EventData<T extends EventType> = z.output<(typeof EVENT_TYPES)[T]['data']>;

/** Every event type, in the registry's order (a subscription without `events` gets them all). */
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && Object.hasOwn(EVENT_TYPES, value);
}

/** The event type a trigger's route segment stands for (`optout-changed`), if any. */
export function eventTypeOfTriggerPath(path: string): EventType | undefined {
  return EVENT_TYPE_NAMES.find((type) => EVENT_TYPES[type].trigger.path === path);
}
