/**
 * What GET /api/status shows: the shared limit's window as the limiter sees it and the depth of
 * each queue and its poison queue. Cheap by design (one entity read, one properties call per
 * queue) and never a call to Sendmode, so a flow may ask before every bulk job.
 */
import { type DeliveryReportsStatus, deliveryReportsStatus } from './delivery/delivery-watch.js';
import type { LimitSnapshot } from './limit/rate-limiter.js';
import type { CallRecord } from './merge/pending-sends.js';
import { poisonQueueOf } from './queue-names.js';
import type { Services } from './services.js';

export interface QueueStatus {
  name: string;
  approximateMessages: number;
  poison: { name: string; approximateMessages: number };
}

export interface AppStatus {
  status: 'ok';
  at: string;
  /** The limiter's snapshot, its moments as ISO 8601 (null when there is none). */
  limit: Omit<
    LimitSnapshot,
    'nextSlotFreesAt' | 'backgroundLinedUpUntil' | 'sendsLinedUpUntil' | 'at'
  > & {
    nextSlotFreesAt: string | null;
    nextSlotFreesInSeconds: number | null;
    backgroundLinedUpUntil: string | null;
    sendsLinedUpUntil: string | null;
  };
  queues: QueueStatus[];
  /** The send queue's line: how many wait, and when the last of them is expected to go. */
  outbox: OutboxStatus;
  /** Merged calls over the last window (shared/merge/). */
  merging: MergingStatus;
  /** Whether sends are reported delivered, and the warning when they are not (shared/delivery/). */
  deliveryReports: DeliveryReportsStatus;
}

export interface MergingStatus {
  enabled: boolean;
  windowMs: number;
  maxRecipientsPerCall: number;
  /** The queued sends' calls of the last RATE_LIMIT_WINDOW_SECONDS. */
  lastWindow: {
    calls: number;
    sends: number;
    recipients: number;
    /** null when there was no call. */
    recipientsPerCall: number | null;
    /** Sends that rode along in another's call: the calls merging saved. */
    callsSaved: number;
  };
}

export interface OutboxStatus {
  queue: string;
  waiting: number;
  /** When a send queued now would be expected to go: after every one waiting (ISO 8601). */
  lastExpectedAt: string;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The app's main queues, the send queue first (each has a poison queue: `poisonQueueOf`). */
export function statusQueueNames(settings: Services['settings']): string[] {
  return [
    settings.SEND_QUEUE_NAME,
    settings.IMPORT_QUEUE_NAME,
    settings.OPT_OUT_QUEUE_NAME,
    settings.EVENT_QUEUE_NAME,
  ];
}

/**
 * Each main queue's depth and its poison queue's, as GET /api/status shows them (and the
 * history writer samples once a minute: shared/history/history-writer.ts).
 */
export async function queueStatuses(
  services: Pick<Services, 'settings' | 'queueDepth'>,
): Promise<QueueStatus[]> {
  const { settings, queueDepth } = services;
  const queueStatus = async (name: string): Promise<QueueStatus> => {
    const poison = poisonQueueOf(name);
    const [depth, poisonDepth] = await Promise.all([queueDepth(name), queueDepth(poison)]);
    return {
      name,
      approximateMessages: depth,
      poison: { name: poison, approximateMessages: poisonDepth },
    };
  };
  return Promise.all(statusQueueNames(settings).map(queueStatus));
}

export async function appStatus(
  services: Pick<Services, 'settings' | 'limiter' | 'queueDepth' | 'pending' | 'deliveries'>,
): Promise<AppStatus> {
  const { settings, limiter, pending, deliveries } = services;
  const windowMs = settings.RATE_LIMIT_WINDOW_SECONDS * 1000;
  const [window, queues, calls, reports] = await Promise.all([
    limiter.snapshot(),
    queueStatuses(services),
    pending.callsSince(Date.now() - windowMs),
    deliveryReportsStatus(deliveries, settings),
  ]);
  const waiting = queues[0]?.approximateMessages ?? 0;
  // After the snapshot, so the estimate starts from the log just read.
  const lastExpectedAt = await limiter.expectedStart(waiting, 'sends');
  const { nextSlotFreesAt, backgroundLinedUpUntil, sendsLinedUpUntil, at, ...counts } = window;
  return {
    status: 'ok',
    at: new Date(at).toISOString(),
    limit: {
      ...counts,
      nextSlotFreesAt: iso(nextSlotFreesAt),
      nextSlotFreesInSeconds:
        nextSlotFreesAt === undefined ? null : Math.round((nextSlotFreesAt - at) / 100) / 10,
      backgroundLinedUpUntil: iso(backgroundLinedUpUntil),
      sendsLinedUpUntil: iso(sendsLinedUpUntil),
    },
    queues,
    outbox: {
      queue: settings.SEND_QUEUE_NAME,
      waiting,
      lastExpectedAt: new Date(Math.max(lastExpectedAt, at)).toISOString(),
    },
    merging: {
      enabled: settings.SEND_MERGE === 'on',
      windowMs: settings.SEND_MERGE_WINDOW_MS,
      maxRecipientsPerCall: settings.SEND_MAX_RECIPIENTS_PER_CALL,
      lastWindow: mergedCalls(calls),
    },
    deliveryReports: reports,
  };
}

function mergedCalls(calls: CallRecord[]): MergingStatus['lastWindow'] {
  const sends = calls.reduce((sum, c) => sum + c.sends, 0);
  const recipients = calls.reduce((sum, c) => sum + c.recipients, 0);
  return {
    calls: calls.length,
    sends,
    recipients,
    recipientsPerCall:
      calls.length === 0 ? null : Math.round((recipients / calls.length) * 10) / 10,
    callsSaved: Math.max(0, sends - calls.length),
  };
}
