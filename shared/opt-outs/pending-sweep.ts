/**
 * No opt-out is left pending for ever. An opt-out is written to the suppression list before
 * anything else; if what follows fails (the trail, the call to Sendmode, the queue) and the
 * webhook's sender never retries, nothing else would pass it on to Sendmode. So a timer sweeps
 * the list for opt-outs still pending after `PENDING_AGE_MS` and queues their sync, at most once
 * per `RESWEEP_MS` each (the sync queue retries from there; a sync queued twice is skipped once
 * Sendmode has it).
 */
import type { OptOutRequest } from '../sendmode/api.js';
import type { SuppressionList } from './suppression.js';

/** Longer than any delivery takes to pass its opt-out on or queue it. */
export const PENDING_AGE_MS = 5 * 60_000;
/** Longer than the sync queue's retries of one message take to settle, mostly. */
export const RESWEEP_MS = 60 * 60_000;

export interface SweepDeps {
  suppression: SuppressionList;
  enqueueSync(request: OptOutRequest): Promise<unknown>;
}

/** Queues the sync of every stale pending opt-out; returns how many were queued. */
export async function sweepPendingOptOuts(deps: SweepDeps, now: number): Promise<number> {
  let queued = 0;
  for await (const pending of deps.suppression.stalePending(
    now - PENDING_AGE_MS,
    now - RESWEEP_MS,
  )) {
    // Queued first, then noted: a failure in between queues it twice, never not at all.
    await deps.enqueueSync(pending.request);
    await deps.suppression.markSwept(pending, now);
    queued += 1;
  }
  return queued;
}
