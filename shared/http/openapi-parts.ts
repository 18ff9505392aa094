/**
 * The pieces the OpenAPI document's operations are made of: the error answers (RFC 9457
 * problems), the opt-out and delivery report answers, and the queued sends' parameters and
 * answers.
 */
import { MAX_BODY_BYTES } from './http.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency-key.js';
import type { Schema } from './openapi-convert.js';
import { RESPOND_ASYNC } from './prefer.js';

export const problemRef = { $ref: '#/definitions/Problem' };
export const retryAfter = {
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

export type ErrorStatus = keyof typeof ERRORS;

export function errors(...statuses: ErrorStatus[]): Record<string, Schema> {
  return Object.fromEntries(
    statuses.map((status) => [String(status), { ...ERRORS[status], schema: problemRef }]),
  );
}

/** What an opt-out (the connector's action, or the webhook) answers. */
export function optOutResponses(): Record<string, Schema> {
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

export const deliveryReportParameters = [
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

export function deliveryReportResponses(
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

export const idempotencyKeyParameter = {
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

export const PREFER_DESCRIPTION = `${RESPOND_ASYNC}: validate the send as a synchronous one, queue it and answer 202 at once with its status URL (Location).`;

export const sendIdParameter = {
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
export const queuedResponse = {
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

export const sentResponse = (description: string) => ({
  description,
  schema: { $ref: '#/definitions/SmsSent' },
});

/**
 * How a queued send ends when it fails for good: its status answers the problem a synchronous send
 * would have answered (after the retries queue work gets, for transient failures).
 */
export const SEND_OUTCOMES = {
  400: 'Failed for good: refused as invalid when it was sent (a message dropped on the send queue with a bad field, or a setting changed since it was queued); each bad field is named in errors.',
  422: 'Failed for good: every recipient had opted out by the time it was sent; nothing was sent.',
  429: 'Failed for good: Sendmode kept throttling it until it was parked.',
  501: 'Failed for good: the configured Sendmode API generation (SENDMODE_API_VERSION=v3) offers no call for it; nothing was sent.',
  502: 'Failed for good: Sendmode rejected it (upstream carries its status), or kept failing until it was parked.',
  503: 'Failed for good: a dependency (Key Vault, storage) kept failing until it was parked; nothing was sent.',
  504: 'Failed for good: Sendmode did not answer in time on the last attempt; the SMS may have been sent.',
} as const;

export const outcome = (description: string, headers?: Schema): Schema => ({
  description,
  schema: problemRef,
  ...(headers ? { headers } : {}),
});

/** What both status routes answer; the status URL (`byToken`) also repeats Location on a 202. */
export function sendStatusResponses(byToken: boolean): Record<string, Schema> {
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

export const jsonOperation = {
  consumes: ['application/json'],
  produces: ['application/json', 'application/problem+json'],
};

export function body(ref: string, description: string): Schema {
  return {
    name: 'body',
    in: 'body',
    required: true,
    description,
    schema: { $ref: `#/definitions/${ref}` },
  };
}
