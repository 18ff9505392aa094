/**
 * Which storage account and queue the operator commands (`npm run import`, `npm run poison`)
 * work on, found the way the app finds its own: `--connection` (a connection string), else
 * `--account` (identity-based: the account name, signed in with DefaultAzureCredential — az
 * login, a managed identity, environment credentials), else the environment, else
 * local.settings.json `Values` (AzureWebJobsStorage, or its identity-based
 * `AzureWebJobsStorage__accountName` / `__queueServiceUri`). Queue names likewise:
 * IMPORT_QUEUE_NAME / OPT_OUT_QUEUE_NAME / SEND_QUEUE_NAME, defaulting to the app's
 * (customer-imports, optout-sync, sms-outbox).
 */
import type { TableClient } from '@azure/data-tables';
import type { QueueServiceClient } from '@azure/storage-queue';

import {
  DEFAULT_QUEUE_NAMES,
  QUEUE_NAME_PATTERN,
  type QueueNameSetting,
} from '../../shared/queue-names.js';
import { parseSettings } from '../../shared/settings.js';
import { createTableClient } from '../../shared/storage/table-storage.js';
import { loadLocalSettings } from '../local-host/config.js';
import { queueServiceFor } from '../local-host/queue-listener.js';

export interface StorageChoice {
  connection?: string | undefined;
  account?: string | undefined;
  /** The folder holding local.settings.json (the repository root). */
  appDir: string;
  env?: NodeJS.ProcessEnv;
}

export interface QueueStorage {
  service: QueueServiceClient;
  /** Where it points, without secrets: `account devstoreaccount1 (connection string)`. */
  description: string;
  /** The app's settings as the app would see them here (environment over local.settings.json). */
  settings: NodeJS.ProcessEnv;
  /** The app's queues here, by setting: what its queue triggers listen to. */
  queueNames: Record<QueueNameSetting, string>;
  /**
   * A Table Storage client for `tableName` in the same account, the same way in (connection
   * string or identity), for what a queue's messages are tracked by (send statuses).
   */
  table(tableName: string): Promise<TableClient>;
}

/** The storage settings the app reads (shared/storage/storage-account.ts). */
const STORAGE_SETTINGS = [
  'AzureWebJobsStorage',
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__clientId',
] as const;

/**
 * The queue names the app's triggers register with under these settings: each setting when it
 * is a valid queue name, else its default (as shared/queue-names.ts does at registration).
 */
export function appQueueNames(settings: NodeJS.ProcessEnv): Record<QueueNameSetting, string> {
  const names = {} as Record<QueueNameSetting, string>;
  for (const setting of Object.keys(DEFAULT_QUEUE_NAMES) as QueueNameSetting[]) {
    const value = settings[setting]?.trim();
    names[setting] = value && QUEUE_NAME_PATTERN.test(value) ? value : DEFAULT_QUEUE_NAMES[setting];
  }
  return names;
}

/** The app settings the commands read: a copy of the environment, local.settings.json beneath it. */
export function appSettings(
  appDir: string,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const merged = { ...env };
  try {
    loadLocalSettings(appDir, merged);
  } catch {
    // An unreadable local.settings.json: the environment alone decides.
  }
  return merged;
}

export async function openQueueStorage(choice: StorageChoice): Promise<QueueStorage> {
  const settings = appSettings(choice.appDir, choice.env);
  const env: NodeJS.ProcessEnv = { ...settings };
  if (choice.connection) {
    env.AzureWebJobsStorage = choice.connection;
  } else if (choice.account) {
    delete env.AzureWebJobsStorage;
    delete env.AzureWebJobsStorage__queueServiceUri;
    delete env.AzureWebJobsStorage__serviceUri;
    env.AzureWebJobsStorage__accountName = choice.account;
  }
  const service = await queueServiceFor('AzureWebJobsStorage', env, {
    // A few quick retries: storage that is gone or refuses should say so in seconds, not minutes.
    retryOptions: {
      maxTries: 4,
      retryDelayInMs: 200,
      maxRetryDelayInMs: 2_000,
      tryTimeoutInMs: 15_000,
    },
  });
  const how = env.AzureWebJobsStorage ? 'connection string' : 'signed in with your Azure identity';
  // Only the storage settings: whatever else is (mis)configured does not stop an operator here.
  const storageSettings = parseSettings(
    Object.fromEntries(STORAGE_SETTINGS.map((name) => [name, env[name]])),
  );
  return {
    service,
    description: `account ${service.accountName} (${how})`,
    settings,
    queueNames: appQueueNames(settings),
    table: (tableName) => createTableClient(storageSettings, tableName),
  };
}
