/**
 * The composition root: builds the process-wide Sendmode client (one keep-alive pool), key
 * provider and limiter from settings, once, on first use.
 */
import { apiKeyProviderFromSettings } from './api-key.js';
import { IdempotencyStore } from './idempotency.js';
import { rateLimiterFromSettings } from './rate-limiter.js';
import { Sendmode } from './sendmode.js';
import { SendmodeClient } from './sendmode-client.js';
import { getSettings, type Settings } from './settings.js';
import { createTableClient } from './table-storage.js';

export interface Services {
  settings: Settings;
  sendmode: Sendmode;
  idempotency: IdempotencyStore;
  close(): Promise<void>;
}

let services: Promise<Services> | undefined;

async function build(settings: Settings): Promise<Services> {
  const client = new SendmodeClient({
    baseUrl: settings.SENDMODE_BASE_URL,
    connectTimeoutMs: settings.SENDMODE_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: settings.SENDMODE_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: settings.SENDMODE_BODY_TIMEOUT_MS,
    maxConnections: settings.SENDMODE_MAX_CONNECTIONS,
  });
  const [keys, limiter, idempotencyTable] = await Promise.all([
    apiKeyProviderFromSettings(settings),
    rateLimiterFromSettings(settings),
    createTableClient(settings, settings.IDEMPOTENCY_TABLE_NAME),
  ]);
  return {
    settings,
    sendmode: new Sendmode(client, keys, limiter),
    idempotency: new IdempotencyStore(idempotencyTable, settings.IDEMPOTENCY_TTL_SECONDS * 1000),
    close: () => client.close(),
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
