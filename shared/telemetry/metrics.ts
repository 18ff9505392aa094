/**
 * The app's metrics, as OpenTelemetry instruments on the global meter. Instruments are made on
 * first use, through `@opentelemetry/api` only: with no meter provider registered they record
 * nothing and cost nothing; the process that registers one (an exporter to Application Insights,
 * a test's reader) gets every figure. Names and attributes are a contract (README, "Metrics").
 */
import { type Counter, metrics } from '@opentelemetry/api';
import type { DeliveryState } from '../delivery/report-format.js';

const METER = 'sendmode-connector';

let smsDelivery: Counter | undefined;

/** `sms.delivery`: recipients whose delivery status a report moved, by the status reached. */
export function countDelivery(status: DeliveryState): void {
  smsDelivery ??= metrics.getMeter(METER).createCounter('sms.delivery', {
    description: 'Recipients whose delivery status a Sendmode report moved, by the status reached.',
    unit: '{recipient}',
  });
  smsDelivery.add(1, { status });
}

/** Forgets the instruments, so the next use takes them from the meter provider now registered (tests). */
export function resetMetrics(): void {
  smsDelivery = undefined;
}
