/**
 * "Sent, but nothing is ever delivered": the latest sends old enough to have been reported, read
 * at most once every 10 s per instance (health probes and the status page ask often).
 */
import type { DeliveryStore } from './delivery-store.js';
import { type DeliveryWarning, deliveryWarning } from './delivery-view.js';

export interface DeliveryReportsStatus {
  /** DELIVERY_REPORTS=on: Sendmode is set to post reports here. */
  expected: boolean;
  /** Sends older than DELIVERY_REPORT_EXPECTED_MINUTES looked at (up to DELIVERY_REPORT_WATCH_SENDS). */
  watched: number;
  reported: number;
  delivered: number;
  /** Reports that matched no send, kept apart (capped: see UNMATCHED_COUNT_CAP). */
  unmatched: number;
  warning: DeliveryWarning | null;
}

export interface WatchSettings {
  DELIVERY_REPORTS: 'on' | 'off';
  DELIVERY_REPORT_EXPECTED_MINUTES: number;
  DELIVERY_REPORT_WATCH_SENDS: number;
}

// Short enough for the status page (polled every 2 s) to show a change soon.
const CACHE_MS = 10_000;
let cached: { at: number; status: DeliveryReportsStatus } | undefined;

export async function deliveryReportsStatus(
  store: DeliveryStore,
  settings: WatchSettings,
  now = Date.now(),
): Promise<DeliveryReportsStatus> {
  if (cached && now - cached.at < CACHE_MS) return cached.status;
  const expected = settings.DELIVERY_REPORTS === 'on';
  const before = now - settings.DELIVERY_REPORT_EXPECTED_MINUTES * 60_000;
  const [figures, unmatched] = await Promise.all([
    store.watch(settings.DELIVERY_REPORT_WATCH_SENDS, before),
    store.unmatchedCount(),
  ]);
  const warning = deliveryWarning(figures, settings.DELIVERY_REPORT_WATCH_SENDS, expected) ?? null;
  const status = { expected, ...figures, unmatched, warning };
  cached = { at: now, status };
  return status;
}

/** Forgets the cached figures (tests, and after a setting changes). */
export function resetDeliveryWatch(): void {
  cached = undefined;
}
