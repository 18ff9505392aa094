/**
 * The app's metrics, as OpenTelemetry instruments on one meter. Instruments are made on first
 * use, through `@opentelemetry/api` only: with no meter provider registered they record nothing
 * and cost next to nothing; the process that registers one (the Application Insights exporter,
 * a test's reader) gets every figure. Names and attributes are a contract (docs/telemetry.md).
 * The same events feed this instance's per-minute history (the status page's hour).
 */
import { type Attributes, type Counter, metrics, type ObservableGauge } from '@opentelemetry/api';

import type { DeliveryState } from '../delivery/report-format.js';
import { countThisMinute } from '../history/minute-counts.js';
import type { WorkClass } from '../limit/admission-policy.js';
import type { SendmodeOperation } from '../sendmode/api-version.js';

export const METER_NAME = 'sendmode-connector';

/** How a Sendmode call ended: answered, refused, failed in transport or 5xx, or told to slow down. */
export type CallOutcome = 'ok' | 'rejected' | 'failed' | 'throttled';

interface Instruments {
  calls: Counter;
  waits: Counter;
  poisoned: Counter;
  recipients: Counter;
  parts: Counter;
  delivery: Counter;
  admitted: ObservableGauge;
}

let instruments: Instruments | undefined;
/** The window's admissions by class as the limiter last saw them, and when (the gauge reports these). */
let lastAdmitted: { byClass: Record<WorkClass, number>; at: number } | undefined;
/** A reading older than the limiter's window says nothing about the window now: not reported. */
const ADMITTED_FRESH_MS = 60_000;

function counter(name: string, description: string, unit: string): Counter {
  return metrics.getMeter(METER_NAME).createCounter(name, { description, unit });
}

function made(): Instruments {
  if (instruments) return instruments;
  const admitted = metrics.getMeter(METER_NAME).createObservableGauge('sendmode.limit.admitted', {
    description:
      "Calls admitted in the shared limit's current window, as the limiter last read it.",
    unit: '{call}',
  });
  admitted.addCallback((result) => {
    if (!lastAdmitted || Date.now() - lastAdmitted.at > ADMITTED_FRESH_MS) return;
    for (const [workClass, value] of Object.entries(lastAdmitted.byClass)) {
      result.observe(value, { class: workClass });
    }
  });
  instruments = {
    calls: counter(
      'sendmode.calls',
      'Calls made to Sendmode, by operation, class and outcome.',
      '{call}',
    ),
    waits: counter(
      'sendmode.limit.waits',
      'Work the shared limit held back: 429s answered to callers and queue messages deferred.',
      '{wait}',
    ),
    poisoned: counter('queue.poisoned', 'Queue messages parked in a poison queue.', '{message}'),
    recipients: counter('sms.recipients', 'Recipients of the SMS Sendmode took.', '{recipient}'),
    parts: counter(
      'sms.parts',
      'Message parts Sendmode took (parts per text × recipients).',
      '{part}',
    ),
    delivery: counter(
      'sms.delivery',
      'Recipients whose delivery status a Sendmode report moved, by the status reached.',
      '{recipient}',
    ),
    admitted,
  };
  return instruments;
}

/** `sendmode.calls`; `reason: 'key'` marks a call Sendmode refused for the API key. */
export function countSendmodeCall(
  operation: SendmodeOperation,
  workClass: WorkClass,
  outcome: CallOutcome,
  keyRefused = false,
): void {
  const attributes: Attributes = { operation, class: workClass, outcome };
  if (keyRefused) attributes.reason = 'key';
  made().calls.add(1, attributes);
  countThisMinute(workClass);
}

/** `sendmode.limit.waits`: `rejected` a 429 answered, `deferred` a queue message put back. */
export function countLimitWait(workClass: WorkClass, kind: 'rejected' | 'deferred'): void {
  made().waits.add(1, { class: workClass, kind });
  countThisMinute(kind === 'rejected' ? 'rateLimited' : 'deferred');
}

/** `queue.poisoned`, by the main queue's name. */
export function countPoisoned(queue: string): void {
  made().poisoned.add(1, { queue });
  countThisMinute('poisoned');
}

/** `sms.recipients` and `sms.parts` of one call Sendmode took. */
export function countSent(workClass: WorkClass, recipients: number, partsPerText: number): void {
  const { recipients: recipientCounter, parts } = made();
  recipientCounter.add(recipients, { class: workClass });
  parts.add(recipients * partsPerText, { class: workClass });
}

/** `sms.delivery`: recipients whose delivery status a report moved, by the status reached. */
export function countDelivery(status: DeliveryState): void {
  made().delivery.add(1, { status });
}

/** What the limiter saw of its window at `at`: the `sendmode.limit.admitted` gauge reports it. */
export function noteAdmitted(admitted: Record<WorkClass, number>, at = Date.now()): void {
  lastAdmitted = {
    byClass: { interactive: admitted.interactive, background: admitted.background },
    at,
  };
  made();
}

/** Forgets the instruments, so the next use takes them from the meter provider now registered (tests). */
export function resetMetrics(): void {
  instruments = undefined;
  lastAdmitted = undefined;
}
