/**
 * The app's API as an OpenAPI 2.0 (Swagger) document, the version Power Platform custom
 * connectors take. Request bodies are generated from the zod schemas that validate requests
 * (`z.toJSONSchema`), so a changed limit changes the document; answers from documentation-only
 * zod schemas tied to the result types. Operation ids and summaries are those of the Sendmode
 * connector on Power Platform, so flows built on it map one to one.
 *
 * Served at `GET /api/openapi.json` (functions/openapi.ts) and checked in for `paconn` as
 * connector/apiDefinition.swagger.json (`npm run connector`; a test keeps it in step).
 */
import * as z from 'zod';
import { MAX_BODY_BYTES } from './http.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency-key.js';
import type { OptOutOutcome } from '../optouts/opt-outs.js';
import {
  ADMIN_DEFINITIONS,
  ADMIN_DEFINITION_DOCS,
  ADMIN_FIELD_DOCS,
  ADMIN_SECURITY,
  adminPaths,
} from './openapi-admin.js';
import {
  SUBSCRIPTION_DEFINITION_DOCS,
  SUBSCRIPTION_FIELD_DOCS,
  subscriptionDefinitions,
  subscriptionPaths,
} from './openapi-subscriptions.js';
import type { Problem } from './problem.js';
import { customerSchema, MAX_CUSTOMER_BATCH } from '../schemas/customer.js';
import { optOutSchema } from '../schemas/opt-out.js';
import { sendSmsSchema } from '../schemas/send-sms.js';
import type { AppStatus } from '../app-status.js';
import { RESPOND_ASYNC } from './prefer.js';
import type { SendState } from '../outbox/send-status.js';
import type { RecentOptOut } from '../optouts/recent-optouts.js';
import type { CreditsResult } from '../sendmode/client.js';
import type { SendSmsAnswer } from '../sendmode/sms-sender.js';
import type { DeliveryStatus, DeliveryView } from '../delivery/delivery-view.js';
import { DELIVERY_STATES } from '../delivery/report-format.js';

/** package.json's version (not imported: JSON modules and ESM do not mix well); a test keeps it in sync. */
export const API_VERSION = '0.1.0';

export const API_TITLE = 'Sendmode (self-hosted)';

/** Where makers read about the connector: the project's repository (a placeholder until published). */
export const PROJECT_URL = 'https://github.com/your-org/sendmode-connector';

/** What the connector's page shows beside its operations (`x-ms-connector-metadata`). */
const CONNECTOR_METADATA = [
  { propertyName: 'Website', propertyValue: PROJECT_URL },
  // The app runs in the operator's subscription: its readme says where the data goes.
  {
    propertyName: 'Privacy policy',
    propertyValue: `${PROJECT_URL}/blob/main/connector/readme.md#where-does-the-data-go`,
  },
  { propertyName: 'Categories', propertyValue: 'Communication;IT Operations' },
];

/** The Sendmode connector's operations on Power Platform: ids, summaries and descriptions. */
export const CONNECTOR_OPERATIONS = {
  sendSms: {
    operationId: 'Send_SMS',
    summary: 'Send SMS',
    description: 'Send an SMS to one or more recipients.',
  },
  checkCredits: {
    operationId: 'Check_Credits',
    summary: 'Check Credits',
    description: 'Check your SendMode credits balance.',
  },
  importCustomer: {
    operationId: 'Import_Customer',
    summary: 'Import Customer',
    description: 'Import your customer details into your SendMode account.',
  },
  optOutCustomer: {
    operationId: 'Optout_Customer',
    summary: 'Optout Customer',
    description: 'Optout Customer number from database.',
  },
  queueSms: {
    operationId: 'QueueSms',
    summary: 'Queue SMS',
    description:
      'Queue an SMS and wait for its outcome: answered 202 at once with the send’s status URL (Location), which the flow follows until the send has gone (Sendmode’s answer, as Send SMS gives it) or failed for good (the error Send SMS would give). Queued sends wait their turn within the shared call limit instead of failing with 429.',
  },
  getSmsStatus: {
    operationId: 'GetSmsStatus',
    summary: 'Get SMS Status',
    description:
      'A queued send’s status by its id: 202 while it waits (queued, scheduled or sending), then its outcome: Sendmode’s answer, or the error a synchronous send would give.',
  },
  getStatus: {
    operationId: 'GetStatus',
    summary: 'Get Status',
    description:
      'The shared Sendmode call limit now (calls in the window by class, reserved, free, next free slot), the queue depths and how queued sends shared calls (merged calls). Never calls Sendmode: check it before a bulk job.',
  },
} as const;

/** The header Azure Functions reads a function key from. */
export const FUNCTION_KEY_HEADER = 'x-functions-key';

export interface OpenApiOptions {
  /** The host (and port) callers use; omitted from the document when not given. */
  host?: string;
  /** Defaults to `/api`, the Functions host's route prefix. */
  basePath?: string;
  /** Defaults to `['https']`. */
  schemes?: ('http' | 'https')[];
  /** Adds the operator routes (master key); never in the connector (see openapi-admin.ts). */
  admin?: boolean;
}

type Schema = Record<string, unknown>;

export interface FieldDoc {
  /** The label Power Platform shows (`x-ms-summary`). */
  summary: string;
  description?: string;
  /** A format the validation checks in code (a refinement) rather than in the schema. */
  format?: string;
}

/**
 * A property name's label wherever it is used, unless its definition relabels it
 * (DEFINITION_DOCS); a test fails when a property has neither.
 */
export const FIELD_DOCS: Record<string, FieldDoc> = {
  // send SMS
  messagetext: {
    summary: 'Message text',
    description:
      'At most 10 SMS parts: 1530 GSM-7 characters (extension characters such as € [ ] { } count twice), or 670 UCS-2 characters when any character is outside GSM-7. Curly quotes, long dashes, ellipses and special spaces are replaced with GSM-7 look-alikes when that keeps the text GSM-7 (SMART_ENCODING, on by default).',
  },
  recipients: {
    summary: 'Recipients',
    description:
      'Mobile numbers, best international (+353 87 123 4567); national ones (087 123 4567) are read in DEFAULT_COUNTRY_CODE’s country. Each must be a valid number of its country, and not a fixed line or another number that cannot receive SMS; spaces, dashes, dots and brackets are ignored. Duplicates are removed.',
  },
  senderid: {
    summary: 'Sender ID',
    description: 'Shown on the handset: 1-11 letters or digits, or up to 16 digits.',
  },
  customerid: {
    summary: 'Customer ID',
    description: 'Your reference for the message, returned in the answer.',
  },
  scheduledate: {
    summary: 'Schedule date',
    description:
      'When to send: an ISO 8601 date-time with a time zone, in the future and at most 365 days ahead (Sendmode rounds it to 15 minutes).',
    format: 'date-time',
  },
  // import customer
  group: { summary: 'Group', description: 'The group to add the customer to; not blank.' },
  mobilenumber: {
    summary: 'Mobile number',
    description:
      'As recipients of a send: best international (+353 87 123 4567), a valid mobile number of its country; spaces, dashes, dots and brackets are ignored.',
  },
  firstname: { summary: 'First name' },
  surname: { summary: 'Surname' },
  address: { summary: 'Address' },
  town: { summary: 'Town' },
  county: { summary: 'County' },
  email: { summary: 'Email' },
  custom1: { summary: 'Custom field 1' },
  custom2: { summary: 'Custom field 2' },
  businessname: { summary: 'Business name' },
  dateofbirth: {
    summary: 'Date of birth',
    description: 'dd/mm/yyyy, a real date, not in the future.',
  },
  // opt out
  optoutresponse: {
    summary: 'Opt-out response',
    description:
      'The reply the customer sent. When given, only an opt-out keyword (STOP, UNSUBSCRIBE, ...) opts the number out.',
  },
  returnedresponse: {
    summary: 'Returned response',
    description: 'The response sent back to the customer, recorded with the opt-out.',
  },
  // answers
  status: { summary: 'Status', description: 'Sendmode’s command status.' },
  statusCode: { summary: 'Status code', description: 'Sendmode’s command status code.' },
  acceptedDateTime: { summary: 'Accepted at', description: 'When Sendmode accepted the call.' },
  message: { summary: 'Message' },
  skippedRecipients: {
    summary: 'Skipped recipients',
    description: 'Recipients left out because they opted out.',
  },
  sms: {
    summary: 'SMS',
    description:
      'The text as sent: its encoding, how many SMS parts it took (what Sendmode bills), its characters and the look-alikes smart encoding replaced.',
  },
  encoding: {
    summary: 'Encoding',
    description:
      'GSM-7 (160 characters in one part, 153 a part when longer), or UCS-2 when any character is outside GSM-7 (70, 67 a part).',
  },
  parts: { summary: 'Parts', description: 'SMS parts the text takes, each billed as one SMS.' },
  characters: {
    summary: 'Characters',
    description:
      'As the parts count them: in GSM-7, characters of the extension table (€ [ ] { } ...) count twice; in UCS-2, emoji count twice.',
  },
  replaced: {
    summary: 'Replaced',
    description:
      'Characters smart encoding replaced with a GSM-7 look-alike (curly quotes, long dashes, ellipses, special spaces) to keep the text GSM-7 (SMART_ENCODING); 0 when it is off or there were none.',
  },
  recipient: { summary: 'Recipient' },
  reason: { summary: 'Reason' },
  balance: { summary: 'Balance', description: 'The account’s credit balance.' },
  queue: { summary: 'Queue', description: 'The queue the work was put on.' },
  messageIds: { summary: 'Message IDs', description: 'One queue message per customer.' },
  // queued sends
  id: { summary: 'Send ID', description: 'The queued send’s id: GET /sms/{id} reads its status.' },
  statusUrl: {
    summary: 'Status URL',
    description:
      'Where to look (also in Location): a plain GET needs no key, the URL’s token lets it read this one send’s status.',
  },
  queuedAt: { summary: 'Queued at' },
  expectedAt: {
    summary: 'Expected at',
    description:
      'About when the send goes to Sendmode: its turn within the shared limit, or its schedule.',
  },
  lastError: {
    summary: 'Last error',
    description: 'Why the last attempt failed, while it is retried.',
  },
  sentAt: { summary: 'Sent at', description: 'When Sendmode took the send.' },
  mergedCall: {
    summary: 'Merged call',
    description:
      'Present when the send shared its Sendmode call with other queued sends of the same text (SEND_MERGE): what that one call carried. Its status still lists only its own recipients.',
  },
  sends: { summary: 'Sends', description: 'Queued sends the call carried.' },
  // problem details
  title: { summary: 'Title' },
  detail: { summary: 'Detail' },
  invocationId: { summary: 'Invocation ID', description: 'Quote it when asking for support.' },
  errors: { summary: 'Errors', description: 'Each bad field, named by its path.' },
  field: { summary: 'Field' },
  upstream: { summary: 'Sendmode status', description: 'What Sendmode answered, when it said no.' },
  error: { summary: 'Error' },
  // opt-in
  sendmodeOptOutList: {
    summary: 'Sendmode opt-out list',
    description:
      'unchanged: Sendmode’s v2 API has no opt-in call, so its own opt-out list may still hold the number. not-offered: the configured API generation (v3) has no opt-out call; the number is on this app’s list only.',
  },
  note: { summary: 'Note' },
  // status
  limit: { summary: 'Limit', description: 'The shared Sendmode call limit now.' },
  maxCalls: { summary: 'Max calls', description: 'Calls allowed in any rolling window.' },
  windowSeconds: { summary: 'Window (s)' },
  interactiveReserve: {
    summary: 'Interactive reserve',
    description: 'Calls of every window kept for HTTP callers; queue work uses the rest.',
  },
  admitted: { summary: 'Admitted', description: 'Calls made in the window that ends now.' },
  interactive: { summary: 'Interactive', description: 'HTTP callers: sends, credit checks.' },
  background: { summary: 'Background', description: 'Queue work: imports, opt-out sync.' },
  total: { summary: 'Total' },
  reservedAhead: {
    summary: 'Reserved ahead',
    description: 'Slots kept for queue messages that will come back for them.',
  },
  free: { summary: 'Free now', description: 'Calls of each class that would be admitted now.' },
  nextSlotFreesAt: {
    summary: 'Next slot frees at',
    description: 'Empty when nothing is in the window.',
  },
  nextSlotFreesInSeconds: { summary: 'Next slot frees in (s)' },
  backgroundLinedUpUntil: {
    summary: 'Queue work lined up until',
    description: 'About when the current backlog will have reached Sendmode.',
  },
  sendsLinedUpUntil: {
    summary: 'Queued sends lined up until',
    description: 'About when the queued sends waiting for a slot will have reached Sendmode.',
  },
  queues: { summary: 'Queues' },
  approximateMessages: {
    summary: 'Messages',
    description: 'Queue Storage’s estimate, counting messages waiting for their slot.',
  },
  poison: { summary: 'Poison queue' },
  outbox: { summary: 'Send queue', description: 'The queued sends’ line.' },
  waiting: {
    summary: 'Waiting',
    description: 'Sends on the send queue (Queue Storage’s estimate).',
  },
  lastExpectedAt: {
    summary: 'Last expected at',
    description: 'When a send queued now would be expected to go: after every one waiting.',
  },
  merging: {
    summary: 'Merged calls',
    description:
      'Queued sends of one text (same sender id, schedule and customer id) sharing one Sendmode call.',
  },
  enabled: { summary: 'Enabled', description: 'SEND_MERGE is on.' },
  windowMs: {
    summary: 'Merge window (ms)',
    description:
      'SEND_MERGE_WINDOW_MS: how long a send of a busy text waits for company before its call.',
  },
  maxRecipientsPerCall: {
    summary: 'Max recipients per call',
    description: 'SEND_MAX_RECIPIENTS_PER_CALL: a merged call carries at most this many numbers.',
  },
  lastWindow: {
    summary: 'Last window',
    description:
      'The queued sends’ calls in the limit’s window that ends now (RATE_LIMIT_WINDOW_SECONDS), merged or not; none while merging is off.',
  },
  calls: { summary: 'Calls', description: 'Sendmode calls made for queued sends.' },
  recipientsPerCall: {
    summary: 'Recipients per call',
    description: 'On average, one decimal; empty when there was no call.',
  },
  callsSaved: {
    summary: 'Calls saved',
    description: 'Sends that rode along in another send’s call: sends minus calls.',
  },
  recentOptOuts: { summary: 'Recent opt-outs', description: 'Numbers masked.' },
  deliveryReports: {
    summary: 'Delivery reports',
    description:
      'Whether the latest sends old enough to be reported were reported and delivered (DELIVERY_REPORTS, DELIVERY_REPORT_EXPECTED_MINUTES, DELIVERY_REPORT_WATCH_SENDS).',
  },
  delivery: {
    summary: 'Delivery',
    description:
      'Sendmode’s delivery reports for this send’s recipients, once it was sent (see the README’s Delivery reports).',
  },
  summary: { summary: 'Summary', description: 'How many recipients are at each stage.' },
  failed: {
    summary: 'Failed',
    description: 'Recipients reported expired, undelivered, rejected or opted out.',
  },
  pending: { summary: 'Pending', description: 'Recipients with no final report yet.' },
  unreported: {
    summary: 'Unreported',
    description: 'Recipients with no report past DELIVERY_REPORT_EXPECTED_MINUTES.',
  },
  sendmodeStatus: { summary: 'Sendmode status', description: 'Sendmode’s word, e.g. DELIVRD.' },
  statusText: { summary: 'Status text', description: 'What the status means.' },
  kind: {
    summary: 'Kind',
    description: 'unreported (no report at all) or undelivered (reports, none delivered).',
  },
  delivered: { summary: 'Delivered', description: 'Recipients reported delivered.' },
  watched: { summary: 'Sends watched', description: 'The latest sends old enough to be reported.' },
  unmatched: {
    summary: 'Unmatched reports',
    description: 'Reports that matched no send, kept apart (counted up to 1,000).',
  },
  ...ADMIN_FIELD_DOCS,
  ...SUBSCRIPTION_FIELD_DOCS,
};

/** What a send's answer echoes of the message: what Sendmode took, not the request's rules. */
const SENT_MESSAGE_DOCS: Record<string, FieldDoc> = {
  message: { summary: 'Message', description: 'The message as Sendmode took it.' },
  'message.senderid': {
    summary: 'Sender ID',
    description: 'The sender id it went with (DEFAULT_SENDER_ID when the request had none).',
  },
  'message.messagetext': {
    summary: 'Message text',
    description: 'The text as sent, after any smart-encoding replacements.',
  },
  'message.customerid': { summary: 'Customer ID', description: 'The reference it carried.' },
  'message.scheduledate': {
    summary: 'Schedule date',
    description: 'When Sendmode is to send it, for a scheduled send.',
  },
  'message.recipients': {
    summary: 'Recipients',
    description: 'The numbers it was sent to, opted-out ones left out.',
  },
};

/**
 * Labels a definition gives a property whose FIELD_DOCS label is wrong there (a problem's
 * `status` is the HTTP status, not Sendmode's): definition → the property's path in it (dotted,
 * array items transparent: `queues.poison.name`) → label. It replaces the shared label whole.
 */
export const DEFINITION_DOCS: Record<string, Record<string, FieldDoc>> = {
  SendSmsResult: SENT_MESSAGE_DOCS,
  SmsQueued: {
    status: { summary: 'Status', description: 'queued: the send is on the send queue.' },
  },
  SmsWaiting: {
    status: {
      summary: 'Status',
      description: 'queued, scheduled (held until its schedule date) or sending.',
    },
  },
  SmsSent: {
    ...SENT_MESSAGE_DOCS,
    'delivery.recipients': {
      summary: 'Recipients',
      description: 'Each recipient’s latest delivery report.',
    },
    'delivery.recipients.status': {
      summary: 'Delivery status',
      description:
        'pending, dispatched, delivered, expired, undelivered, rejected, opted-out, unknown (a word this app does not know) or unreported (no report in the time one was expected).',
    },
    'delivery.recipients.at': { summary: 'Reported at', description: 'When Sendmode reported it.' },
  },
  CustomersQueued: {
    status: { summary: 'Status', description: 'queued: every customer is on the import queue.' },
  },
  OptOutResult: {
    status: {
      summary: 'Status',
      description:
        'opted-out, already-opted-out, queued (recorded; Sendmode is told when it can take it), ignored (the reply is not a keyword), opted-in (a START reply) or superseded (a later change for the number came first).',
    },
  },
  AppStatus: {
    status: { summary: 'Status', description: 'ok: the app answered.' },
    at: { summary: 'Read at', description: 'When these figures were read.' },
    'queues.name': { summary: 'Queue name' },
    'queues.poison.name': { summary: 'Poison queue name' },
    'queues.poison.approximateMessages': {
      summary: 'Parked messages',
      description: 'Queue Storage’s estimate of the messages parked there after failing.',
    },
    'outbox.queue': { summary: 'Queue name', description: 'The send queue (SEND_QUEUE_NAME).' },
    'merging.lastWindow.sends': {
      summary: 'Sends',
      description: 'Queued sends those calls carried.',
    },
    'deliveryReports.expected': {
      summary: 'Reports expected',
      description: 'DELIVERY_REPORTS is on.',
    },
    'deliveryReports.reported': {
      summary: 'Sends reported',
      description: 'Of those, sends with any delivery report.',
    },
    'deliveryReports.delivered': {
      summary: 'Sends delivered',
      description: 'Of those, sends with a recipient delivered.',
    },
    'deliveryReports.warning': {
      summary: 'Warning',
      description: 'Set when sends go unreported or undelivered; empty otherwise.',
    },
    'deliveryReports.warning.message': {
      summary: 'Warning text',
      description: 'What it usually means, and what to check.',
    },
    'recentOptOuts.number': {
      summary: 'Masked number',
      description: 'The number with all but its last three digits masked.',
    },
    'recentOptOuts.source': {
      summary: 'Source',
      description:
        'webhook (a signed delivery), api (an unsigned call to /api/optout), manual (an operator) or sendmode (a delivery report: Sendmode’s own list blocks the number).',
    },
  },
  Problem: {
    type: {
      summary: 'Problem type',
      description: 'A URN naming the kind of problem (urn:sendmode-connector:problem:...).',
    },
    status: { summary: 'HTTP status', description: 'The HTTP status code of this answer.' },
    'errors.message': { summary: 'Error', description: 'What is wrong with the field.' },
  },
  ...ADMIN_DEFINITION_DOCS,
  ...SUBSCRIPTION_DEFINITION_DOCS,
};

/** The label of the property at `path` (names from the definition down) in `definition`. */
export function fieldDoc(definition: string | undefined, path: string[]): FieldDoc | undefined {
  const own = definition === undefined ? undefined : DEFINITION_DOCS[definition]?.[path.join('.')];
  return own ?? FIELD_DOCS[path.at(-1) ?? ''];
}

/* ------------------------------ response shapes ------------------------------ */
// Documentation only: each is tied to the type the route returns by `satisfies`.

const sendmodeStatus = {
  status: z.string(),
  statusCode: z.number().int(),
};

const sendSmsResultSchema = z.object({
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

const creditsResultSchema = z.object({
  ...sendmodeStatus,
  balance: z.number(),
}) satisfies z.ZodType<CreditsResult>;

const queueDepthSchema = z.object({ name: z.string(), approximateMessages: z.number().int() });

const appStatusSchema = z.object({
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
const smsQueuedSchema = z.object({
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
const smsWaitingSchema = z.object({
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

const smsSentSchema = sendSmsResultSchema.extend({
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

const customersQueuedSchema = z.object({
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
const optOutResultSchema = z.object({
  status: z.enum(optOutStatus),
  reason: z.string().optional(),
  sendmodeOptOutList: z.enum(['unchanged', 'not-offered']).optional(),
  note: z.string().optional(),
});

const sendmodeStatusSchema = z.object({ ...sendmodeStatus, error: z.string().optional() });

const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  upstream: sendmodeStatusSchema.optional(),
  invocationId: z.string().optional(),
}) satisfies z.ZodType<Problem>;

/* ------------------------------ JSON Schema → Swagger 2.0 ------------------------------ */

/** The keywords a Swagger 2.0 Schema Object may carry (besides `x-` extensions). */
const SWAGGER_KEYWORDS = new Set([
  '$ref',
  'format',
  'title',
  'description',
  'default',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
  'required',
  'enum',
  'additionalProperties',
  'type',
  'items',
  'allOf',
  'properties',
  'readOnly',
  'example',
]);

const isRecord = (value: unknown): value is Schema =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * One JSON Schema (draft-04, the dialect Swagger 2.0 builds on) made fit for Power Platform:
 * - a union (`anyOf`/`oneOf`, or a list of types) becomes its first non-null member: every
 *   union the schemas use accepts a string first (e.g. a number given as digits); one that
 *   takes null (`.nullable()`) says so with `x-nullable: true`, which Swagger 2.0 lacks and
 *   Power Platform reads, so a flow is not failed by a null the answer documents;
 * - `const` becomes a one-value `enum`; an untyped value (`z.unknown()`, used where each item
 *   is checked and named by index, as recipients are) is documented as the string it must be;
 * - the ±2^53 bounds zod puts on integers, the pattern zod puts beside `format: email` and
 *   `additionalProperties: false` (unknown fields are ignored) are dropped, and so is anything
 *   Swagger 2.0 does not know;
 * - properties get `x-ms-summary` and a description from their definition's labels
 *   (DEFINITION_DOCS) or else FIELD_DOCS (a description the zod schema gives, `.describe()`,
 *   wins), and in requests `x-ms-visibility`: `important` when required, `advanced` when optional.
 * `definition` names the definition being converted and `path` the property's place in it.
 */
function toSwagger(
  node: Schema,
  request: boolean,
  definition?: string,
  path: string[] = [],
): Schema {
  let schema: Schema = { ...node };
  let nullable = Array.isArray(schema.enum) && schema.enum.includes(null);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const members = schema[key];
    if (Array.isArray(members)) {
      nullable ||= (members as Schema[]).some((member) => member.type === 'null');
      const chosen = (members as Schema[]).find((member) => member.type !== 'null') ?? {};
      delete schema[key];
      schema = { ...chosen, ...schema };
    }
  }
  if (Array.isArray(schema.type)) {
    nullable ||= (schema.type as string[]).includes('null');
    schema.type = (schema.type as string[]).find((type) => type !== 'null') ?? 'string';
  }
  if (nullable) {
    schema['x-nullable'] = true;
    if (Array.isArray(schema.enum)) schema.enum = schema.enum.filter((value) => value !== null);
  }
  if ('const' in schema) {
    schema.enum = [schema.const];
    schema.type ??= typeof schema.const;
  }
  if (schema.type === undefined && schema.$ref === undefined && schema.enum === undefined) {
    schema.type = 'string';
  }
  if (schema.type === 'integer') {
    if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
    if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
  }
  if (schema.format === 'email') delete schema.pattern;
  // Unknown fields are ignored in requests, and answers may carry more than documented.
  if (schema.additionalProperties === false) delete schema.additionalProperties;

  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (SWAGGER_KEYWORDS.has(key) || key.startsWith('x-')) out[key] = value;
  }
  // An array's items and a map's values sit at the array's (the map's) own path.
  if (isRecord(out.items)) out.items = toSwagger(out.items, request, definition, path);
  if (isRecord(out.additionalProperties)) {
    out.additionalProperties = toSwagger(out.additionalProperties, request, definition, path);
  }
  if (isRecord(out.properties)) {
    const required = new Set(Array.isArray(out.required) ? (out.required as string[]) : []);
    const properties: Schema = {};
    for (const [name, value] of Object.entries(out.properties)) {
      const doc = fieldDoc(definition, [...path, name]);
      const property = toSwagger(value as Schema, request, definition, [...path, name]);
      if (request && doc?.format !== undefined) property.format = doc.format;
      // A name used for two things (recipients: numbers, or a count) may say so in the schema.
      const own = typeof property.description === 'string';
      properties[name] = {
        ...property,
        ...(!own && doc?.description !== undefined ? { description: doc.description } : {}),
        'x-ms-summary': doc?.summary ?? name,
        ...(request ? { 'x-ms-visibility': required.has(name) ? 'important' : 'advanced' } : {}),
      };
    }
    out.properties = properties;
    if (required.size === 0) delete out.required;
  }
  return out;
}

/**
 * A zod schema as a Swagger 2.0 Schema Object: `input` for a request body, `output` for an
 * answer; labelled as the definition `name` labels its properties, when given.
 */
export function swaggerSchema(schema: z.ZodType, io: 'input' | 'output', name?: string): Schema {
  const json = z.toJSONSchema(schema, { io, target: 'draft-04' }) as Schema;
  return toSwagger(json, io === 'input', name);
}

/** The definition `name`: its schema, labelled, and what it is. */
function definition(
  name: string,
  schema: z.ZodType,
  io: 'input' | 'output',
  description: string,
): Schema {
  return { ...swaggerSchema(schema, io, name), description };
}

/** Definitions by name: each its schema, input or output, and what it is. */
export type DefinitionTable = Record<string, [z.ZodType, 'input' | 'output', string]>;

function definitions(table: DefinitionTable): Record<string, Schema> {
  return Object.fromEntries(
    Object.entries(table).map(([name, [schema, io, description]]) => [
      name,
      definition(name, schema, io, description),
    ]),
  );
}

/** An object schema's properties as query parameters (Swagger 2.0 query parameters take no schema). */
function queryParameters(schema: z.ZodType, name: string): Schema[] {
  const { properties = {}, required = [] } = swaggerSchema(schema, 'input', name) as {
    properties?: Record<string, Schema>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    ...property,
  }));
}

/* ------------------------------ the document ------------------------------ */

const problemRef = { $ref: '#/definitions/Problem' };
const retryAfter = {
  'Retry-After': { type: 'integer', description: 'Whole seconds to wait before retrying.' },
};

/** Error answers, each an RFC 9457 problem (application/problem+json). */
const ERRORS = {
  400: { description: 'The request is invalid: each bad field is named in errors.' },
  401: {
    description:
      'Not authenticated: the function key is missing or wrong (answered by the platform), or a webhook signature is missing, wrong, expired or replayed.',
  },
  405: {
    description:
      'Webhook signatures are required: a signature covers the body only, so the fields must be POSTed.',
  },
  409: {
    description: 'A send with the same Idempotency-Key is still in flight.',
    headers: retryAfter,
  },
  413: { description: `The body is over ${MAX_BODY_BYTES / 1024} KiB.` },
  415: { description: 'The route does not take this content type.' },
  422: {
    description:
      'Every recipient has opted out, or an Idempotency-Key was reused with a different request.',
  },
  429: {
    description: 'The shared Sendmode call limit is reached (or Sendmode throttled).',
    headers: retryAfter,
  },
  501: {
    description:
      'The configured Sendmode API generation (SENDMODE_API_VERSION=v3, Engage) offers no call for this (for a send: scheduledate); nothing was sent.',
  },
  502: {
    description: 'Sendmode answered with an error: upstream carries its status.',
    headers: retryAfter,
  },
  503: {
    description: 'A dependency (Key Vault, storage, configuration) is unavailable.',
    headers: retryAfter,
  },
  504: {
    description:
      'Sendmode did not answer in time; the SMS may have been sent: retry with the same Idempotency-Key.',
  },
} as const;

type ErrorStatus = keyof typeof ERRORS;

function errors(...statuses: ErrorStatus[]): Record<string, Schema> {
  return Object.fromEntries(
    statuses.map((status) => [String(status), { ...ERRORS[status], schema: problemRef }]),
  );
}

/** What an opt-out (the connector's action, or the webhook) answers. */
function optOutResponses(): Record<string, Schema> {
  return {
    200: {
      description:
        'Opted out (or already), opted back in (a START reply; Sendmode’s own list unchanged), superseded by a later change, or ignored: the reply is not a keyword.',
      schema: { $ref: '#/definitions/OptOutResult' },
    },
    202: {
      description: 'Recorded: never texted again; Sendmode is told when it can take it.',
      schema: { $ref: '#/definitions/OptOutResult' },
    },
    ...errors(400, 401, 413, 415, 502, 503),
  };
}

/* ------------------------------ delivery reports ------------------------------ */

const deliveryReportParameters = [
  ['EventID', 'Event ID', 'Sendmode’s unique id of the message.', false],
  ['Phonenumber', 'Phone number', 'The recipient: international digits (353870000000).', true],
  ['DataType', 'Data type', 'SMS (any other type is refused).', false],
  [
    'Status',
    'Status',
    'DELIVRD, DISPATCHED, EXPIRED, UNDELIV, REJECTD or OPTED OUT - BLOCKED.',
    true,
  ],
  ['CustomerID', 'Customer ID', 'The customerid the send carried.', false],
].map(([name, summary, description, required]) => ({
  name,
  in: 'query',
  required,
  type: 'string',
  maxLength: 256,
  description,
  'x-ms-summary': summary,
}));

function deliveryReportResponses(
  problems: (...statuses: ErrorStatus[]) => Record<string, Schema>,
): Record<string, Schema> {
  return {
    200: {
      description: 'Stored (against its send, or apart when it matched none): the text True.',
      schema: { type: 'string' },
    },
    ...problems(400, 401, 413, 415, 503),
  };
}

/* ------------------------------ queued sends ------------------------------ */

const idempotencyKeyParameter = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  type: 'string',
  minLength: 1,
  maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
  // Shown, not under advanced: without a key a retry after a time-out can text twice.
  description: `One per message, the same on every retry: in a flow, the run id and the item, e.g. @{workflow().run.name}-@{items('For_each')?['id']}. A retry with the same key and body replays the first answer instead of sending (or queueing) again. Printable ASCII, 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`,
  'x-ms-summary': 'Idempotency key',
  'x-ms-visibility': 'important',
};

const PREFER_DESCRIPTION = `${RESPOND_ASYNC}: validate the send as a synchronous one, queue it and answer 202 at once with its status URL (Location).`;

const sendIdParameter = {
  name: 'id',
  in: 'path',
  required: true,
  type: 'string',
  description:
    'The send’s id: the id of POST /sms’s 202 answer, or of a message dropped on the send queue (its own id, else its queue message id).',
  'x-ms-summary': 'Send ID',
};

const statusLocation = {
  Location: {
    type: 'string',
    description:
      'The send’s status URL (absolute, https://<host>/api/sms/{id}/status?token=...): a plain GET, with no key, answers 202 while it waits and then its outcome.',
  },
};

/** The 202 of a queued send: where to look, and when. */
const queuedResponse = {
  description:
    'Queued (Prefer: respond-async): validated as a synchronous send would be, put on the send queue, and its status URL given. Follow Location until it answers other than 202.',
  schema: { $ref: '#/definitions/SmsQueued' },
  headers: {
    ...statusLocation,
    'Retry-After': {
      type: 'integer',
      description: 'Whole seconds until the send is expected to go: look then.',
    },
    'Preference-Applied': { type: 'string', description: `${RESPOND_ASYNC}: the send was queued.` },
  },
};

const sentResponse = (description: string) => ({
  description,
  schema: { $ref: '#/definitions/SmsSent' },
});

/**
 * How a queued send ends when it fails for good: its status answers the problem a synchronous send
 * would have answered (after the retries queue work gets, for transient failures).
 */
const SEND_OUTCOMES = {
  400: 'Failed for good: refused as invalid when it was sent (a message dropped on the send queue with a bad field, or a setting changed since it was queued); each bad field is named in errors.',
  422: 'Failed for good: every recipient had opted out by the time it was sent; nothing was sent.',
  429: 'Failed for good: Sendmode kept throttling it until it was parked.',
  501: 'Failed for good: the configured Sendmode API generation (SENDMODE_API_VERSION=v3) offers no call for it; nothing was sent.',
  502: 'Failed for good: Sendmode rejected it (upstream carries its status), or kept failing until it was parked.',
  503: 'Failed for good: a dependency (Key Vault, storage) kept failing until it was parked; nothing was sent.',
  504: 'Failed for good: Sendmode did not answer in time on the last attempt; the SMS may have been sent.',
} as const;

const outcome = (description: string, headers?: Schema): Schema => ({
  description,
  schema: problemRef,
  ...(headers ? { headers } : {}),
});

/** What both status routes answer; the status URL (`byToken`) also repeats Location on a 202. */
function sendStatusResponses(byToken: boolean): Record<string, Schema> {
  return {
    200: sentResponse(
      'Sent: Sendmode’s answer, as a synchronous send answers it, with the send’s id and when it was sent.',
    ),
    202: {
      description:
        'Still waiting (queued, scheduled or sending): look again after Retry-After seconds.',
      schema: { $ref: '#/definitions/SmsWaiting' },
      headers: {
        ...(byToken ? statusLocation : {}),
        'Retry-After': {
          type: 'integer',
          description:
            'Whole seconds until the send is expected to go (2 while it is being sent; at most 3600).',
        },
      },
    },
    400: outcome(SEND_OUTCOMES[400]),
    ...(byToken ? {} : errors(401)),
    404: outcome(
      byToken
        ? 'No queued send has this id, or the token is not its own (the answer says no more); or its status has expired (SEND_STATUS_TTL_SECONDS after it was queued, 7 days by default).'
        : 'No queued send has this id, or its status has expired (SEND_STATUS_TTL_SECONDS after it was queued, 7 days by default).',
    ),
    422: outcome(SEND_OUTCOMES[422]),
    429: outcome(SEND_OUTCOMES[429]),
    501: outcome(SEND_OUTCOMES[501]),
    502: outcome(SEND_OUTCOMES[502]),
    503: outcome(
      `Storage is unavailable now (Retry-After set: look again then). Or: ${SEND_OUTCOMES[503]}`,
      retryAfter,
    ),
    504: outcome(SEND_OUTCOMES[504]),
  };
}

const jsonOperation = {
  consumes: ['application/json'],
  produces: ['application/json', 'application/problem+json'],
};

function body(ref: string, description: string): Schema {
  return {
    name: 'body',
    in: 'body',
    required: true,
    description,
    schema: { $ref: `#/definitions/${ref}` },
  };
}

let cached: Schema | undefined;

function document(): Schema {
  cached ??= {
    swagger: '2.0',
    info: {
      title: API_TITLE,
      // Power Platform refuses the word "API" in a connector's title and description.
      description:
        'Send SMS, check credit, import customers and record opt-outs through one Sendmode account, within its call limit, shared by every caller of the app.',
      version: API_VERSION,
      contact: {
        name: 'Sendmode connector (self-hosted) maintainers',
        url: `${PROJECT_URL}/issues`,
        email: 'sendmode-connector@example.com',
      },
    },
    paths: {
      '/sms': {
        post: {
          ...CONNECTOR_OPERATIONS.sendSms,
          ...jsonOperation,
          parameters: [
            idempotencyKeyParameter,
            {
              name: 'Prefer',
              in: 'header',
              required: false,
              type: 'string',
              enum: [RESPOND_ASYNC],
              description: `${PREFER_DESCRIPTION} Without it the SMS is sent now; Queue SMS sends it for you.`,
              'x-ms-summary': 'Prefer',
              'x-ms-visibility': 'advanced',
            },
            body(
              'SendSmsRequest',
              'The message (also accepted wrapped as { "message": { ... } }).',
            ),
          ],
          responses: {
            200: {
              description: 'Sendmode took the message.',
              schema: { $ref: '#/definitions/SendSmsResult' },
              headers: {
                'Idempotent-Replayed': {
                  type: 'string',
                  description: '"true" when this answer is the replay of an earlier send.',
                },
              },
            },
            202: queuedResponse,
            ...errors(400, 401, 409, 413, 415, 422, 429, 501, 502, 503, 504),
          },
        },
      },
      // Queue SMS: POST /sms with Prefer: respond-async fixed. Swagger 2.0 takes one operation per
      // path and method, so it is documented at /sms/ (routing ignores a trailing slash: the same
      // function). A flow follows the 202's Location until the outcome, as the asynchronous
      // request-reply pattern has it; the 200 below is that outcome, what the action returns.
      '/sms/': {
        post: {
          ...CONNECTOR_OPERATIONS.queueSms,
          ...jsonOperation,
          parameters: [
            {
              name: 'Prefer',
              in: 'header',
              required: true,
              type: 'string',
              enum: [RESPOND_ASYNC],
              default: RESPOND_ASYNC,
              description: PREFER_DESCRIPTION,
              'x-ms-summary': 'Prefer',
              'x-ms-visibility': 'internal',
            },
            idempotencyKeyParameter,
            body(
              'SendSmsRequest',
              'The message (also accepted wrapped as { "message": { ... } }).',
            ),
          ],
          responses: {
            202: queuedResponse,
            200: sentResponse(
              'The outcome, once the send has gone (what GET Location answers at last): Sendmode’s answer, with the send’s id and when it was sent.',
            ),
            ...errors(400, 401, 409, 413, 415),
            422: outcome(
              `An Idempotency-Key reused with a different request: nothing was queued. Or, the outcome: ${SEND_OUTCOMES[422]}`,
            ),
            429: outcome(`The outcome: ${SEND_OUTCOMES[429]}`),
            501: outcome(
              'The configured Sendmode API generation (SENDMODE_API_VERSION=v3) offers no call for this: nothing was queued.',
            ),
            502: outcome(`The outcome: ${SEND_OUTCOMES[502]}`),
            503: outcome(
              `A dependency (storage, configuration) is unavailable: nothing was queued (Retry-After set). Or, the outcome: ${SEND_OUTCOMES[503]}`,
              retryAfter,
            ),
            504: outcome(`The outcome: ${SEND_OUTCOMES[504]}`),
          },
        },
      },
      '/sms/{id}': {
        get: {
          ...CONNECTOR_OPERATIONS.getSmsStatus,
          produces: jsonOperation.produces,
          parameters: [sendIdParameter],
          responses: sendStatusResponses(false),
        },
      },
      // The status URL a queued send is answered with: no function key (a poller follows Location
      // without the request's headers), the send's own token instead. Not a flow action.
      '/sms/{id}/status': {
        get: {
          operationId: 'GetSmsStatusByToken',
          summary: 'Get SMS Status by status URL',
          description:
            'The status URL of a send queued with Prefer: respond-async, as Location gives it: anonymous, its token grants this one send’s status. Answers as Get SMS Status does.',
          'x-ms-visibility': 'internal',
          security: [],
          produces: jsonOperation.produces,
          parameters: [
            sendIdParameter,
            {
              name: 'token',
              in: 'query',
              required: true,
              type: 'string',
              description: 'The token of the status URL the send was queued with.',
              'x-ms-summary': 'Token',
            },
          ],
          responses: sendStatusResponses(true),
        },
      },
      '/credits': {
        get: {
          ...CONNECTOR_OPERATIONS.checkCredits,
          produces: jsonOperation.produces,
          responses: {
            200: {
              description: 'The credit balance.',
              schema: { $ref: '#/definitions/CreditsResult' },
            },
            ...errors(401, 429, 501, 502, 503, 504),
          },
        },
      },
      '/status': {
        get: {
          ...CONNECTOR_OPERATIONS.getStatus,
          produces: jsonOperation.produces,
          parameters: [
            {
              name: 'recentOptOuts',
              in: 'query',
              required: false,
              type: 'integer',
              minimum: 0,
              maximum: 50,
              description: 'Also list the latest opt-outs, numbers masked (0–50; default 0).',
              'x-ms-summary': 'Recent opt-outs',
              'x-ms-visibility': 'advanced',
            },
          ],
          responses: {
            200: {
              description: 'The limit and the queues now.',
              schema: { $ref: '#/definitions/AppStatus' },
            },
            ...errors(400, 401, 503),
          },
        },
      },
      '/customers': {
        post: {
          ...CONNECTOR_OPERATIONS.importCustomer,
          ...jsonOperation,
          parameters: [
            body(
              'Customer',
              `One customer (also accepted: { "group", "importdata": { ... } }, or up to ${MAX_CUSTOMER_BATCH} customers as an array or { "customers": [ ... ] }).`,
            ),
          ],
          responses: {
            202: {
              description: 'Queued for import: one queue message per customer.',
              schema: { $ref: '#/definitions/CustomersQueued' },
            },
            ...errors(400, 401, 413, 415, 501, 503),
          },
        },
      },
      // The connector's Optout Customer: a flow's opt-out, the function key its authorisation.
      '/optouts': {
        post: {
          ...CONNECTOR_OPERATIONS.optOutCustomer,
          ...jsonOperation,
          parameters: [
            body(
              'OptOut',
              'The number to opt out (also accepted wrapped as { "message": { ... } }); with a reply text, only a keyword counts.',
            ),
          ],
          responses: optOutResponses(),
        },
      },
      // The opt-out webhook, for inbound-SMS handlers and unsubscribe pages: signed deliveries
      // when a signing secret is set. Not a flow action (a flow cannot sign: /optouts is its).
      '/optout': {
        post: {
          operationId: 'ReceiveOptOutWebhook',
          summary: 'Receive an opt-out webhook',
          description:
            'An opt-out or opt-in from a webhook sender, signed with Standard Webhooks headers when the app requires signatures. Flows use Optout Customer instead.',
          'x-ms-visibility': 'internal',
          ...jsonOperation,
          parameters: [
            body(
              'OptOut',
              'The number to opt out (also accepted as a form, wrapped as { "message": { ... } }, or, when deliveries are not signed, in the query string).',
            ),
          ],
          responses: optOutResponses(),
        },
        get: {
          // For webhook senders that can only call a URL; hidden from flow designers.
          operationId: 'OptoutCustomerQuery',
          summary: 'Optout Customer by query string',
          description:
            'The same opt-out with the fields in the query string (also accepted: mobile, msisdn, from or number for the number; text or body for the reply). Refused (405) when webhook signatures are required.',
          'x-ms-visibility': 'internal',
          produces: jsonOperation.produces,
          parameters: queryParameters(optOutSchema, 'OptOut'),
          responses: {
            200: {
              description: 'Opted out (or already), or ignored: the reply is not a keyword.',
              schema: { $ref: '#/definitions/OptOutResult' },
            },
            202: {
              description: 'Recorded: never texted again; Sendmode is told when it can take it.',
              schema: { $ref: '#/definitions/OptOutResult' },
            },
            ...errors(400, 401, 405, 502, 503),
          },
        },
      },
      // Sendmode's delivery reports (shared/delivery/): Sendmode calls it, not a flow.
      '/delivery-reports': {
        get: {
          operationId: 'ReceiveDeliveryReport',
          summary: 'Receive a delivery report',
          description:
            'Sendmode’s account setting “Post Delivery Reports to URL” calls this with the function key as ?code=. Answers the text True once the report is stored.',
          'x-ms-visibility': 'internal',
          produces: ['text/plain', 'application/problem+json'],
          parameters: deliveryReportParameters,
          responses: deliveryReportResponses(errors),
        },
        post: {
          operationId: 'ReceiveDeliveryReportPosted',
          summary: 'Receive a posted delivery report',
          description:
            'The same report as a form or JSON body (field names in any case). Answers the text True once it is stored.',
          'x-ms-visibility': 'internal',
          consumes: ['application/x-www-form-urlencoded', 'application/json'],
          produces: ['text/plain', 'application/problem+json'],
          parameters: deliveryReportParameters.map((p) => ({ ...p, in: 'formData' })),
          responses: deliveryReportResponses(errors),
        },
      },
      // Webhook subscriptions: the connector's triggers (openapi-subscriptions.ts).
      ...subscriptionPaths(errors),
    },
    definitions: {
      ...definitions({
        SendSmsRequest: [sendSmsSchema, 'input', 'An SMS to send.'],
        SendSmsResult: [sendSmsResultSchema, 'output', 'Sendmode’s answer to a send.'],
        SmsQueued: [smsQueuedSchema, 'output', 'A send queued: where to look, and when.'],
        SmsWaiting: [smsWaitingSchema, 'output', 'A queued send still waiting.'],
        SmsSent: [
          smsSentSchema,
          'output',
          'A queued send that has gone: Sendmode’s answer, with the send’s id and when it was sent.',
        ],
        CreditsResult: [creditsResultSchema, 'output', 'The credit balance.'],
        Customer: [customerSchema, 'input', 'A customer to import.'],
        CustomersQueued: [customersQueuedSchema, 'output', 'Customers queued for import.'],
        OptOut: [optOutSchema, 'input', 'A number to opt out.'],
        OptOutResult: [optOutResultSchema, 'output', 'The opt-out’s outcome.'],
        AppStatus: [
          appStatusSchema,
          'output',
          'The shared limit, the queues and the merged calls now.',
        ],
      }),
      ...subscriptionDefinitions(definition),
      ...definitions({ Problem: [problemSchema, 'output', 'An RFC 9457 problem.'] }),
    },
  };
  return cached;
}

/** The document; `host` and `basePath` say where the app answers. */
export function buildOpenApi(options: OpenApiOptions = {}): object {
  const { info, paths, definitions: named, ...rest } = structuredClone(document());
  if (options.admin) {
    // Method by method: a path may hold public operations too (POST /optouts beside its GET).
    for (const [path, operations] of Object.entries(adminPaths(errors))) {
      const all = paths as Record<string, Schema>;
      all[path] = { ...all[path], ...(operations as Schema) };
    }
    Object.assign(named as Schema, definitions(ADMIN_DEFINITIONS));
  }
  return {
    ...rest,
    info,
    ...(options.host !== undefined ? { host: options.host } : {}),
    basePath: options.basePath ?? '/api',
    schemes: options.schemes ?? ['https'],
    consumes: ['application/json'],
    produces: ['application/json'],
    paths,
    definitions: named,
    securityDefinitions: {
      api_key: {
        type: 'apiKey',
        in: 'header',
        name: FUNCTION_KEY_HEADER,
        description: 'A function key of the function app.',
      },
      ...(options.admin
        ? {
            [ADMIN_SECURITY]: {
              type: 'apiKey',
              in: 'header',
              name: FUNCTION_KEY_HEADER,
              description:
                'The host master key (authLevel admin): Azure portal → Function App → App keys → _master, or az functionapp keys list.',
            },
          }
        : {}),
    },
    security: [{ api_key: [] }],
    'x-ms-connector-metadata': CONNECTOR_METADATA,
  };
}

/** A Host header fit for Swagger's `host`: a name or address and an optional port. */
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const LOOPBACK = /^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?$/i;

/** The document as served: `host` is the one it was fetched from (when it is a valid host). */
export function openApiFor(hostHeader: string | null, requestUrl: string): object {
  const header = hostHeader?.trim();
  const host = header && HOST.test(header) ? header : undefined;
  const local = host !== undefined && LOOPBACK.test(host) && requestUrl.startsWith('http:');
  // `?include=admin` adds the operator routes; the default stays the connector's document.
  const admin =
    URL.canParse(requestUrl) && new URL(requestUrl).searchParams.get('include') === 'admin';
  return buildOpenApi({
    ...(host !== undefined ? { host } : {}),
    schemes: local ? ['http'] : ['https'],
    ...(admin ? { admin } : {}),
  });
}
