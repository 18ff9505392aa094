/**
 * Sending an SMS: first made fit for the configured API generation (default sender id; for v3 a
 * sender id, international numbers, no scheduling), then recipients on the suppression list are
 * removed (and reported), so a number that opted out is never texted; when none remain, nothing
 * is sent and no limiter slot is used.
 */
import { prepareSend, type SendRules } from './api-version.js';
import { UnprocessableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { maskPhoneNumber } from '../phone.js';
import type { Sendmode } from './sendmode.js';
import type { SendSmsRequest, SendSmsResult } from './client.js';
import type { SuppressionList } from '../optouts/suppression.js';

export interface SkippedRecipient {
  recipient: string;
  reason: 'opted-out';
}

export type SendSmsAnswer = SendSmsResult & { skippedRecipients?: SkippedRecipient[] };

export interface SmsSenderDeps {
  sendmode: Sendmode;
  suppression: SuppressionList;
  log: Logger;
  maxWaitMs: number;
  /** The API generation's rules for a send, and the defaults to apply. */
  rules: SendRules;
}

export async function sendSmsRespectingOptOuts(
  request: SendSmsRequest,
  deps: SmsSenderDeps,
): Promise<SendSmsAnswer> {
  const sms = prepareSend(request, deps.rules);
  const suppressed = await deps.suppression.suppressed(sms.recipients);
  const recipients = sms.recipients.filter((number) => !suppressed.has(number));
  if (recipients.length === 0) {
    throw new UnprocessableError(
      'Every recipient has opted out; nothing was sent.',
      sms.recipients.map((number, index) => ({
        field: `recipients/${index}`,
        message: `${maskPhoneNumber(number)} has opted out`,
      })),
    );
  }
  const result = await deps.sendmode.send(
    { ...sms, recipients },
    { log: deps.log, maxWaitMs: deps.maxWaitMs, workClass: 'interactive' },
  );
  if (suppressed.size === 0) return result;
  // The caller's own numbers, in a success answer that already echoes every recipient.
  const skippedRecipients = [...suppressed].map((recipient) => ({
    recipient,
    reason: 'opted-out' as const,
  }));
  return { ...result, skippedRecipients };
}
