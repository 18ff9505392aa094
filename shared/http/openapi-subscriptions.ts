/**
 * Webhook subscriptions in the OpenAPI document, as Power Platform custom connectors define
 * webhook triggers: one trigger per event type (`x-ms-trigger: single`), each a POST whose body
 * carries the flow's callback URL (`x-ms-notification-url`, hidden), answered `201` with
 * `Location`, which the platform DELETEs when the flow is turned off or deleted. The trigger's
 * outputs are the notification's body: the platform reads them from the trigger's response
 * schema (and `x-ms-notification-content`), so that schema is the event, not the subscription.
 *
 * Swagger takes one operation per path and method, so each trigger has a path of its own,
 * `/subscriptions/<event>` (the registry's `trigger.path`), served by the same function as
 * `/subscriptions` with the event taken from the route.
 */
import * as z from 'zod';

import { subscriptionRequestSchema, triggerRequestSchema } from '../schemas/subscription.js';
import { EVENT_TYPE_NAMES, EVENT_TYPES, type EventType } from '../subscriptions/event-types.js';
import { MAX_SUBSCRIPTIONS, type Subscription } from '../subscriptions/store.js';
import type { FieldDoc } from './openapi-labels.js';

type Schema = Record<string, unknown>;

export const SUBSCRIPTION_OPERATIONS = {
  create: {
    operationId: 'CreateSubscription',
    summary: 'Subscribe to events',
    description:
      'Subscribes a callback URL to events (all of them when events is left out): each is POSTed to it as { type, timestamp, data }, signed with Standard Webhooks headers and the secret answered here once.',
  },
  remove: {
    operationId: 'DeleteSubscription',
    summary: 'Delete a subscription',
    description:
      'Deletes a subscription, by the Location it was answered with: no more events are sent to its callback URL.',
  },
} as const;

/** Labels for the subscriptions' properties (merged into FIELD_DOCS). */
export const SUBSCRIPTION_FIELD_DOCS: Record<string, FieldDoc> = {
  callbackUrl: {
    summary: 'Callback URL',
    description:
      'Where events are POSTed: https:// (http:// only to localhost), at most 2,048 characters, no user name or password, not this app itself.',
  },
  events: {
    summary: 'Events',
    description: `The event types to send: ${EVENT_TYPE_NAMES.join(', ')}. Left out: all of them.`,
  },
  secret: {
    summary: 'Secret',
    description:
      'The Standard Webhooks signing secret (whsec_ + base64), shown only in this answer: verify each delivery’s webhook-signature with it.',
  },
  timestamp: {
    summary: 'Timestamp',
    description: 'When the app published the event (ISO 8601); data.at is when it happened.',
  },
  data: { summary: 'Data', description: 'The event’s details: their shape is the type’s.' },
  maskedNumber: {
    summary: 'Masked number',
    description: 'The number with all but its last three digits masked, fit for logs.',
  },
};

/**
 * Labels these definitions give a shared property name (FIELD_DOCS' label for `id` is a send's),
 * merged into DEFINITION_DOCS: definition → property path → label.
 */
export const SUBSCRIPTION_DEFINITION_DOCS: Record<string, Record<string, FieldDoc>> = {
  Subscription: {
    id: { summary: 'Subscription ID' },
    callbackUrl: { summary: 'Callback URL', description: 'Where events are POSTed.' },
    events: { summary: 'Events', description: 'The event types POSTed to it.' },
  },
  OptOutChangedEvent: { type: { summary: 'Event type' } },
  SmsDeliveryEvent: {
    type: { summary: 'Event type' },
    'data.status': { summary: 'Delivery status' },
    'data.at': { summary: 'Reported at' },
  },
};

const subscriptionSchema = z.object({
  id: z.string().describe('The subscription’s id: DELETE /subscriptions/{id} removes it.'),
  callbackUrl: z.string(),
  events: z.array(z.enum(EVENT_TYPE_NAMES)),
  secret: z.string(),
}) satisfies z.ZodType<Omit<Subscription, 'createdAt'>>;

function eventSchema(type: EventType) {
  return z.object({
    type: z.literal(type).describe(`The event type: ${type}.`),
    timestamp: z.string(),
    data: EVENT_TYPES[type].data,
  });
}

type Definition = (
  name: string,
  schema: z.ZodType,
  io: 'input' | 'output',
  description: string,
) => Schema;

/** The definitions, made with the document's `definition` (zod → Swagger). */
export function subscriptionDefinitions(definition: Definition): Record<string, Schema> {
  const trigger = definition(
    'TriggerSubscription',
    triggerRequestSchema(),
    'input',
    'A trigger’s subscription: the flow’s callback URL, filled in by the platform.',
  );
  const properties = trigger.properties as Record<string, Schema>;
  // The platform puts the flow's callback URL here; the flow's author never sees it.
  properties.callbackUrl = {
    ...properties.callbackUrl,
    'x-ms-notification-url': true,
    'x-ms-visibility': 'internal',
  };
  return {
    SubscriptionRequest: definition(
      'SubscriptionRequest',
      subscriptionRequestSchema(),
      'input',
      'A callback URL to send events to, and which events.',
    ),
    TriggerSubscription: trigger,
    Subscription: definition(
      'Subscription',
      subscriptionSchema,
      'output',
      'A subscription, with its signing secret.',
    ),
    ...Object.fromEntries(
      EVENT_TYPE_NAMES.map((type) => {
        const name = EVENT_TYPES[type].trigger.definition;
        return [
          name,
          definition(
            name,
            eventSchema(type),
            'output',
            `The body POSTed for ${type} events. ${EVENT_TYPES[type].description}`,
          ),
        ];
      }),
    ),
  };
}

const ref = (name: string) => ({ $ref: `#/definitions/${name}` });

const location = {
  Location: {
    type: 'string',
    description:
      'The subscription’s URL, https://<host>/api/subscriptions/{id}: DELETE it (with the function key) to unsubscribe.',
  },
};

const SIGNED =
  'Signed with Standard Webhooks headers: webhook-id (the event’s id, the same on every retry), webhook-timestamp and webhook-signature. A 2xx answer takes it; 410 Gone unsubscribes; anything else is retried with a growing delay, then parked.';

/** The paths; `errors` gives the problem answers for a list of statuses. */
export function subscriptionPaths(
  errors: (...statuses: (400 | 401 | 413 | 415 | 503)[]) => Schema,
): Schema {
  const consumes = ['application/json'];
  const produces = ['application/json', 'application/problem+json'];
  const body = (name: string, description: string) => ({
    name: 'body',
    in: 'body',
    required: true,
    description,
    schema: ref(name),
  });
  const tooMany = {
    description: `There are ${MAX_SUBSCRIPTIONS} subscriptions already, the most the app keeps: delete one first.`,
    schema: ref('Problem'),
  };
  const triggers = Object.fromEntries(
    EVENT_TYPE_NAMES.map((type) => {
      const { path, definition, ...operation } = EVENT_TYPES[type].trigger;
      return [
        `/subscriptions/${path}`,
        {
          'x-ms-notification-content': {
            description: `The ${type} event. ${SIGNED}`,
            schema: ref(definition),
          },
          post: {
            ...operation,
            'x-ms-trigger': 'single',
            consumes,
            produces,
            parameters: [body('TriggerSubscription', `Subscribes the flow to ${type} events.`)],
            responses: {
              201: {
                description: `Subscribed: each ${type} event is POSTed to the flow as this body.`,
                schema: ref(definition),
                headers: location,
              },
              ...errors(400, 401, 413, 415),
              422: tooMany,
              ...errors(503),
            },
          },
        },
      ];
    }),
  );
  return {
    '/subscriptions': {
      post: {
        ...SUBSCRIPTION_OPERATIONS.create,
        // For other systems and operators: flows use the triggers.
        'x-ms-visibility': 'internal',
        consumes,
        produces,
        parameters: [body('SubscriptionRequest', 'The callback URL and the events to send it.')],
        responses: {
          201: {
            description: `Subscribed: the subscription, with its secret (shown only here). ${SIGNED}`,
            schema: ref('Subscription'),
            headers: location,
          },
          ...errors(400, 401, 413, 415),
          422: tooMany,
          ...errors(503),
        },
      },
    },
    ...triggers,
    '/subscriptions/{id}': {
      delete: {
        ...SUBSCRIPTION_OPERATIONS.remove,
        'x-ms-visibility': 'internal',
        produces,
        parameters: [
          {
            name: 'id',
            in: 'path',
            required: true,
            type: 'string',
            description: 'The subscription’s id (the last segment of its Location).',
            'x-ms-summary': 'Subscription ID',
          },
        ],
        responses: {
          204: { description: 'Deleted: no more events go to its callback URL.' },
          ...errors(401),
          404: { description: 'No subscription has this id.', schema: ref('Problem') },
          ...errors(503),
        },
      },
    },
  };
}
