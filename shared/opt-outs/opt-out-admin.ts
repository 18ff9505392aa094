/**
 * The operator's view of the suppression list (admin routes): look a number up with its trail,
 * list the suppressed numbers a page at a time, and remove a number with a reason (the CSV
 * export is opt-out-export.ts; reading the routes' inputs, opt-out-admin-request.ts). Numbers
 * are matched in canonical form, as everywhere else. Nothing here returns message text (the
 * reply or the response sent back) or the API key: only numbers, times, states, keywords and the
 * operator's reasons.
 */
import { type ListQuery, type LookUpQuery, MAX_PAGE_SIZE } from '../schemas/opt-out-admin.js';
import type { TrailEntry } from './audit-trail.js';
import { encodeToken, encodeTrailToken } from './continuation-tokens.js';
import { SENDMODE_OPT_IN_NOTE } from './opt-outs.js';
import type { SuppressionEntry, SuppressionList } from './suppression.js';

/** Trail entries in one look-up answer: the newest; older ones follow `trailContinuationToken`. */
export const TRAIL_PAGE_SIZE = 50;

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

/**
 * The exact check behind `since` (and suppressed): the storage query already left out rows whose
 * state began before `since` (see `SuppressionList.entries`); this drops the few others it may
 * return and the numbers that opted back in.
 */
export const listed = (entry: SuppressionEntry, query: ListQuery): boolean =>
  entry.suppressed &&
  (query.since === undefined ||
    (entry.since !== undefined && Date.parse(entry.since) >= query.since));

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

export interface Removal {
  reason: string;
  /** Who, as far as the app can tell: App Service authentication's user, else `admin key`. */
  by: string;
  /** Who the caller said it was (its `by`, or a principal header nothing vouches for). */
  claimedBy?: string;
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
