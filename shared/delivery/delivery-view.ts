/**
 * A send's delivery as `GET /api/sms/{id}` shows it, and the warning when sends go out and
 * nothing comes back delivered.
 */
import type { SendStatus } from '../outbox/send-status.js';
import type { DeliveryStore, RecipientDelivery, WatchFigures } from './delivery-store.js';
import { type DeliveryState, isFailed } from './report-format.js';

/** A recipient's status in the view: a report's state, or `unreported` once one is overdue. */
export type DeliveryStatus = DeliveryState | 'unreported';

export interface DeliveryView {
  summary: { delivered: number; failed: number; pending: number; unreported: number };
  recipients: { recipient: string; status: DeliveryStatus; statusText: string; at?: string }[];
}

/** Whether reports are expected (DELIVERY_REPORTS=on), and after how long a silence is overdue. */
export interface Expectation {
  expected: boolean;
  afterMs: number;
}

const STATUS_TEXT: Record<DeliveryStatus, string> = {
  pending: 'No delivery report yet.',
  dispatched: 'Sent on to the mobile network (DISPATCHED); not yet confirmed.',
  delivered: 'Delivered to the handset (DELIVRD).',
  expired: 'The handset did not confirm in the allotted time (EXPIRED).',
  undelivered: 'Cannot be delivered (UNDELIV).',
  rejected: 'Rejected by the provider (REJECTD).',
  'opted-out': "Blocked: the number is on Sendmode's opt-out list (OPTED OUT - BLOCKED).",
  unknown: 'A status this app does not know; see sendmodeStatus.',
  unreported:
    'No delivery report came in the time one was expected: see "Delivery reports" in the README.',
};

export function deliveryView(
  rows: RecipientDelivery[],
  expectation: Expectation,
  now: number,
): DeliveryView {
  const summary = { delivered: 0, failed: 0, pending: 0, unreported: 0 };
  const recipients = rows.map((row) => {
    const overdue =
      row.state === 'pending' && expectation.expected && now - row.sentAt > expectation.afterMs;
    const status: DeliveryStatus = overdue ? 'unreported' : row.state;
    if (status === 'delivered') summary.delivered++;
    else if (status === 'unreported') summary.unreported++;
    else if (isFailed(row.state)) summary.failed++;
    else summary.pending++;
    return {
      recipient: row.recipient,
      status,
      statusText: STATUS_TEXT[status],
      ...(row.sendmodeStatus ? { sendmodeStatus: row.sendmodeStatus } : {}),
      ...(row.reportedAt !== undefined ? { at: new Date(row.reportedAt).toISOString() } : {}),
    };
  });
  return { summary, recipients };
}

export interface DeliveryWarning {
  kind: 'unreported' | 'undelivered';
  message: string;
}

/** What silence from Sendmode usually means. */
const LIKELY_CAUSES =
  'Usually the sender id is not registered for the destination (carriers drop it), or the account is on the other API generation (see "Which Sendmode API?" in the README); also check that Sendmode\'s "Post Delivery Reports to URL" points at /api/delivery-reports with its code.';

/**
 * A warning when the latest sends old enough to be reported (a full set of them) have no report
 * at all, or reports but not one delivery; none while reports are not expected.
 */
export function deliveryWarning(
  figures: WatchFigures,
  watchCount: number,
  expected: boolean,
): DeliveryWarning | undefined {
  if (!expected || figures.watched < watchCount) return undefined;
  if (figures.reported === 0) {
    return {
      kind: 'unreported',
      message: `None of the last ${figures.watched} sends has any delivery report. ${LIKELY_CAUSES}`,
    };
  }
  if (figures.delivered === 0) {
    return {
      kind: 'undelivered',
      message: `Not one of the last ${figures.watched} sends was reported delivered. ${LIKELY_CAUSES}`,
    };
  }
  return undefined;
}

/**
 * The delivery of a send that Sendmode accepted (its status final with a 200 and a reference):
 * its recipients as sent, those skipped as opted out left out; undefined for any other send.
 */
export async function deliveryOfSend(
  status: SendStatus,
  store: Pick<DeliveryStore, 'deliveryOf'>,
  expectation: Expectation,
  now: number,
): Promise<DeliveryView | undefined> {
  if (status.answer?.status !== 200 || !status.reference) return undefined;
  const rows = await store.deliveryOf(status.reference, status.id);
  const skipped = new Set(skippedIn(status.answer.body));
  return deliveryView(
    rows.filter((row) => !skipped.has(row.recipient)),
    expectation,
    now,
  );
}

function skippedIn(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { skippedRecipients?: { recipient?: unknown }[] };
    return (parsed.skippedRecipients ?? []).flatMap((s) =>
      typeof s.recipient === 'string' ? [s.recipient] : [],
    );
  } catch {
    return [];
  }
}
