/**
 * The inputs of the operator routes, read from the request and validated by their schemas
 * (shared/schemas/opt-out-admin.ts): 400 naming each bad field, values never echoed.
 */
import type { HttpRequest } from '@azure/functions';

import { ValidationError } from '../errors.js';
import { isJsonType, mediaType, parseJson, readBodyBytes } from '../http/http.js';
import {
  type ListQuery,
  listQuerySchema,
  type LookUpQuery,
  lookUpQuerySchema,
  numberParamSchema,
  operatorNameSchema,
  removalSchema,
} from '../schemas/opt-out-admin.js';
import { validate } from '../schemas/validate.js';
import type { Removal } from './opt-out-admin.js';

/** The named fields of the query string, each its first value (as URLSearchParams.get gives). */
function queryFields(query: URLSearchParams, names: string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((name) => [name, query.get(name) ?? undefined]));
}

/**
 * A route's `{number}`: by the phone-number rule of sends (shared/schemas/phone-number.ts);
 * 400 naming `number` otherwise (masked).
 */
export function parseNumberParam(raw: string | undefined): string {
  return validate(numberParamSchema, { number: raw }).number;
}

/** `since`, `continuationToken`, `pageSize` and `format` from the query string; 400 naming each bad one. */
export function parseListQuery(query: URLSearchParams): ListQuery {
  return validate(listQuerySchema, queryFields(query, Object.keys(listQuerySchema.in.shape)));
}

/** `trailContinuationToken` from the query string; 400 naming it when it is not one we gave out. */
export function parseLookUpQuery(query: URLSearchParams): LookUpQuery {
  return validate(lookUpQuerySchema, queryFields(query, Object.keys(lookUpQuerySchema.in.shape)));
}

/**
 * The user App Service authentication signed in. The platform sets it (and drops any a caller
 * sent) only when authentication is enabled on the app, so it is believed only then
 * (`APP_SERVICE_AUTH_ENABLED`); otherwise anyone holding the key could write any name in it.
 */
const PRINCIPAL_HEADER = 'x-ms-client-principal-name';
const DEFAULT_BY = 'admin key';

export interface RemovalOptions {
  /** `APP_SERVICE_AUTH_ENABLED`: the principal header is the platform's, not the caller's. */
  trustPrincipalHeader: boolean;
}

/**
 * `reason` (required) and `by` (optional) for a removal, from the query string or a JSON body
 * (body wins; a null there is no value). The trail's `by` is the user App Service authentication
 * names when it is enabled (`trustPrincipalHeader`) and names one, else "admin key"; a name the
 * caller gave (`by`, or the principal header when not trusted) is kept as `claimedBy`, a claim.
 * 400 naming each bad field; values are never echoed.
 */
export async function readRemoval(request: HttpRequest, options: RemovalOptions): Promise<Removal> {
  const fields = queryFields(request.query, ['reason', 'by']) as Record<string, unknown>;
  const raw = await readBodyBytes(request);
  if (raw.toString('utf8').trim() !== '') {
    if (!isJsonType(mediaType(request))) {
      throw new ValidationError([
        { field: 'body', message: 'must be JSON: { "reason": "...", "by": "..." }' },
      ]);
    }
    const body = parseJson(raw.toString('utf8'));
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
    }
    const record = body as Record<string, unknown>;
    for (const name of ['reason', 'by'] as const) {
      if (Object.hasOwn(record, name) && record[name] !== undefined) {
        fields[name] = record[name] ?? undefined;
      }
    }
  }

  const { reason, by } = validate(removalSchema, fields);
  const principal = operatorNameSchema.safeParse(request.headers.get(PRINCIPAL_HEADER)).data;
  const verified = options.trustPrincipalHeader ? principal : undefined;
  const claimed = by ?? (verified === undefined ? principal : undefined);
  return {
    reason,
    by: verified ?? DEFAULT_BY,
    ...(claimed !== undefined && claimed !== verified ? { claimedBy: claimed } : {}),
  };
}
