/**
 * The app's API as an OpenAPI 2.0 (Swagger) document, the version Power Platform custom
 * connectors take. Request bodies are generated from the zod schemas that validate requests
 * (`z.toJSONSchema`), so a changed limit changes the document; answers from documentation-only
 * zod schemas tied to the result types. Operation ids and summaries are those of the Sendmode
 * connector on Power Platform, so flows built on it map one to one.
 *
 * Served at `GET /api/openapi.json` (functions/openapi.ts) and checked in for `paconn` as
 * connector/apiDefinition.swagger.json (`npm run connector`; a test keeps it in step).
 *
 * Made of: the zod → Swagger converter (openapi-convert.ts) and the labels it applies
 * (openapi-labels.ts), the answers' shapes (openapi-shapes.ts), the parameters and answers
 * operations share (openapi-parts.ts), the operator routes (openapi-admin.ts) and the webhook
 * triggers (openapi-subscriptions.ts).
 */
import { MAX_HISTORY_MINUTES } from '../history/history-store.js';
import { customerSchema, MAX_CUSTOMER_BATCH } from '../schemas/customer.js';
import { optOutSchema } from '../schemas/opt-out.js';
import { sendSmsSchema } from '../schemas/send-sms.js';
import { ADMIN_DEFINITIONS, ADMIN_SECURITY, adminPaths } from './openapi-admin.js';
import {
  definition,
  definitions,
  queryParameters,
  routeParameters,
  type Schema,
} from './openapi-convert.js';
import {
  body,
  deliveryReportParameters,
  deliveryReportResponses,
  errors,
  idempotencyKeyParameter,
  jsonOperation,
  optOutResponses,
  outcome,
  PREFER_DESCRIPTION,
  queuedResponse,
  retryAfter,
  SEND_OUTCOMES,
  sendIdParameter,
  sendStatusResponses,
  sentResponse,
} from './openapi-parts.js';
import {
  appStatusSchema,
  creditsResultSchema,
  customersQueuedSchema,
  optOutResultSchema,
  problemSchema,
  sendSmsResultSchema,
  smsQueuedSchema,
  smsSentSchema,
  smsWaitingSchema,
} from './openapi-shapes.js';
import { subscriptionDefinitions, subscriptionPaths } from './openapi-subscriptions.js';
import { RESPOND_ASYNC } from './prefer.js';

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
            {
              name: 'history',
              in: 'query',
              required: false,
              type: 'integer',
              minimum: 1,
              maximum: MAX_HISTORY_MINUTES,
              description: `Also give the last N minutes (1–${MAX_HISTORY_MINUTES}) as history.minutes, oldest first: Sendmode calls by class, 429s answered, messages deferred and parked, every instance's summed, and each queue's largest depth (empty for a minute no instance wrote).`,
              'x-ms-summary': 'History (minutes)',
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
    for (const [path, operations] of Object.entries(adminPaths(errors, routeParameters))) {
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
