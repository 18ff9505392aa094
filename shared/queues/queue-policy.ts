/** The retry policies of the app's queues, from settings and host.json. */
import type { Settings } from '../settings.js';
import { queueHostConfig } from './host-config.js';
import type { RetryPolicy } from './queue-work.js';

/** Imports: as many attempts as the host's maxDequeueCount, then the poison queue. */
export function importRetryPolicy(settings: Settings): RetryPolicy {
  return {
    maxAttempts: queueHostConfig().maxDequeueCount,
    baseDelaySeconds: settings.QUEUE_RETRY_BASE_SECONDS,
    maxDelaySeconds: settings.QUEUE_RETRY_MAX_SECONDS,
  };
}

/** Queued sends: as imports (sends are never retried forever: a failed one is reported). */
export const sendRetryPolicy = importRetryPolicy;

/** Event deliveries: as imports; a subscriber down for longer is parked, to be replayed. */
export const eventRetryPolicy = importRetryPolicy;

/** Opt-outs: retried until Sendmode takes them; only a permanent rejection is parked. */
export function optOutRetryPolicy(settings: Settings): RetryPolicy {
  return {
    maxAttempts: Number.POSITIVE_INFINITY,
    baseDelaySeconds: settings.QUEUE_RETRY_BASE_SECONDS,
    maxDelaySeconds: settings.QUEUE_RETRY_MAX_SECONDS,
  };
}
