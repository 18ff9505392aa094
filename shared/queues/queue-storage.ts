/** Storage queues for the app's own messages, encoded the way host.json tells the host to read them. */
import { QueueClient } from '@azure/storage-queue';

import { DependencyUnavailableError } from '../errors.js';
import { mainQueueOf } from '../queue-names.js';
import type { Settings } from '../settings.js';
import { describeStorageError, hasStatus, storageTarget } from '../storage/storage-account.js';
import { currentTraceparent } from '../telemetry/tracing.js';
import { withTraceparent } from './envelope.js';
import { queueHostConfig } from './host-config.js';

/** Messages never expire: an import or opt-out waiting on Sendmode must not vanish after 7 days. */
const NEVER_EXPIRES = -1;

/** Short retries and a per-try time limit: a queue that does not answer fails fast (and closed). */
const options = {
  retryOptions: { maxTries: 3, tryTimeoutInMs: 5_000, retryDelayInMs: 100, maxRetryDelayInMs: 500 },
};

export async function createQueueClient(
  settings: Settings,
  queueName: string,
): Promise<QueueClient> {
  const target = await storageTarget(settings, 'queue');
  if (target.kind === 'identity') {
    return new QueueClient(`${target.serviceUrl}/${queueName}`, target.credential, options);
  }
  try {
    return new QueueClient(target.connectionString, queueName, options);
  } catch {
    throw new DependencyUnavailableError(
      'configuration',
      'AzureWebJobsStorage is not a valid storage connection string.',
    );
  }
}

const created = new WeakMap<QueueClient, Promise<unknown>>();

export function encodeMessage(payload: unknown): string {
  const text = JSON.stringify(payload);
  return queueHostConfig().messageEncoding === 'base64'
    ? Buffer.from(text).toString('base64')
    : text;
}

/**
 * Enqueues `payload` as JSON, visible after `delaySeconds`; returns the message id. While traced,
 * the message carries the writer's trace (poison records, which people read, name it as a field).
 */
export async function enqueue(
  queue: QueueClient,
  payload: unknown,
  delaySeconds = 0,
): Promise<string> {
  try {
    let ready = created.get(queue);
    if (!ready) {
      ready = queue.createIfNotExists();
      created.set(queue, ready);
      ready.catch(() => created.delete(queue));
    }
    await ready;
    const isPoison = mainQueueOf(queue.name) !== queue.name;
    const message = isPoison ? payload : withTraceparent(payload, currentTraceparent());
    const sent = await queue.sendMessage(encodeMessage(message), {
      visibilityTimeout: Math.max(0, Math.min(Math.ceil(delaySeconds), 7 * 86_400 - 1)),
      messageTimeToLive: NEVER_EXPIRES,
    });
    return sent.messageId;
  } catch (error) {
    throw queueUnavailable(error);
  }
}

/** The queue's approximate message count (Queue Storage keeps it; 0 for a queue not created yet). */
export async function approximateDepth(queue: QueueClient): Promise<number> {
  try {
    return (await queue.getProperties()).approximateMessagesCount ?? 0;
  } catch (error) {
    if (hasStatus(error, 404)) return 0;
    throw queueUnavailable(error);
  }
}

/** A queue failure as a value without secrets: status and code only, never URLs or bodies. */
function queueUnavailable(error: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(
    'queue-storage',
    `Queue Storage is unavailable (${describeStorageError(error)}).`,
  );
}
