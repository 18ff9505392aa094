/**
 * The shapes of the app's answers in the OpenAPI document, as zod schemas. Documentation only:
 * each is tied to the type the route returns by `satisfies`, so a changed answer that the
 * document does not follow fails to compile.
 */
import * as z from 'zod';

import type { AppStatus } from '../app-status.js';
import type { DeliveryStatus, DeliveryView } from '../delivery/delivery-view.js';
import { DELIVERY_STATES } from '../delivery/report-format.js';
import type { OptOutOutcome } from '../opt-outs/opt-outs.js';
import type { RecentOptOut } from '../opt-outs/recent-opt-outs.js';
import type { SendState } from '../outbox/send-status.js';
import type { CreditsResult } from '../sendmode/api.js';
import type { SendSmsAnswer } from '../sendmode/sms-sender.js';
import type { Problem } from './problem.js';

const sendmodeStatus = {
  status: z.string(),
  statusCode: z.number().int(),
};

export const sendSmsResultSchema = z.object({
  ...sendmodeStatus,
  acceptedDateTime: z.string().optional(),
  message: z
    .object({
      senderid: z.string().optional(),
      messagetext: z.string().optional(),
      customerid: z.string().optional(),
      scheduledate: z.string().optional(),
      recipients: z.array(z.string()).optional(),
    })
    .optional(),
  skippedRecipients: z
    .array(z.object({ recipient: z.string(), reason: z.literal('opted-out') }))
    .optional(),
  sms: z.object({
    encoding: z.enum(['GSM-7', 'UCS-2']),
    parts: z.number().int(),
    characters: z.number().int(),
    replaced: z.number().int(),
  }),
  id: z.string().describe('The send’s id: GET /sms/{id} shows it, and its delivery reports.'),
  sentAt: z.string(),
}) satisfies z.ZodType<SendSmsAnswer>;

export const creditsResultSchema = z.object({
  ...sendmodeStatus,
  balance: z.number(),
}) satisfies z.ZodType<CreditsResult>;

const queueDepthSchema = z.object({ name: z.string(), approximateMessages: z.number().int() });

export const appStatusSchema = z.object({
  status: z.literal('ok'),
  at: z.string(),
  limit: z.object({
    maxCalls: z.number().int(),
    windowSeconds: z.number(),
    interactiveReserve: z.number().int(),
    admitted: z.object({
      interactive: z.number().int(),
      background: z.number().int(),
      total: z.number().int(),
    }),
    reservedAhead: z.number().int(),
    free: z.object({ interactive: z.number().int(), background: z.number().int() }),
    nextSlotFreesAt: z.string().nullable(),
    nextSlotFreesInSeconds: z.number().nullable(),
    backgroundLinedUpUntil: z.string().nullable(),
    sendsLinedUpUntil: z.string().nullable(),
  }),
  queues: z.array(queueDepthSchema.extend({ poison: queueDepthSchema })),
  outbox: z.object({
    queue: z.string(),
    waiting: z.number().int(),
    lastExpectedAt: z.string(),
  }),
  merging: z.object({
    enabled: z.boolean(),
    windowMs: z.number().int(),
    maxRecipientsPerCall: z.number().int(),
    lastWindow: z.object({
      calls: z.number().int(),
      sends: z.number().int(),
      recipients: z
        .number()
        .int()
        .describe('Numbers those calls carried (opted-out ones left out).'),
      recipientsPerCall: z.number().nullable(),
      callsSaved: z.number().int(),
    }),
  }),
  deliveryReports: z.object({
    expected: z.boolean(),
    watched: z.number().int(),
    reported: z.number().int(),
    delivered: z.number().int(),
    unmatched: z.number().int(),
    warning: z
      .object({ kind: z.enum(['unreported', 'undelivered']), message: z.string() })
      .nullable(),
  }),
  recentOptOuts: z
    .array(
      z.object({
        number: z.string(),
        at: z.string(),
        source: z.enum(['webhook', 'api', 'manual', 'sendmode']),
      }),
    )
    .optional(),
}) satisfies z.ZodType<AppStatus & { recentOptOuts?: RecentOptOut[] }>;

// A send queued with Prefer: respond-async (shared/outbox/async-send.ts) and its status while it
// waits (shared/outbox/status-response.ts); once sent, the status is Sendmode's answer with the
// send's id and when it was sent (shared/outbox/outbox-sender.ts).
export const smsQueuedSchema = z.object({
  id: z.string(),
  status: z.literal('queued'),
  statusUrl: z.string(),
  expectedAt: z.string(),
});

// Every state a send waits in: complete by type.
const waitingState: { [K in Exclude<SendState, 'sent' | 'failed'>]: K } = {
  queued: 'queued',
  scheduled: 'scheduled',
  sending: 'sending',
};
export const smsWaitingSchema = z.object({
  id: z.string(),
  status: z.enum(waitingState),
  queuedAt: z.string(),
  expectedAt: z.string(),
  lastError: z.string().optional(),
});

// Every state a recipient's delivery can show: complete by type.
const deliveryStatus = [...DELIVERY_STATES, 'unreported'] as const satisfies DeliveryStatus[];
const deliverySchema = z.object({
  summary: z.object({
    delivered: z.number().int(),
    failed: z.number().int(),
    pending: z.number().int(),
    unreported: z.number().int(),
  }),
  recipients: z.array(
    z.object({
      recipient: z.string(),
      status: z.enum(deliveryStatus),
      sendmodeStatus: z.string().optional(),
      statusText: z.string(),
      at: z.string().optional(),
    }),
  ),
}) satisfies z.ZodType<DeliveryView>;

export const smsSentSchema = sendSmsResultSchema.extend({
  delivery: deliverySchema.optional(),
  // A merged call (shared/merge/merged-send.ts): its status keeps its own recipients.
  mergedCall: z
    .object({
      sends: z.number().int(),
      recipients: z
        .number()
        .int()
        .describe('Numbers the one call carried, every send’s (opted-out ones left out).'),
    })
    .optional(),
});

export const customersQueuedSchema = z.object({
  status: z.literal('queued'),
  queue: z.string(),
  messageIds: z.array(z.string()),
});

// Every outcome of takeOptOut: complete by type.
const optOutStatus: { [K in OptOutOutcome]: K } = {
  'opted-out': 'opted-out',
  'already-opted-out': 'already-opted-out',
  queued: 'queued',
  ignored: 'ignored',
  'opted-in': 'opted-in',
  superseded: 'superseded',
};
export const optOutResultSchema = z.object({
  status: z.enum(optOutStatus),
  reason: z.string().optional(),
  sendmodeOptOutList: z.enum(['unchanged', 'not-offered']).optional(),
  note: z.string().optional(),
});

const sendmodeStatusSchema = z.object({ ...sendmodeStatus, error: z.string().optional() });

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  upstream: sendmodeStatusSchema.optional(),
  invocationId: z.string().optional(),
}) satisfies z.ZodType<Problem>;
