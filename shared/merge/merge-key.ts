/**
 * Which queued sends may share one Sendmode call: those that would make the same call apart
 * from their recipients, on the same Sendmode account. The key is a hash of everything else the
 * call carries, as the configured API generation will carry it (the default sender id applied),
 * so two sends that differ in text, sender id, schedule or `customerid` (a call carries one)
 * never merge.
 */
import { createHash } from 'node:crypto';

import type { SendSmsRequest } from '../sendmode/api.js';
import type { SendmodeApiVersion } from '../settings.js';

/** The Table Storage partition of the sends that may merge with `sms`. */
export function mergeKeyOf(
  sms: SendSmsRequest,
  version: SendmodeApiVersion,
  account: string,
): string {
  const parts = [
    account,
    version,
    sms.messagetext,
    sms.senderid ?? '',
    sms.scheduledate ?? '',
    sms.customerid ?? '',
  ];
  return `k${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40)}`;
}
