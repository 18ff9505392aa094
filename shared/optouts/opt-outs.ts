/**
 * Taking an opt-out: recorded in the suppression list first, then passed to Sendmode through
 * the limiter; what Sendmode cannot take now goes to the opt-out queue, which retries until it
 * is taken. A number Sendmode already took is never sent again.
 */
import { AppError, UpstreamRejectedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isOptOutKeyword, type OptOutInput } from '../schemas/opt-out.js';
import type { Sendmode } from '../sendmode/sendmode.js';
import type { OptOutRequest } from '../sendmode/client.js';
import type { SuppressionList } from './suppression.js';

export type OptOutOutcome = 'opted-out' | 'already-opted-out' | 'queued' | 'ignored';

export interface OptOutDeps {
  suppression: SuppressionList;
  sendmode: Sendmode;
  /** Puts the opt-out on the sync queue, to be retried until Sendmode takes it. */
  enqueueSync(request: OptOutRequest): Promise<unknown>;
  log: Logger;
}

/**
 * A webhook's opt-out. When the payload carries reply text, only an opt-out keyword counts;
 * anything else is 'ignored' and nothing is recorded.
 */
export async function takeOptOut(
  input: OptOutInput,
  deps: OptOutDeps & { keywords: readonly string[] },
): Promise<OptOutOutcome> {
  if (input.hasReplyText && !isOptOutKeyword(input.optoutresponse ?? '', deps.keywords)) {
    return 'ignored';
  }
  const { hasReplyText: _hasReplyText, ...request } = input;
  const { alreadySynced } = await deps.suppression.record(request);
  if (alreadySynced) return 'already-opted-out';
  try {
    await deps.sendmode.optOut(request, { log: deps.log, maxWaitMs: 0 });
  } catch (error) {
    const refusedKey = error instanceof UpstreamRejectedError && error.isAuthFailure;
    if (error instanceof AppError && error.permanent && !refusedKey) {
      if (error instanceof UpstreamRejectedError) {
        await deps.suppression.markRejected(request.mobilenumber, error.upstream);
      }
      throw error;
    }
    // The limit, 5xx, a time-out, the vault: the queue keeps trying until Sendmode takes it.
    await deps.enqueueSync(request);
    return 'queued';
  }
  await deps.suppression.markSynced(request.mobilenumber);
  return 'opted-out';
}

/** The queue's side: skip an opt-out already taken; otherwise pass it on. Failures throw for the queue to settle. */
export async function syncOptOut(
  request: OptOutRequest,
  deps: Omit<OptOutDeps, 'enqueueSync'>,
): Promise<Exclude<OptOutOutcome, 'queued' | 'ignored'>> {
  if (await deps.suppression.isSynced(request.mobilenumber)) return 'already-opted-out';
  try {
    await deps.sendmode.optOut(request, { log: deps.log, maxWaitMs: 0 });
  } catch (error) {
    if (error instanceof UpstreamRejectedError && error.permanent && !error.isAuthFailure) {
      await deps.suppression.markRejected(request.mobilenumber, error.upstream);
    }
    throw error;
  }
  await deps.suppression.markSynced(request.mobilenumber);
  return 'opted-out';
}
