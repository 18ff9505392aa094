/**
 * The operator's view of the suppression list (admin routes): look a number up with its trail,
 * list the suppressed numbers a page at a time, export them as CSV (read from storage a page at a
 * time as the stream is pulled, never built whole), and remove a number with a reason. Numbers
 * are matched in canonical form, as everywhere else. Nothing here returns message text (the
 * reply or the response sent back) or the API key: only numbers, times, states, keywords and the
 * operator's reasons.
 */
import type { HttpRequest } from '@azure/functions';
import { csvField } from '../csv-safe.js';
import { type FieldError, ValidationError } from '../errors.js';
import { isJsonType, mediaType, parseJson, readBodyBytes } from '../http/http.js';
import { checkPhoneNumber } from '../schemas/phone-number.js';
import { TRAIL_ROW_KEY, type TrailEntry } from './audit-trail.js';
import { SENDMODE_OPT_IN_NOTE } from './opt-outs.js';
import type { SuppressionEntry, SuppressionList } from './suppression.js';

export const DEFAULT_PAGE_SIZE = 100;
/** Table Storage returns at most 1,000 rows a page. */
export const MAX_PAGE_SIZE = 1_000;
export const MAX_REASON_LENGTH = 500;
export const MAX_BY_LENGTH = 100;
/** Rows read from storage per pull of the CSV stream when no pageSize is given. */
const CSV_SCAN_PAGE = 1_000;
/** Trail entries in one look-up answer: the newest; older ones follow `trailContinuationToken`. */
export const TRAIL_PAGE_SIZE = 50;

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const DATE_TIME =
  /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const TOKEN_PREFIX = 'after:';
const TRAIL_TOKEN_PREFIX = 'trail:';

export interface ListQuery {
  /** Only numbers suppressed at or after this time (ms). */
  since?: number;
  /** Start after this canonical number (from the continuation token). */
  after?: string;
  pageSize: number;
  format: 'json' | 'csv';
}

/**
 * A route's `{number}`: by the phone-number rule of sends (shared/schemas/phone-number.ts);
 * 400 naming `number` otherwise (masked).
 */
export function parseNumberParam(raw: string | undefined): string {
  const checked = checkPhoneNumber(raw);
  if (!checked.ok) throw new ValidationError([{ field: 'number', message: checked.message }]);
  return checked.number;
}

/** `since`, `continuationToken`, `pageSize` and `format` from the query string; 400 naming each bad one. */
export function parseListQuery(query: URLSearchParams): ListQuery {
  const errors: FieldError[] = [];
  const result: ListQuery = { pageSize: DEFAULT_PAGE_SIZE, format: 'json' };

  const since = query.get('since');
  if (since !== null) {
    const at = DATE_TIME.test(since.trim()) ? Date.parse(since.trim()) : NaN;
    if (Number.isFinite(at)) result.since = at;
    else
      errors.push({
        field: 'since',
        message:
          'must be an ISO 8601 date (2026-01-31) or date-time with a time zone (2026-01-31T09:00:00Z)',
      });
  }

  const token = query.get('continuationToken');
  if (token !== null) {
    const after = decodeToken(token);
    if (after !== undefined) result.after = after;
    else errors.push({ field: 'continuationToken', message: 'is not a token this route gave out' });
  }

  const pageSize = query.get('pageSize');
  if (pageSize !== null) {
    const size = /^\d{1,4}$/.test(pageSize.trim()) ? Number(pageSize.trim()) : NaN;
    if (size >= 1 && size <= MAX_PAGE_SIZE) result.pageSize = size;
    else
      errors.push({
        field: 'pageSize',
        message: `must be a whole number from 1 to ${MAX_PAGE_SIZE}`,
      });
  }

  const format = query.get('format');
  if (format !== null) {
    const lower = format.trim().toLowerCase();
    if (lower === 'json' || lower === 'csv') result.format = lower;
    else errors.push({ field: 'format', message: 'must be json or csv' });
  }

  if (errors.length > 0) throw new ValidationError(errors);
  return result;
}

function encodeToken(after: string): string {
  return Buffer.from(`${TOKEN_PREFIX}${after}`, 'utf8').toString('base64url');
}

function decodeToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(token)) return undefined;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TOKEN_PREFIX)) return undefined;
  const after = text.slice(TOKEN_PREFIX.length);
  return /^\d{1,20}$/.test(after) ? after : undefined;
}

/**
 * The exact check behind `since` (and suppressed): the storage query already left out rows whose
 * state began before `since` (see `SuppressionList.entries`); this drops the few others it may
 * return and the numbers that opted back in.
 */
const listed = (entry: SuppressionEntry, query: ListQuery): boolean =>
  entry.suppressed &&
  (query.since === undefined ||
    (entry.since !== undefined && Date.parse(entry.since) >= query.since));

export interface LookUpQuery {
  /** Only trail entries older than this row key (from the trail continuation token). */
  trailOlderThan?: string;
}

/** `trailContinuationToken` from the query string; 400 naming it when it is not one we gave out. */
export function parseLookUpQuery(query: URLSearchParams): LookUpQuery {
  const token = query.get('trailContinuationToken');
  if (token === null) return {};
  const olderThan = decodeTrailToken(token);
  if (olderThan === undefined) {
    throw new ValidationError([
      { field: 'trailContinuationToken', message: 'is not a token this route gave out' },
    ]);
  }
  return { trailOlderThan: olderThan };
}

function encodeTrailToken(olderThan: string): string {
  return Buffer.from(`${TRAIL_TOKEN_PREFIX}${olderThan}`, 'utf8').toString('base64url');
}

function decodeTrailToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(token)) return undefined;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TRAIL_TOKEN_PREFIX)) return undefined;
  const olderThan = text.slice(TRAIL_TOKEN_PREFIX.length);
  return TRAIL_ROW_KEY.test(olderThan) ? olderThan : undefined;
}

export interface LookUpAnswer {
  number: string;
  suppressed: boolean;
  since?: string;
  firstOptedOutAt?: string;
  sendmodeSync?: string;
  /** The newest `TRAIL_PAGE_SIZE` changes (older than the token's, when one was given), oldest first. */
  trail: TrailEntry[];
  /** Present when older changes follow: pass it back as `trailContinuationToken`. */
  trailContinuationToken?: string;
}

/**
 * One number: whether it is suppressed, since when, and its newest changes (at most
 * `TRAIL_PAGE_SIZE`, oldest first; the older ones a page at a time with the continuation token).
 */
export async function lookUp(
  list: SuppressionList,
  number: string,
  query: LookUpQuery = {},
): Promise<LookUpAnswer> {
  const [entry, page] = await Promise.all([
    list.entry(number),
    list.history(number, {
      limit: TRAIL_PAGE_SIZE,
      ...(query.trailOlderThan !== undefined ? { olderThan: query.trailOlderThan } : {}),
    }),
  ]);
  const trail = {
    trail: page.entries,
    ...(page.olderThan !== undefined
      ? { trailContinuationToken: encodeTrailToken(page.olderThan) }
      : {}),
  };
  if (!entry) return { number: list.key(number), suppressed: false, ...trail };
  const { lastChange: _lastChange, ...rest } = entry;
  return { ...rest, ...trail };
}

export interface ListPage {
  items: SuppressionEntry[];
  /** Present when more may follow: pass it back as `continuationToken`. */
  continuationToken?: string;
}

/** One page of suppressed numbers, in canonical-number order. */
export async function listPage(list: SuppressionList, query: ListQuery): Promise<ListPage> {
  const items: SuppressionEntry[] = [];
  let more = false;
  for await (const entry of list.entries(
    query.after,
    Math.min(query.pageSize + 1, MAX_PAGE_SIZE),
    query.since,
  )) {
    if (!listed(entry, query)) continue;
    if (items.length === query.pageSize) {
      more = true;
      break;
    }
    items.push(entry);
  }
  const last = items.at(-1);
  return { items, ...(more && last ? { continuationToken: encodeToken(last.number) } : {}) };
}

export const CSV_COLUMNS = [
  'number',
  'suppressedSince',
  'firstOptedOutAt',
  'sendmodeSync',
  'lastSource',
  'lastKeyword',
  'lastWebhookId',
] as const;

// Shared with the import's rejects file; still exported from here for existing callers.
export { csvField };

function csvRow(entry: SuppressionEntry): string {
  const fields = [
    entry.number,
    entry.since,
    entry.firstOptedOutAt,
    entry.sendmodeSync,
    entry.lastChange?.source,
    entry.lastChange?.keyword,
    entry.lastChange?.webhookId,
  ];
  return `${fields.map(csvField).join(',')}\r\n`;
}

/**
 * The suppressed numbers as CSV (RFC 4180, CRLF), a stream that reads one page from storage per
 * pull. The first page is read before returning, so storage being down is a 503, not a broken
 * download; a failure later errors the stream.
 */
export async function csvExport(
  list: SuppressionList,
  query: ListQuery,
): Promise<ReadableStream<Uint8Array>> {
  const scanPage = query.pageSize === DEFAULT_PAGE_SIZE ? CSV_SCAN_PAGE : query.pageSize;
  const iterator = list.entries(query.after, scanPage, query.since)[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  let first: IteratorResult<SuppressionEntry> | undefined = await iterator.next();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`${CSV_COLUMNS.join(',')}\r\n`));
    },
    async pull(controller) {
      let chunk = '';
      for (let rows = 0; rows < scanPage; rows++) {
        const next = first ?? (await iterator.next());
        first = undefined;
        if (next.done) {
          if (chunk) controller.enqueue(encoder.encode(chunk));
          controller.close();
          return;
        }
        if (listed(next.value, query)) chunk += csvRow(next.value);
      }
      if (chunk) controller.enqueue(encoder.encode(chunk));
    },
    async cancel() {
      await iterator.return?.(undefined);
    },
  });
}

export interface Removal {
  reason: string;
  /** Who, as far as the app can tell: App Service authentication's user, else `admin key`. */
  by: string;
  /** Who the caller said it was (its `by`, or a principal header nothing vouches for). */
  claimedBy?: string;
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
 * (body wins). The trail's `by` is the user App Service authentication names when it is enabled
 * (`trustPrincipalHeader`) and names one, else "admin key"; a name the caller gave (`by`, or the
 * principal header when not trusted) is kept as `claimedBy`, a claim. 400 naming each bad field;
 * values are never echoed.
 */
export async function readRemoval(request: HttpRequest, options: RemovalOptions): Promise<Removal> {
  const fields: Record<string, unknown> = {
    reason: request.query.get('reason') ?? undefined,
    by: request.query.get('by') ?? undefined,
  };
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
      if (Object.hasOwn(record, name) && record[name] !== undefined) fields[name] = record[name];
    }
  }

  const errors: FieldError[] = [];
  const text = (name: 'reason' | 'by', max: number, required: boolean): string | undefined => {
    const value = fields[name];
    if (
      value === undefined ||
      value === null ||
      (typeof value === 'string' && value.trim() === '')
    ) {
      if (required)
        errors.push({ field: name, message: 'is required: say why the number is removed' });
      return undefined;
    }
    if (typeof value !== 'string') errors.push({ field: name, message: 'must be a string' });
    else if (value.trim().length > max)
      errors.push({ field: name, message: `must be at most ${max} characters` });
    else if (CONTROL.test(value.trim()))
      errors.push({ field: name, message: 'must not contain control characters' });
    else return value.trim();
    return undefined;
  };
  const reason = text('reason', MAX_REASON_LENGTH, true);
  const by = text('by', MAX_BY_LENGTH, false);
  if (errors.length > 0 || reason === undefined) throw new ValidationError(errors);
  const header = request.headers.get(PRINCIPAL_HEADER)?.trim();
  const principal =
    header && header.length <= MAX_BY_LENGTH && !CONTROL.test(header) ? header : undefined;
  const verified = options.trustPrincipalHeader ? principal : undefined;
  const claimed = by ?? (verified === undefined ? principal : undefined);
  return {
    reason,
    by: verified ?? DEFAULT_BY,
    ...(claimed !== undefined && claimed !== verified ? { claimedBy: claimed } : {}),
  };
}

/** Takes a suppressed number off the list (404 when it is not on it), recording who and why. */
export async function removeFromList(
  list: SuppressionList,
  number: string,
  removal: Removal,
): Promise<Record<string, unknown>> {
  await list.apply(
    {
      number,
      action: 'removal',
      source: 'manual',
      eventAt: Date.now(),
      reason: removal.reason,
      by: removal.by,
      ...(removal.claimedBy !== undefined ? { claimedBy: removal.claimedBy } : {}),
    },
    { mustBeSuppressed: true },
  );
  return {
    status: 'removed',
    number: list.key(number),
    sendmodeOptOutList: 'unchanged',
    note: SENDMODE_OPT_IN_NOTE,
  };
}
