/**
 * Taking an opt-out: recorded in the suppression list first, then passed to Sendmode through
 * the limiter; what Sendmode cannot take now goes to the opt-out queue, which retries until it
 * is taken. A number Sendmode already took is never sent again. A reply with an opt-in keyword
 * takes the number off the list here; Sendmode's own list is left as it is, because its v2 API
 * has no call to opt a number back in.
 */
import { AppError, NotOfferedError, UpstreamRejectedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BackgroundSlot } from '../queues/queue-work.js';
import type { OptOutInput } from '../schemas/opt-out.js';
import { matchKeyword } from '../schemas/opt-out-keywords.js';
import type { OptOutRequest } from '../sendmode/api.js';
import { notOffered, offers } from '../sendmode/api-version.js';
import type { Sendmode } from '../sendmode/sendmode.js';
import type { SendmodeApiVersion } from '../settings.js';
import { type DeliveryEvent, orderedAt } from './event-order.js';
import type { SuppressionList } from './suppression.js';

export type OptOutOutcome =
  'opted-out' | 'already-opted-out' | 'queued' | 'ignored' | 'opted-in' | 'superseded';

/** What the opt-in answer says about Sendmode's own list. */
export const SENDMODE_OPT_IN_NOTE =
  "Sendmode's v2 API has no call to opt a number back in: if Sendmode's own opt-out list holds this number, remove it there (in Sendmode's web app) or Sendmode will still not deliver to it.";

export interface OptOutDeps {
  suppression: SuppressionList;
  sendmode: Sendmode;
  /** Puts the opt-out on the sync queue, to be retried until Sendmode takes it. */
  enqueueSync(request: OptOutRequest): Promise<unknown>;
  log: Logger;
}

/**
 * A webhook's opt-out or opt-in. When the payload carries reply text, only a keyword counts:
 * an opt-out keyword first (so a word on both lists opts out), then an opt-in keyword; anything
 * else is 'ignored' and nothing is recorded. 'superseded': a later change for the number was
 * already recorded, so this one changed nothing (it is in the trail all the same).
 */
export async function takeOptOut(
  input: OptOutInput,
  deps: OptOutDeps & {
    keywords: readonly string[];
    optInKeywords: readonly string[];
    event: DeliveryEvent;
  },
): Promise<OptOutOutcome> {
  const reply = input.optoutresponse ?? '';
  const outKeyword = input.hasReplyText ? matchKeyword(reply, deps.keywords) : undefined;
  const inKeyword =
    input.hasReplyText && !outKeyword ? matchKeyword(reply, deps.optInKeywords) : undefined;
  if (input.hasReplyText && !outKeyword && !inKeyword) return 'ignored';

  const { hasReplyText: _hasReplyText, ...request } = input;
  const change = {
    number: request.mobilenumber,
    source: deps.event.webhookId ? ('webhook' as const) : ('api' as const),
    ...(deps.event.webhookId ? { webhookId: deps.event.webhookId } : {}),
  };
  if (inKeyword) {
    const result = await deps.suppression.apply({
      ...change,
      action: 'opt-in',
      eventAt: orderedAt(deps.event, 'opt-in'),
      keyword: inKeyword,
    });
    return result.applied ? 'opted-in' : 'superseded';
  }
  const result = await deps.suppression.apply({
    ...change,
    action: 'opt-out',
    eventAt: orderedAt(deps.event, 'opt-out'),
    ...(outKeyword ? { keyword: outKeyword } : {}),
    ...(request.optoutresponse ? { optoutresponse: request.optoutresponse } : {}),
    ...(request.returnedresponse ? { returnedresponse: request.returnedresponse } : {}),
  });
  if (!result.applied) return 'superseded';
  if (result.synced) return 'already-opted-out';
  try {
    // The webhook's sender waits for the answer: interactive, but no waiting for a slot.
    await deps.sendmode.optOut(request, { log: deps.log, maxWaitMs: 0, workClass: 'interactive' });
  } catch (error) {
    // The configured API generation has no opt-out call (v3): the app's own list is the record.
    if (error instanceof NotOfferedError) return 'opted-out';
    const refusedKey = error instanceof UpstreamRejectedError && error.isAuthFailure;
    if (error instanceof AppError && error.permanent && !refusedKey) {
      if (error instanceof UpstreamRejectedError) {
        await deps.suppression.markRejected(request.mobilenumber, result.since, error.upstream);
      }
      throw error;
    }
    // The limit, 5xx, a time-out, the vault: the queue keeps trying until Sendmode takes it.
    await deps.enqueueSync(request);
    return 'queued';
  }
  await deps.suppression.markSynced(request.mobilenumber, result.since);
  return 'opted-out';
}

/**
 * The queue's side: skip an opt-out already taken, or one the number has since taken back (an
 * opt-in or a removal); otherwise pass it on. Failures throw for the queue to settle.
 */
export async function syncOptOut(
  request: OptOutRequest,
  deps: Omit<OptOutDeps, 'enqueueSync'>,
  slot: BackgroundSlot,
): Promise<'opted-out' | 'already-opted-out' | 'superseded'> {
  const { need, since } = await deps.suppression.syncNeeded(request.mobilenumber);
  if (need === 'synced') return 'already-opted-out';
  if (need === 'not-suppressed') return 'superseded';
  try {
    await deps.sendmode.optOut(request, { log: deps.log, ...slot });
  } catch (error) {
    if (error instanceof UpstreamRejectedError && error.permanent && !error.isAuthFailure) {
      await deps.suppression.markRejected(request.mobilenumber, since, error.upstream);
    }
    throw error;
  }
  await deps.suppression.markSynced(request.mobilenumber, since);
  return 'opted-out';
}

/**
 * The webhook's answer body: the outcome, and for an opt-in what it did not change. With an API
 * generation that has no opt-out call (v3), an opt-out is recorded here only, and says so.
 */
export function optOutAnswer(
  outcome: OptOutOutcome,
  apiVersion: SendmodeApiVersion = 'v2',
): Record<string, unknown> {
  if (outcome === 'opted-out' && !offers(apiVersion, 'optout')) {
    return {
      status: outcome,
      sendmodeOptOutList: 'not-offered',
      note: notOffered(apiVersion, 'optout').message,
    };
  }
  if (outcome !== 'opted-in') return { status: outcome };
  return { status: outcome, sendmodeOptOutList: 'unchanged', note: SENDMODE_OPT_IN_NOTE };
}
