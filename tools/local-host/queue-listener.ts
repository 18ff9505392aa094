/**
 * Polls one Storage queue for one `app.storageQueue` function, the way the Functions host's queue
 * listener does with host.json `extensions.queues`:
 *
 * - fetches up to `batchSize` messages and runs them in parallel; fetches the next batch once the
 *   number still running drops to `newBatchThreshold` or below;
 * - when the queue is empty, waits 100 ms and doubles the wait up to `maxPollingInterval`;
 * - decodes each message per `messageEncoding` (base64 or none); the library parses JSON;
 * - on success deletes the message; on failure makes it visible again after `visibilityTimeout`;
 *   a failure on the attempt where `dequeueCount` reaches `maxDequeueCount` copies the message to
 *   `<queue>-poison` and deletes it (and a message fetched with a higher count goes straight there);
 * - keeps a message invisible while its function runs (10 minutes, renewed half-way);
 * - on stop: fetches nothing more, releases fetched-but-not-started messages at once
 *   (visibility 0) and lets running ones finish; those still running when the host gives up
 *   waiting are abandoned like failures (visible again after `visibilityTimeout`).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import type {
  DequeuedMessageItem,
  QueueClient,
  QueueServiceClient,
  StoragePipelineOptions,
} from '@azure/storage-queue';

import type { QueueOptions } from './config.js';
import type { RegisteredFunction } from './core-api.js';
import type { Invoker } from './invoke.js';
import type { HostLogger } from './log.js';
import { appWork, hostWork, triggerInvocationSpan } from './telemetry.js';

/** How long a fetched message stays invisible while its function runs (as the host: 10 min). */
const DEFAULT_LEASE_SECONDS = 600;
const MIN_POLLING_MS = 100;

export class QueueListener {
  readonly queueName: string;
  readonly poisonQueueName: string;
  #fn: RegisteredFunction;
  #queue: QueueClient;
  #poison: QueueClient;
  #options: QueueOptions;
  #leaseSeconds: number;
  #invoker: Invoker;
  #logger: HostLogger;
  #inFlight = new Set<Promise<void>>();
  #stopping = false;
  #wake = new AbortController();
  #loop: Promise<void> | undefined;
  #poisonReady = false;
  /** Messages whose function is running: id → current pop receipt. */
  #receipts = new Map<string, () => string>();

  constructor(init: {
    fn: RegisteredFunction;
    queueName: string;
    service: QueueServiceClient;
    options: QueueOptions;
    invoker: Invoker;
    logger: HostLogger;
  }) {
    this.#fn = init.fn;
    this.queueName = init.queueName;
    this.poisonQueueName = `${init.queueName}-poison`;
    this.#queue = init.service.getQueueClient(init.queueName);
    this.#poison = init.service.getQueueClient(this.poisonQueueName);
    this.#options = init.options;
    this.#leaseSeconds = init.options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    this.#invoker = init.invoker;
    this.#logger = init.logger;
  }

  get functionName(): string {
    return this.#fn.name;
  }

  start(): void {
    this.#loop ??= hostWork(() => this.#run());
  }

  get running(): number {
    return this.#inFlight.size;
  }

  /** Stops fetching (releasing anything fetched but not started); resolves when polling has stopped. */
  async stopPolling(): Promise<void> {
    this.#stopping = true;
    this.#wake.abort();
    await this.#loop;
  }

  /**
   * For stop after the grace period: treats every still-running message as failed (visible again
   * after visibilityTimeout), since this process is about to end and will not finish them.
   */
  async abandonRunning(): Promise<number> {
    const seconds = Math.floor(this.#options.visibilityTimeoutMs / 1000);
    const running = [...this.#receipts];
    await Promise.all(
      running.map(([id, receipt]) =>
        this.#queue.updateMessage(id, receipt(), undefined, seconds).catch(() => undefined),
      ),
    );
    return running.length;
  }

  /** Resolves when every running message has been handled. */
  async drained(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #pause(ms: number): Promise<void> {
    if (this.#stopping) return;
    try {
      await sleep(ms, undefined, { signal: this.#wake.signal });
    } catch {
      // woken by stop
    }
  }

  async #run(): Promise<void> {
    const { batchSize, newBatchThreshold, maxPollingIntervalMs } = this.#options;
    let delay = MIN_POLLING_MS;
    let ready = false;
    let failing = false;
    while (!this.#stopping) {
      try {
        if (!ready) {
          await this.#queue.createIfNotExists();
          ready = true;
        }
        if (this.#inFlight.size > newBatchThreshold) {
          await Promise.race([...this.#inFlight, this.#stopSignal()]);
          continue;
        }
        const { receivedMessageItems: messages } = await this.#queue.receiveMessages({
          numberOfMessages: batchSize,
          visibilityTimeout: this.#leaseSeconds,
        });
        if (failing) {
          this.#logger.host('Information', `Queue '${this.queueName}' is reachable again.`);
          failing = false;
        }
        if (this.#stopping) {
          await this.#release(messages);
          break;
        }
        if (messages.length === 0) {
          await this.#pause(delay);
          delay = Math.min(delay * 2, maxPollingIntervalMs);
          continue;
        }
        delay = MIN_POLLING_MS;
        for (const message of messages) {
          const work: Promise<void> = this.#process(message).finally(() =>
            this.#inFlight.delete(work),
          );
          this.#inFlight.add(work);
        }
      } catch (error) {
        if (!failing) {
          this.#logger.host(
            'Warning',
            `Queue '${this.queueName}' could not be polled: ${errorText(error)}. Retrying every ${maxPollingIntervalMs} ms.`,
          );
          failing = true;
        }
        await this.#pause(maxPollingIntervalMs);
      }
    }
  }

  #stopSignal(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#wake.signal.aborted) resolve();
      else this.#wake.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  async #release(messages: DequeuedMessageItem[]): Promise<void> {
    await Promise.all(
      messages.map(async (m) => {
        try {
          await this.#queue.updateMessage(m.messageId, m.popReceipt, undefined, 0);
        } catch (error) {
          this.#logger.host(
            'Warning',
            `Could not release message ${m.messageId}: ${errorText(error)}`,
          );
        }
      }),
    );
    if (messages.length > 0) {
      this.#logger.host(
        'Information',
        `Released ${messages.length} fetched message(s) on '${this.queueName}' that had not started.`,
      );
    }
  }

  async #process(message: DequeuedMessageItem): Promise<void> {
    const { maxDequeueCount, visibilityTimeoutMs, messageEncoding } = this.#options;
    let popReceipt = message.popReceipt;
    if (message.dequeueCount > maxDequeueCount) {
      await this.#toPoison(message, popReceipt);
      return;
    }
    // Keep the message invisible while the function runs.
    let renewing: Promise<void> = Promise.resolve();
    const renew = setInterval(
      () => {
        renewing = this.#queue
          .updateMessage(message.messageId, popReceipt, undefined, this.#leaseSeconds)
          .then((r) => {
            if (r.popReceipt) popReceipt = r.popReceipt;
          })
          .catch(() => undefined);
      },
      (this.#leaseSeconds * 1000) / 2,
    );
    renew.unref();
    this.#receipts.set(message.messageId, () => popReceipt);

    try {
      let text: string | undefined;
      let bindingError: Error | undefined;
      try {
        text =
          messageEncoding === 'base64' ? decodeBase64(message.messageText) : message.messageText;
      } catch (error) {
        bindingError = error as Error;
      }
      const json = (value: unknown) => ({ json: JSON.stringify(value) });
      const span = appWork(() => triggerInvocationSpan(this.#fn.name, 'pubsub', this.queueName));
      const outcome = await appWork(() =>
        this.#invoker.invoke(
          this.#fn,
          {
            inputData: [{ name: this.#fn.triggerName, data: { string: text ?? '' } }],
            triggerMetadata: {
              QueueTrigger: { string: text ?? '' },
              Id: json(message.messageId),
              DequeueCount: json(message.dequeueCount),
              InsertionTime: json(message.insertedOn.toISOString()),
              ExpirationTime: json(message.expiresOn.toISOString()),
              NextVisibleTime: json(message.nextVisibleOn.toISOString()),
              PopReceipt: json(message.popReceipt),
              sys: json({
                MethodName: this.#fn.name,
                UtcNow: new Date().toISOString(),
                RandGuid: randomUUID(),
              }),
            },
            ...(span.traceContext ? { traceContext: span.traceContext } : {}),
          },
          `New queue message detected on '${this.queueName}'.`,
          bindingError,
        ),
      );
      span.end(outcome.ok);
      clearInterval(renew);
      await renewing;
      if (outcome.ok) {
        await this.#queue.deleteMessage(message.messageId, popReceipt);
      } else if (message.dequeueCount >= maxDequeueCount) {
        await this.#toPoison(message, popReceipt);
      } else {
        await this.#queue.updateMessage(
          message.messageId,
          popReceipt,
          undefined,
          Math.floor(visibilityTimeoutMs / 1000),
        );
      }
    } catch (error) {
      this.#logger.host(
        'Warning',
        `Queue '${this.queueName}': could not complete message ${message.messageId}: ${errorText(error)}`,
      );
    } finally {
      clearInterval(renew);
      this.#receipts.delete(message.messageId);
    }
  }

  async #toPoison(message: DequeuedMessageItem, popReceipt: string): Promise<void> {
    this.#logger.host(
      'Warning',
      `Message has reached MaxDequeueCount of ${this.#options.maxDequeueCount}. Moving message to queue '${this.poisonQueueName}'.`,
    );
    if (!this.#poisonReady) {
      await this.#poison.createIfNotExists();
      this.#poisonReady = true;
    }
    // The message text as stored: the poison queue holds it in the same encoding.
    await this.#poison.sendMessage(message.messageText);
    await this.#queue.deleteMessage(message.messageId, popReceipt);
  }
}

/** Strict base64 (as .NET's Convert.FromBase64String, whitespace ignored) to UTF-8 text. */
export function decodeBase64(text: string): string {
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new Error(
      "The input is not a valid Base-64 string (host.json extensions.queues.messageEncoding is 'base64'; " +
        "encode messages in base64 or set it to 'none').",
    );
  }
  return Buffer.from(compact, 'base64').toString('utf8');
}

function errorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { message?: string; code?: string; statusCode?: number };
    return [e.statusCode, e.code, e.message?.split('\n')[0]].filter(Boolean).join(' ');
  }
  return String(error);
}

/**
 * The queue service for a trigger's `connection` (an app setting name; default
 * AzureWebJobsStorage): a connection string in `<name>` (or `AzureWebJobs<name>`), or the
 * identity-based form `<name>__queueServiceUri` / `__serviceUri` / `__accountName`
 * (with `__clientId` for a user-assigned identity), read with DefaultAzureCredential.
 */
export async function queueServiceFor(
  connection: string,
  env: NodeJS.ProcessEnv = process.env,
  options?: StoragePipelineOptions,
): Promise<QueueServiceClient> {
  const { QueueServiceClient } = await import('@azure/storage-queue');
  const value = env[connection] || env[`AzureWebJobs${connection}`];
  if (value) return QueueServiceClient.fromConnectionString(value, options);
  const uri =
    env[`${connection}__queueServiceUri`] ||
    env[`${connection}__serviceUri`] ||
    (env[`${connection}__accountName`]
      ? `https://${env[`${connection}__accountName`]}.queue.core.windows.net`
      : undefined);
  if (!uri) {
    throw new Error(
      `Storage account connection "${connection}" is not set: set the app setting ${connection} ` +
        `(a connection string, e.g. UseDevelopmentStorage=true) or ${connection}__queueServiceUri.`,
    );
  }
  const { DefaultAzureCredential } = await import('@azure/identity');
  const clientId = env[`${connection}__clientId`];
  return new QueueServiceClient(
    uri,
    new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}),
    options,
  );
}
