/**
 * Which storage account and queue the operator commands (`npm run import`, `npm run poison`)
 * work on, found the way the app finds its own: `--connection` (a connection string), else
 * `--account` (identity-based: the account name, signed in with DefaultAzureCredential — az
 * login, a managed identity, environment credentials), else the environment, else
 * local.settings.json `Values` (AzureWebJobsStorage, or its identity-based
 * `AzureWebJobsStorage__accountName` / `__queueServiceUri`). Queue names likewise:
 * IMPORT_QUEUE_NAME / OPTOUT_QUEUE_NAME, defaulting to the app's.
 */
import type { QueueServiceClient } from '@azure/storage-queue';
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
  return { service, description: `account ${service.accountName} (${how})`, settings };
}
