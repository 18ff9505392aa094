/**
 * The inputs of the operator routes on the suppression list (`/api/optouts`, authLevel admin),
 * one zod schema per input: a route's `{number}`, the list's and the look-up's query strings, and
 * a removal's reason and name. They validate the requests (shared/opt-outs/opt-out-admin-request.ts
 * runs them) and are what the OpenAPI document shows of them (shared/http/openapi-admin.ts).
 * Each error names its field and never echoes the value.
 */
import * as z from 'zod';

import { decodeToken, decodeTrailToken } from '../opt-outs/continuation-tokens.js';
import { checkPhoneNumber, NOT_A_NUMBER_MESSAGE } from './phone-number.js';

export const DEFAULT_PAGE_SIZE = 100;
/** Table Storage returns at most 1,000 rows a page. */
export const MAX_PAGE_SIZE = 1_000;
export const MAX_REASON_LENGTH = 500;
export const MAX_BY_LENGTH = 100;

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const DATE_TIME =
  /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const NOT_OUR_TOKEN = 'is not a token this route gave out';
const PAGE_SIZE_MESSAGE = `must be a whole number from 1 to ${MAX_PAGE_SIZE}`;
const REASON_REQUIRED = 'is required: say why the number is removed';
const NO_CONTROL = 'must not contain control characters';

const noControl = (text: string): boolean => !CONTROL.test(text);

/** A token one of these routes gave out, as what it continues from (`decode`), or an issue. */
const token = (decode: (token: string) => string | undefined) =>
  z.string().transform((raw, ctx) => {
    const decoded = decode(raw);
    if (decoded !== undefined) return decoded;
    ctx.addIssue({ code: 'custom', message: NOT_OUR_TOKEN });
    return z.NEVER;
  });

/**
 * A route's `{number}`, by the phone-number rule of sends (shared/schemas/phone-number.ts): the
 * number to use, or an issue naming `number` (masked).
 */
export const numberParamSchema = z.object({
  number: z.string({ error: NOT_A_NUMBER_MESSAGE }).transform((raw, ctx) => {
    const checked = checkPhoneNumber(raw);
    if (checked.ok) return checked.number;
    ctx.addIssue({ code: 'custom', message: checked.message });
    return z.NEVER;
  }),
});

export interface ListQuery {
  /** Only numbers suppressed at or after this time (ms). */
  since?: number;
  /** Start after this canonical number (from the continuation token). */
  after?: string;
  pageSize: number;
  format: 'json' | 'csv';
}

/** `GET /api/optouts`'s query string: `since`, `continuationToken`, `pageSize` and `format`. */
export const listQuerySchema = z
  .object({
    since: z
      .string()
      .transform((raw, ctx) => {
        const text = raw.trim();
        const at = DATE_TIME.test(text) ? Date.parse(text) : NaN;
        if (Number.isFinite(at)) return at;
        ctx.addIssue({
          code: 'custom',
          message:
            'must be an ISO 8601 date (2026-01-31) or date-time with a time zone (2026-01-31T09:00:00Z)',
        });
        return z.NEVER;
      })
      .optional(),
    continuationToken: token(decodeToken).optional(),
    // Digits, read as the whole number they are; anything else is refused as it is.
    pageSize: z.preprocess(
      (raw) => (typeof raw === 'string' && /^\d{1,4}$/.test(raw.trim()) ? Number(raw.trim()) : raw),
      z
        .number({ error: PAGE_SIZE_MESSAGE })
        .int(PAGE_SIZE_MESSAGE)
        .min(1, PAGE_SIZE_MESSAGE)
        .max(MAX_PAGE_SIZE, PAGE_SIZE_MESSAGE)
        .default(DEFAULT_PAGE_SIZE),
    ),
    format: z.preprocess(
      (raw) => (typeof raw === 'string' ? raw.trim().toLowerCase() : raw),
      z.enum(['json', 'csv'], { error: 'must be json or csv' }).default('json'),
    ),
  })
  .transform(({ since, continuationToken, pageSize, format }): ListQuery => ({
    pageSize,
    format,
    ...(since !== undefined ? { since } : {}),
    ...(continuationToken !== undefined ? { after: continuationToken } : {}),
  }));

export interface LookUpQuery {
  /** Only trail entries older than this row key (from the trail continuation token). */
  trailOlderThan?: string;
}

/** `GET /api/optouts/{number}`'s query string: `trailContinuationToken`. */
export const lookUpQuerySchema = z
  .object({ trailContinuationToken: token(decodeTrailToken).optional() })
  .transform(({ trailContinuationToken }): LookUpQuery =>
    trailContinuationToken !== undefined ? { trailOlderThan: trailContinuationToken } : {},
  );

/**
 * Who removes a number, as a name: trimmed, at most MAX_BY_LENGTH characters, no control
 * characters; blank is no name (undefined). A removal's `by`, and the principal header.
 */
export const operatorNameSchema = z
  .string({ error: 'must be a string' })
  .trim()
  .max(MAX_BY_LENGTH, { error: `must be at most ${MAX_BY_LENGTH} characters`, abort: true })
  .refine(noControl, NO_CONTROL)
  .transform((name) => (name === '' ? undefined : name));

/** `DELETE /api/optouts/{number}`'s reason (required) and name (optional), trimmed. */
export const removalSchema = z.object({
  reason: z
    .string({
      error: (issue) => (issue.input === undefined ? REASON_REQUIRED : 'must be a string'),
    })
    .trim()
    .min(1, { error: REASON_REQUIRED, abort: true })
    .max(MAX_REASON_LENGTH, {
      error: `must be at most ${MAX_REASON_LENGTH} characters`,
      abort: true,
    })
    .refine(noControl, NO_CONTROL),
  by: operatorNameSchema.optional(),
});
