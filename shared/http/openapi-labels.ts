/**
 * The labels Power Platform shows for the document's properties (`x-ms-summary`, with a
 * description): by property name wherever it is used (FIELD_DOCS), unless the definition it is in
 * relabels it (DEFINITION_DOCS). The converter (openapi-convert.ts) puts them on every property.
 */
import { ADMIN_DEFINITION_DOCS, ADMIN_FIELD_DOCS } from './openapi-admin.js';
import { SUBSCRIPTION_DEFINITION_DOCS, SUBSCRIPTION_FIELD_DOCS } from './openapi-subscriptions.js';

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
