/**
 * The composition root: builds the process-wide Sendmode client (one keep-alive pool), key
 * provider, limiter and storage clients from settings, once, on first use. The SDKs behind them
 * (undici, @azure/data-tables, @azure/storage-queue, @azure/identity) are loaded here, on the
 * first invocation, so loading the app stays cheap.
 */
import type { QueueClient } from '@azure/storage-queue';

import type { DeliveryStore } from './delivery/delivery-store.js';
import type { HistoryStore } from './history/history-store.js';
import type { IdempotencyStore } from './http/idempotency.js';
import type { RateLimiter } from './limit/rate-limiter.js';
import type { PendingSends } from './merge/pending-sends.js';
import type { SuppressionList } from './opt-outs/suppression.js';
import type { WebhookAuthenticator } from './opt-outs/webhook-auth.js';
import type { SendStatusStore } from './outbox/send-status.js';
import type { Sendmode } from './sendmode/sendmode.js';
import { appInstanceId, getSettings, type Settings } from './settings.js';
import type { PurgeCounts } from './storage/housekeeping.js';
import type { EventPublisher } from './subscriptions/publisher.js';
import type { SubscriptionStore } from './subscriptions/store.js';

export interface Services {
  settings: Settings;
  sendmode: Sendmode;
  idempotency: IdempotencyStore;
  suppression: SuppressionList;
  webhooks: WebhookAuthenticator;
  /** Queued sends' statuses. */
  statuses: SendStatusStore;
  /** Queued sends waiting to share a call. */
  pending: PendingSends;
  /** Publishes the app's events to their subscribers (shared/subscriptions/). */
  events: EventPublisher;
  /** Webhook subscriptions to the events. */
  subscriptions: SubscriptionStore;
  /** Delivery reports against each send (shared/delivery/). */
  deliveries: DeliveryStore;
  /** Every instance's per-minute figures (shared/history/): GET /api/status?history=N. */
  history: HistoryStore;
  /** When a send queued now is expected to go (ms): the limiter's line behind the queued ones. */
  outboxExpectedAt(): Promise<number>;
  /** Deletes expired idempotency outcomes, old webhook ids and statuses (see housekeeping.ts). */
  purgeExpired(now: number): Promise<PurgeCounts>;
  /** Puts a JSON message on one of the app's queues (encoded as host.json says); its id. */
  enqueue(queueName: string, payload: unknown, delaySeconds?: number): Promise<string>;
  /** The shared limiter (its window, for GET /api/status). */
  limiter: RateLimiter;
  /** A queue's approximate number of messages (0 when it does not exist yet). */
  queueDepth(queueName: string): Promise<number>;
  close(): Promise<void>;
}

let services: Promise<Services> | undefined;

async function build(settings: Settings): Promise<Services> {
  const [
    { apiKeyProviderFromSettings, webhookSecretProviderFromSettings },
    { IdempotencyStore },
    { rateLimiterFromSettings },
    { Sendmode },
    { SendmodeClient },
    { SendmodeClientV3 },
    { createTableClient },
    { createQueueClient, enqueue, approximateDepth },
    { SuppressionList },
    { AuditTrail },
    { WebhookAuthenticator },
    { purgeExpired },
    { SendStatusStore },
    { PendingSends },
    { EventPublisher },
    { SubscriptionStore },
    { optOutChangedData },
    { DeliveryStore },
    { HistoryStore },
    { HistoryWriter, historyInstanceId },
    { queueStatuses },
  ] = await Promise.all([
    import('./secrets.js'),
    import('./http/idempotency.js'),
    import('./limit/rate-limiter.js'),
    import('./sendmode/sendmode.js'),
    import('./sendmode/client-v2.js'),
    import('./sendmode/client-v3.js'),
    import('./storage/table-storage.js'),
    import('./queues/queue-storage.js'),
    import('./opt-outs/suppression.js'),
    import('./opt-outs/audit-trail.js'),
    import('./opt-outs/webhook-auth.js'),
    import('./storage/housekeeping.js'),
    import('./outbox/send-status.js'),
    import('./merge/pending-sends.js'),
    import('./subscriptions/publisher.js'),
    import('./subscriptions/store.js'),
    import('./subscriptions/opt-out-changed.js'),
    import('./delivery/delivery-store.js'),
    import('./history/history-store.js'),
    import('./history/history-writer.js'),
    import('./app-status.js'),
  ]);
  // The API generation is chosen here: v2 (default) or v3 (Engage, 3.0), one client either way.
  const Client = settings.SENDMODE_API_VERSION === 'v3' ? SendmodeClientV3 : SendmodeClient;
  const client = new Client({
    baseUrl: settings.SENDMODE_BASE_URL,
    connectTimeoutMs: settings.SENDMODE_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: settings.SENDMODE_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: settings.SENDMODE_BODY_TIMEOUT_MS,
    maxConnections: settings.SENDMODE_MAX_CONNECTIONS,
  });
  const [
    keys,
    webhookSecret,
    limiter,
    idempotencyTable,
    suppressionTable,
    webhookIdsTable,
    auditTable,
    statusTable,
    mergeTable,
    deliveryTable,
    subscriptionTable,
    historyTable,
  ] = await Promise.all([
    apiKeyProviderFromSettings(settings),
    webhookSecretProviderFromSettings(settings),
    rateLimiterFromSettings(settings),
    createTableClient(settings, settings.IDEMPOTENCY_TABLE_NAME),
    createTableClient(settings, settings.SUPPRESSION_TABLE_NAME),
    createTableClient(settings, settings.WEBHOOK_IDS_TABLE_NAME),
    createTableClient(settings, settings.OPT_OUT_AUDIT_TABLE_NAME),
    createTableClient(settings, settings.SEND_STATUS_TABLE_NAME),
    createTableClient(settings, settings.SEND_MERGE_TABLE_NAME),
    createTableClient(settings, settings.DELIVERY_TABLE_NAME),
    createTableClient(settings, settings.SUBSCRIPTION_TABLE_NAME),
    createTableClient(settings, settings.HISTORY_TABLE_NAME),
  ]);
  const queues = new Map<string, Promise<QueueClient>>();
  const queueClient = (queueName: string) => {
    let queue = queues.get(queueName);
    if (!queue) {
      queue = createQueueClient(settings, queueName);
      queues.set(queueName, queue);
    }
    return queue;
  };
  const events = new EventPublisher(async (message) =>
    enqueue(await queueClient(settings.EVENT_QUEUE_NAME), message),
  );
  const queueDepth = async (queueName: string) => approximateDepth(await queueClient(queueName));
  const history = new HistoryStore(historyTable);
  // Once a minute, this instance's finished minutes and the queue depths: one row, written off
  // the path of every call (best-effort; shared/history/history-writer.ts). Stopped by close().
  const historyWriter = new HistoryWriter({
    store: history,
    instance: historyInstanceId(appInstanceId()),
    sampleDepths: async () =>
      Object.fromEntries(
        (await queueStatuses({ settings, queueDepth })).map((q) => [
          q.name,
          { depth: q.approximateMessages, poison: q.poison.approximateMessages },
        ]),
      ),
  });
  historyWriter.start();
  return {
    settings,
    sendmode: new Sendmode(client, keys, limiter),
    idempotency: new IdempotencyStore(idempotencyTable, settings.IDEMPOTENCY_TTL_SECONDS * 1000),
    suppression: new SuppressionList(
      suppressionTable,
      new AuditTrail(auditTable),
      settings.DEFAULT_COUNTRY_CODE,
      async (change) => {
        await events.publish('optout.changed', optOutChangedData(change));
      },
    ),
    webhooks: new WebhookAuthenticator(webhookSecret, webhookIdsTable),
    statuses: new SendStatusStore(statusTable, settings.SEND_STATUS_TTL_SECONDS * 1000),
    pending: new PendingSends(mergeTable),
    events,
    subscriptions: new SubscriptionStore(subscriptionTable),
    deliveries: new DeliveryStore(
      deliveryTable,
      settings.SEND_STATUS_TTL_SECONDS * 1000,
      settings.DEFAULT_COUNTRY_CODE,
    ),
    history,
    outboxExpectedAt: async () => {
      const ahead = await approximateDepth(await queueClient(settings.SEND_QUEUE_NAME));
      return limiter.expectedStart(ahead, 'sends');
    },
    purgeExpired: (now) =>
      purgeExpired(
        {
          idempotency: idempotencyTable,
          webhookIds: webhookIdsTable,
          sendStatuses: statusTable,
          mergedCalls: mergeTable,
          deliveries: deliveryTable,
          history: historyTable,
        },
        now,
      ),
    enqueue: async (queueName, payload, delaySeconds) =>
      enqueue(await queueClient(queueName), payload, delaySeconds),
    limiter,
    queueDepth,
    close: () => {
      historyWriter.stop();
      return client.close();
    },
  };
}

export function getServices(): Promise<Services> {
  if (!services) {
    const building = Promise.resolve()
      .then(() => build(getSettings()))
      .catch((error: unknown) => {
        services = undefined; // a failed start is retried on the next call
        throw error;
      });
    services = building;
  }
  return services;
}

/** Closes and forgets the services so the next call rebuilds them from settings (tests). */
export async function resetServices(): Promise<void> {
  const current = services;
  services = undefined;
  if (current) await (await current.catch(() => undefined))?.close();
}
