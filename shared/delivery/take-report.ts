/**
 * Taking one delivery report: stored against its send (or apart, when it matches none); a number
 * Sendmode reports as on its own opt-out list (`OPTED OUT - BLOCKED`) goes on the suppression
 * list too, so no call is spent on it again; a recipient's final status is published for flows
 * (at least once: see below).
 */
import { createHash } from 'node:crypto';

import type { SuppressionList } from '../opt-outs/suppression.js';
import type { EventData } from '../subscriptions/event-types.js';
import { countDelivery } from '../telemetry/metrics.js';
import type { DeliveryStore, RecordOutcome } from './delivery-store.js';
import { type DeliveryReport, isFinal } from './report-format.js';

/** `sms.delivery`'s data (shared/subscriptions/event-types.ts): one recipient's final status. */
export type DeliveryEventData = EventData<'sms.delivery'>;

/** The event's id: one per send, recipient and final status, however often it is published. */
export function deliveryEventId(data: DeliveryEventData): string {
  const key = `${data.id}\n${data.recipient}\n${data.status}`;
  return `evt_${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

export interface TakeReportDeps {
  deliveries: DeliveryStore;
  suppression: SuppressionList;
  /** Publishes a recipient's final status (the `sms.delivery` event). */
  publish?(data: DeliveryEventData): Promise<void>;
  now?: () => number;
}

export interface TakenReport {
  outcome: RecordOutcome;
  /** Whether the number was put on the suppression list now. */
  suppressed: boolean;
}

export async function takeReport(
  report: DeliveryReport,
  deps: TakeReportDeps,
): Promise<TakenReport> {
  const now = (deps.now ?? Date.now)();
  const [outcome, suppressed] = await Promise.all([
    deps.deliveries.record(report, now),
    report.state === 'opted-out' ? suppressBlocked(report.number, now, deps.suppression) : false,
  ]);
  if (outcome.matched && outcome.changed) countDelivery(outcome.state);
  // A duplicate of the final report publishes again: a publish that failed (the report was
  // answered 503 and sent again) is not lost. The event's id is stable, so subscribers see one.
  if (outcome.matched && isFinal(report.state) && outcome.state === report.state) {
    await deps.publish?.({
      id: outcome.sendId,
      recipient: outcome.recipient,
      status: outcome.state,
      at: new Date(now).toISOString(),
      ...(report.customerId ? { customerid: report.customerId } : {}),
    });
  }
  return { outcome, suppressed };
}

/** On Sendmode's list already: recorded here as taken there, so the opt-out queue leaves it. */
async function suppressBlocked(
  number: string,
  now: number,
  suppression: SuppressionList,
): Promise<boolean> {
  const result = await suppression.apply({
    number,
    action: 'opt-out',
    source: 'sendmode',
    eventAt: now,
    reason: 'Sendmode reported the number as on its opt-out list (OPTED OUT - BLOCKED).',
  });
  if (result.applied && !result.synced) await suppression.markSynced(number, result.since);
  return result.applied;
}
