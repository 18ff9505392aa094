/**
 * Sending one message from the send queue, with its status kept along the way:
 *
 * - a send whose status is final already (a duplicate drop of the same id, a redelivery after
 *   the status was written) is not sent again;
 * - a send another delivery is calling Sendmode for right now waits until that claim is stale;
 * - with v3, which has no scheduling call, a send with `scheduledate` is held on the queue until
 *   its time (visibility delays top out at 7 days: each hold is at most that, and re-checked);
 * - otherwise it is sent as background work in the sends lane, the opt-out list read again once
 *   the slot is granted, and marked `sending` right before the call.
 *
 * How a failure ends (retried, deferred, parked) is the queue's common rule (queue-work.ts); the
 * status records it (`settleStatus`). At least once: Sendmode takes no idempotency key, so a send
 * whose call timed out after reaching Sendmode, or whose instance died between Sendmode's answer
 * and the status write, is sent again once its claim is stale.
 */
import { type DeliveryStore, planCall } from '../delivery/delivery-store.js';
import { UnprocessableError } from '../errors.js';
import { problemResponse } from '../http/problem.js';
import type { Logger } from '../logger.js';
import { type MergeDeps, startMerge } from '../merge/merged-send.js';
import type { SuppressionList } from '../opt-outs/suppression.js';
import { type BackgroundSlot, type Disposition, NotYetError } from '../queues/queue-work.js';
import type { SendRules } from '../sendmode/api-version.js';
import type { Sendmode } from '../sendmode/sendmode.js';
import { sendSmsRespectingOptOuts } from '../sendmode/sms-sender.js';
import type { Settings } from '../settings.js';
import type { OutboxMessage } from './outbox-message.js';
import {
  answerOf,
  type SendStatus,
  type SendStatusStore,
  type StoredStatus,
} from './send-status.js';

/** The longest a queue message can stay invisible, less a second. */
export const MAX_HOLD_SECONDS = 7 * 86_400 - 1;
/** A held send comes back this close to its time, then waits for its slot like any other. */
const HOLD_LEAD_MS = 1_000;

export interface OutboxDeps {
  statuses: SendStatusStore;
  sendmode: Sendmode;
  suppression: SuppressionList;
  rules: SendRules;
  log: Logger;
  /** How long a `sending` claim may last before it is taken to be abandoned (ms). */
  claimStaleMs: number;
  /** Where each call's delivery reports are kept (shared/delivery/); unset, none are matched. */
  deliveries?: DeliveryStore;
  /** With SEND_MERGE on: where sends wait to share a call, and how (shared/merge/). */
  merge?: Pick<MergeDeps, 'pending' | 'windowMs' | 'maxRecipients' | 'account'>;
  now?: () => number;
}

export type OutboxOutcome = 'sent' | 'all-opted-out' | 'already-final';

/**
 * The longest a live delivery can spend between its claim and the status write: the limiter's
 * in-process wait, and two Sendmode calls (a refused key is read again and retried once) at their
 * time-outs, plus a margin. A claim older than this belongs to an instance that died.
 */
export function sendClaimStaleMs(settings: Settings, slotWaitMs: number): number {
  const call =
    settings.SENDMODE_CONNECT_TIMEOUT_MS +
    settings.SENDMODE_HEADERS_TIMEOUT_MS +
    settings.SENDMODE_BODY_TIMEOUT_MS;
  return slotWaitMs + 2 * call + 10_000;
}

export async function sendFromOutbox(
  message: OutboxMessage,
  slot: BackgroundSlot,
  deps: OutboxDeps,
): Promise<OutboxOutcome> {
  const now = (deps.now ?? Date.now)();
  const due = heldUntil(message, deps.rules);
  const { scheduledate: _due, ...unscheduled } = message.sms;
  const sms = due === undefined ? message.sms : unscheduled;
  // Merging reads its key's lease while the status is read.
  const merge = deps.merge ? startMerge(message, sms, { ...deps, ...deps.merge }) : undefined;
  let stored = await statusOf(message.id, now, deps.statuses);
  const { status } = stored;
  if (status.state === 'sent' || status.state === 'failed') return 'already-final';
  if (status.state === 'sending' && (status.claimedAt ?? 0) + deps.claimStaleMs > now) {
    const waitMs = (status.claimedAt ?? now) + deps.claimStaleMs - now;
    throw new NotYetError(waitMs / 1000, 'Another delivery is sending it now.');
  }
  if (due !== undefined && due - HOLD_LEAD_MS > now) {
    if (status.state !== 'scheduled' || status.expectedAt !== due) {
      await deps.statuses.update(stored, { ...status, state: 'scheduled', expectedAt: due });
    }
    const seconds = Math.min(MAX_HOLD_SECONDS, Math.floor((due - HOLD_LEAD_MS - now) / 1000));
    throw new NotYetError(seconds, 'Held until its scheduledate.');
  }
  if (merge) return merge.send(stored, slot);
  const sends = [{ id: message.id, recipients: sms.recipients }];
  const delivery = deps.deliveries && {
    store: deps.deliveries,
    plan: planCall(sms.customerid, sends, message.id, deps.rules.version, now),
  };
  try {
    const answer = await sendSmsRespectingOptOuts(sms, {
      sendmode: deps.sendmode,
      suppression: deps.suppression,
      log: deps.log,
      maxWaitMs: slot.maxWaitMs,
      rules: deps.rules,
      slot: { ...slot, lane: 'sends' },
      ...(delivery ? { delivery } : {}),
      onSlot: async () => {
        const claimedAt = (deps.now ?? Date.now)();
        const claim = { ...stored.status, state: 'sending' as const, claimedAt };
        const claimed = await deps.statuses.update(stored, claim);
        if (!claimed) throw new NotYetError(1, 'Its status changed while it waited; look again.');
        stored = claimed;
      },
    });
    const finishedAt = (deps.now ?? Date.now)();
    const body = { ...answer, id: message.id, sentAt: new Date(finishedAt).toISOString() };
    await recordFinal(
      stored,
      { status: 200, body: JSON.stringify(body) },
      finishedAt,
      deps.statuses,
      delivery?.plan.reference,
    );
    return 'sent';
  } catch (error) {
    if (!(error instanceof UnprocessableError)) throw error;
    // Every recipient opted out while it waited: nothing was sent, and nothing is to retry.
    await recordFinal(stored, answerOf(problemResponse(error)), Date.now(), deps.statuses);
    return 'all-opted-out';
  }
}

/** The status a delivery continues from: the one stored, or a new one (a producer's drop). */
async function statusOf(id: string, now: number, statuses: SendStatusStore): Promise<StoredStatus> {
  const existing = await statuses.get(id);
  if (existing) return existing;
  const fields = { id, state: 'queued' as const, queuedAt: now, expectedAt: now };
  const created = await statuses.create(fields, now);
  if (created) return created;
  const raced = await statuses.get(id);
  if (!raced) throw new NotYetError(1, 'Its status was being written elsewhere; look again.');
  return raced;
}

/** The moment a v3 send must be held until (v2 passes `scheduledate` on to Sendmode). */
function heldUntil(message: OutboxMessage, rules: SendRules): number | undefined {
  if (rules.version !== 'v3' || message.sms.scheduledate === undefined) return undefined;
  return Date.parse(message.sms.scheduledate);
}

/** The final answer, conditioned on the status this delivery holds (a claim taken over stays the other's). */
async function recordFinal(
  stored: StoredStatus,
  answer: { status: number; body: string },
  finishedAt: number,
  statuses: SendStatusStore,
  reference?: string,
): Promise<void> {
  const state = answer.status < 400 ? 'sent' : 'failed';
  const { lastError: _lastError, ...rest } = stored.status;
  // Conditioned like every change: a stale claim taken over meanwhile keeps the newer story.
  await statuses.update(stored, {
    ...rest,
    state,
    answer,
    finishedAt,
    ...(reference !== undefined ? { reference } : {}),
  });
}

/**
 * Records how a failed delivery ends: parked (failed for good, with the answer a synchronous
 * send would have given), or back in the line (its new expected time, and why, for a retry).
 */
export async function settleStatus(
  id: string | undefined,
  disposition: Disposition,
  error: unknown,
  statuses: SendStatusStore,
  now = Date.now(),
): Promise<void> {
  // A held send's status was written when it was held; one another delivery sends is theirs.
  if (id === undefined || error instanceof NotYetError) return;
  const stored = await statusOf(id, now, statuses);
  const { claimedAt: _claimedAt, lastError: _lastError, ...status } = stored.status;
  if (status.state === 'sent' || status.state === 'failed') return;
  const next: SendStatus =
    disposition.action === 'poison'
      ? { ...status, state: 'failed', answer: answerOf(problemResponse(error)), finishedAt: now }
      : {
          ...status,
          state: 'queued',
          expectedAt: now + disposition.delaySeconds * 1000,
          ...(disposition.action === 'retry' ? { lastError: disposition.reason } : {}),
        };
  await statuses.update(stored, next);
}
