/**
 * The operator routes on the suppression list (authLevel admin: the host's master key), for the
 * OpenAPI document with `admin: true` (served at `/api/openapi.json?include=admin`). They are
 * left out of the Power Platform connector on purpose: a connector connection stores its key for
 * every flow that uses it, and the master key opens every function and the host's admin API, so
 * it does not belong in one; operators call these routes with curl or a script instead.
 */
import * as z from 'zod';

import { TRAIL_PAGE_SIZE } from '../opt-outs/opt-out-admin.js';
import {
  listQuerySchema,
  lookUpQuerySchema,
  MAX_PAGE_SIZE,
  numberParamSchema,
  removalSchema,
} from '../schemas/opt-out-admin.js';
import type { DefinitionTable, RouteParameters, Schema } from './openapi-convert.js';
import type { FieldDoc } from './openapi-labels.js';

export const ADMIN_SECURITY = 'admin_key';

/** Labels for the admin definitions' properties (merged into FIELD_DOCS). */
export const ADMIN_FIELD_DOCS: Record<string, FieldDoc> = {
  changeId: { summary: 'Change ID' },
  action: { summary: 'Action', description: 'opt-out, opt-in or removal.' },
  source: {
    summary: 'Source',
    description:
      'webhook (a signed delivery), api (an unsigned call to /api/optout) or manual (an operator).',
  },
  at: {
    summary: 'At',
    description:
      'When it happened, as ordered: an opt-out at the later of its signed time and its first arrival here, an opt-in at the earlier; unsigned changes at their arrival.',
  },
  recordedAt: { summary: 'Recorded at' },
  applied: {
    summary: 'Applied',
    description:
      'False when a later change had already been recorded, so this one changed nothing.',
  },
  keyword: {
    summary: 'Keyword',
    description: 'The keyword the reply matched (never the reply itself).',
  },
  by: {
    summary: 'By',
    description:
      'Who removed the number. In the trail, as the app can tell: the user App Service authentication signed in (only when APP_SERVICE_AUTH_ENABLED), else "admin key"; a by sent with the removal is kept as claimedBy.',
  },
  claimedBy: {
    summary: 'Claimed by',
    description:
      'Who the caller said removed it (its by, or an x-ms-client-principal-name header nothing vouches for): a claim, not checked.',
  },
  webhookId: { summary: 'Webhook ID' },
  number: { summary: 'Number', description: 'Canonical: international digits without + or 00.' },
  suppressed: { summary: 'Suppressed', description: 'True when the app will not text the number.' },
  since: { summary: 'Since', description: 'When the current state began.' },
  firstOptedOutAt: { summary: 'First opted out at' },
  sendmodeSync: {
    summary: 'Sendmode sync',
    description: 'pending, synced or rejected: whether Sendmode has taken the opt-out.',
  },
  lastChange: { summary: 'Last change' },
  trail: {
    summary: 'Trail',
    description: `The newest ${TRAIL_PAGE_SIZE} changes asked of the number (older than the trail continuation token's, when one is given), oldest first.`,
  },
  trailContinuationToken: {
    summary: 'Trail continuation token',
    description: 'Present when older changes follow: pass it back as trailContinuationToken.',
  },
  items: { summary: 'Items' },
  continuationToken: {
    summary: 'Continuation token',
    description: 'Pass it back for the next page.',
  },
};

const trailEntrySchema = z.object({
  changeId: z.string(),
  action: z.enum(['opt-out', 'opt-in', 'removal']),
  source: z.enum(['webhook', 'api', 'manual']),
  at: z.string(),
  recordedAt: z.string(),
  applied: z.boolean(),
  keyword: z.string().optional(),
  reason: z.string().optional(),
  by: z.string().optional(),
  claimedBy: z.string().optional(),
  webhookId: z.string().optional(),
});

const entryFields = {
  number: z.string(),
  suppressed: z.boolean(),
  since: z.string().optional(),
  firstOptedOutAt: z.string().optional(),
  sendmodeSync: z.enum(['pending', 'synced', 'rejected']).optional(),
};

/** Labels these definitions give a shared name (merged into DEFINITION_DOCS). */
export const ADMIN_DEFINITION_DOCS: Record<string, Record<string, FieldDoc>> = {
  OptOutRemoval: {
    reason: { summary: 'Reason', description: 'Why the number is removed; kept in the trail.' },
    by: {
      summary: 'By',
      description: 'Who removes it, as the caller says: kept in the trail as claimedBy.',
    },
  },
  OptOutRemoved: {
    status: { summary: 'Status', description: 'removed: the app texts the number again.' },
    sendmodeOptOutList: {
      summary: 'Sendmode opt-out list',
      description:
        'unchanged: Sendmode’s own opt-out list is not changed (its v2 API has no opt-in call).',
    },
  },
};

/** Definitions: name → [schema, input or output, description]. */
export const ADMIN_DEFINITIONS: DefinitionTable = {
  OptOutTrailEntry: [trailEntrySchema, 'output', 'One change asked of the suppression list.'],
  OptOutEntry: [
    z.object({ ...entryFields, lastChange: trailEntrySchema.optional() }),
    'output',
    'A number on the suppression list.',
  ],
  OptOutLookUp: [
    z.object({
      ...entryFields,
      trail: z.array(trailEntrySchema).max(TRAIL_PAGE_SIZE),
      trailContinuationToken: z.string().optional(),
    }),
    'output',
    'A number: suppressed or not, since when, and its trail.',
  ],
  OptOutPage: [
    z.object({
      items: z.array(z.object({ ...entryFields, lastChange: trailEntrySchema.optional() })),
      continuationToken: z.string().optional(),
    }),
    'output',
    'A page of suppressed numbers.',
  ],
  OptOutRemoval: [removalSchema, 'input', 'Why (and by whom) a number is removed.'],
  OptOutRemoved: [
    z.object({
      status: z.literal('removed'),
      number: z.string(),
      sendmodeOptOutList: z.literal('unchanged'),
      note: z.string(),
    }),
    'output',
    'The number is off the list here.',
  ],
};

/** Labels of the routes' parameters (their schemas: shared/schemas/opt-out-admin.ts). */
const PARAMETER_DOCS: Record<string, FieldDoc> = {
  number: {
    summary: 'Number',
    description: 'The phone number, in any form sends take (+353..., 00353..., 353...).',
  },
  since: {
    summary: 'Since',
    description: 'Only numbers suppressed at or after this ISO 8601 date or date-time.',
    format: 'date-time',
  },
  continuationToken: { summary: 'Continuation token', description: 'From the previous page.' },
  pageSize: { summary: 'Page size', description: `Numbers a page, 1 to ${MAX_PAGE_SIZE}.` },
  format: { summary: 'Format', description: 'json: a page; csv: every suppressed number.' },
  trailContinuationToken: {
    summary: 'Trail continuation token',
    description: 'From the previous answer: the changes older than those it showed.',
  },
};

const ref = (name: string) => ({ $ref: `#/definitions/${name}` });

/**
 * The admin paths; `errors` gives the problem answers for a list of statuses, `parameters` a
 * route input's schema as its parameters.
 */
export function adminPaths(
  errors: (...statuses: (400 | 401 | 413 | 415 | 503)[]) => Schema,
  parameters: RouteParameters,
): Schema {
  const numberParameter = parameters(numberParamSchema, 'path', PARAMETER_DOCS);
  const security = [{ [ADMIN_SECURITY]: [] }];
  const produces = ['application/json', 'application/problem+json'];
  const notFound = {
    description: 'The number is not on the suppression list.',
    schema: ref('Problem'),
  };
  return {
    '/optouts': {
      get: {
        operationId: 'ListOptouts',
        summary: 'List opted-out numbers',
        description:
          'Suppressed numbers in canonical order, a page at a time; format=csv streams all of them as CSV.',
        security,
        produces: [...produces, 'text/csv'],
        parameters: parameters(listQuerySchema, 'query', PARAMETER_DOCS),
        responses: {
          200: {
            description: 'A page (JSON), or every suppressed number (CSV).',
            schema: ref('OptOutPage'),
          },
          ...errors(400, 401, 503),
        },
      },
    },
    '/optouts/{number}': {
      get: {
        operationId: 'GetOptout',
        summary: 'Look up a number',
        description: `Whether the number is suppressed, since when, and its newest ${TRAIL_PAGE_SIZE} changes, oldest first; older ones a page at a time with trailContinuationToken.`,
        security,
        produces,
        parameters: [...numberParameter, ...parameters(lookUpQuerySchema, 'query', PARAMETER_DOCS)],
        responses: {
          200: {
            description: 'The number (suppressed false and an empty trail when never seen).',
            schema: ref('OptOutLookUp'),
          },
          ...errors(400, 401, 503),
        },
      },
      delete: {
        operationId: 'RemoveOptout',
        summary: 'Remove a number from the suppression list',
        description:
          'A reason is required (in the body, or the query string as reason=...); it is kept in the trail with who removed it: the user App Service authentication signed in when APP_SERVICE_AUTH_ENABLED, else "admin key", with a by the caller gave kept as claimedBy. Sendmode’s own opt-out list is not changed (its v2 API has no opt-in call).',
        security,
        consumes: ['application/json'],
        produces,
        parameters: [
          ...numberParameter,
          {
            name: 'body',
            in: 'body',
            required: false,
            description: 'Why, and by whom (or reason=... in the query string).',
            schema: ref('OptOutRemoval'),
          },
        ],
        responses: {
          200: {
            description: 'Removed: the app texts the number again.',
            schema: ref('OptOutRemoved'),
          },
          404: notFound,
          ...errors(400, 401, 413, 415, 503),
        },
      },
    },
  };
}
