/**
 * Sending an SMS: first made fit for the configured API generation (default sender id; for v3 a
 * sender id, international numbers, no scheduling), then recipients on the suppression list are
 * removed (and reported), so a number that opted out is never texted; when none remain, nothing
 * is sent and no limiter slot is used. The list is read again once the limiter grants the slot,
 * since a recipient may opt out while the send waits for it. A send scheduled with Sendmode
 * (`scheduledate`) is Sendmode's from then on: a later opt-out cannot recall it. The answer says
 * what the text cost as sent (`sms`: encoding, parts, characters, look-alikes replaced).
 *
 * HTTP callers send as interactive work; the send queue as background work in the sends lane
 * (`slot`), and it records the send as being sent once the slot is granted (`onSlot`).
 */
import type { CallPlan, DeliveryStore } from '../delivery/delivery-store.js';
import { UnprocessableError } from '../errors.js';
import type { SlotRequest } from '../limit/admission-policy.js';
import type { Logger } from '../logger.js';
import type { SuppressionList } from '../opt-outs/suppression.js';
import { maskPhoneNumber } from '../phone.js';
import type { SendSmsRequest, SendSmsResult } from './api.js';
import { prepareSend, type SendRules } from './api-version.js';
import type { Sendmode } from './sendmode.js';
import { describeSms, type SmsReport } from './sms-text.js';

export interface SkippedRecipient {
  recipient: string;
  reason: 'opted-out';
}

/** Sendmode's answer, the recipients skipped, and what the text cost (encoding, parts). */
export type SendSmsAnswer = SendSmsResult & {
  skippedRecipients?: SkippedRecipient[];
  sms: SmsReport;
};

export interface SmsSenderDeps {
  sendmode: Sendmode;
  suppression: SuppressionList;
  log: Logger;
  maxWaitMs: number;
  /** The API generation's rules for a send, and the defaults to apply. */
  rules: SendRules;
  /** The limiter request; interactive when unset. */
  slot?: SlotRequest;
  /** Runs once the slot is granted and some recipient remains, right before the call. */
  onSlot?(): Promise<void>;
  /** Where this call's delivery reports will be looked for: written before the call. */
  delivery?: { store: DeliveryStore; plan: CallPlan };
}

export async function sendSmsRespectingOptOuts(
  request: SendSmsRequest,
  deps: SmsSenderDeps,
): Promise<SendSmsAnswer> {
  const prepared = prepareSend(request, deps.rules);
  // The call carries its reference, so its delivery reports can be matched to it.
  const sms = deps.delivery ? { ...prepared, customerid: deps.delivery.plan.reference } : prepared;
  // Written while the key is read and the slot awaited; the call waits for it (a report must
  // find its row). A send that never gets its call leaves rows no status points at: harmless.
  const expecting = deps.delivery?.store.expect(deps.delivery.plan, Date.now());
  expecting?.catch(() => undefined); // awaited before the call; a send refused earlier never reads it
  const suppressed = new Set<string>();
  /** The request without the recipients suppressed now; throws when none remain. */
  const withoutOptedOut = async (send: SendSmsRequest): Promise<SendSmsRequest> => {
    for (const number of await deps.suppression.suppressed(send.recipients)) suppressed.add(number);
    const recipients = send.recipients.filter((number) => !suppressed.has(number));
    if (recipients.length === 0) throw everyoneOptedOut(sms.recipients);
    return recipients.length === send.recipients.length ? send : { ...send, recipients };
  };
  const call = async () =>
    deps.sendmode.send(await withoutOptedOut(sms), {
      log: deps.log,
      maxWaitMs: deps.maxWaitMs,
      ...(deps.slot ?? { workClass: 'interactive' }),
      beforeCall: async (send) => {
        const [remaining] = await Promise.all([withoutOptedOut(send), expecting]);
        await deps.onSlot?.();
        return remaining;
      },
    });
  // No call made (everyone opted out, no slot) or none taken: not a send the warning counts.
  const result = await call().catch(async (error: unknown) => {
    if (deps.delivery) await takeBack(deps.delivery, expecting);
    throw error;
  });
  const report = describeSms(request.messagetext, deps.rules.smartEncoding === true);
  if (suppressed.size === 0) return { ...result, sms: report };
  // The caller's own numbers, in a success answer that already echoes every recipient.
  const skippedRecipients = [...suppressed].map((recipient) => ({
    recipient,
    reason: 'opted-out' as const,
  }));
  return { ...result, skippedRecipients, sms: report };
}

/** The 422 of a send none of whose recipients may be texted: each named by index, masked. */
export function everyoneOptedOut(recipients: string[]): UnprocessableError {
  return new UnprocessableError(
    'Every recipient has opted out; nothing was sent.',
    recipients.map((number, index) => ({
      field: `recipients/${index}`,
      message: `${maskPhoneNumber(number)} has opted out`,
    })),
  );
}

/** A call that failed is not a send the delivery warning should count. */
async function takeBack(
  delivery: { store: DeliveryStore; plan: CallPlan },
  expecting: Promise<void> | undefined,
): Promise<void> {
  await expecting?.catch(() => undefined);
  await delivery.store.callFailed(delivery.plan).catch(() => undefined);
}
