/** Table Storage clients for the app's storage account (see `storage-account.ts`). */
import type { TableClient } from '@azure/data-tables';

import { AppError, DependencyUnavailableError } from '../errors.js';
import type { Settings } from '../settings.js';
import {
  describeStorageError,
  hasStatus,
  STORAGE_RETRY_OPTIONS,
  storageErrorCode,
  storageTarget,
} from './storage-account.js';

export { hasStatus, storageErrorCode } from './storage-account.js';

/**
 * A `TableClient` for `tableName`. Async because `@azure/data-tables` (and, on the identity
 * path, `@azure/identity`) load on demand: a module that only imports this file's helpers loads
 * no SDK at start. Call `ensureTable(client)` before first use.
 */
export async function createTableClient(
  settings: Settings,
  tableName: string,
): Promise<TableClient> {
  const { TableClient } = await import('@azure/data-tables');
  const target = await storageTarget(settings, 'table');
  const options = {
    retryOptions: { ...STORAGE_RETRY_OPTIONS },
    allowInsecureConnection: target.allowInsecureConnection,
  };
  if (target.kind === 'identity') {
    return new TableClient(target.serviceUrl, tableName, target.credential, options);
  }
  try {
    return TableClient.fromConnectionString(target.connectionString, tableName, options);
  } catch {
    // The SDK's message may quote the connection string; never pass it on.
    throw new DependencyUnavailableError(
      'configuration',
      'AzureWebJobsStorage is not a valid storage connection string (it needs AccountName and AccountKey, a SAS, or UseDevelopmentStorage=true).',
    );
  }
}

const ensured = new WeakMap<TableClient, Promise<void>>();

/**
 * Creates the client's table once per client (an existing table is fine). A failure is not
 * remembered, so the next call tries again; `recheck` forces a new attempt (the table vanished,
 * e.g. an emulator restarted).
 */
export function ensureTable(
  client: TableClient,
  options: { recheck?: boolean; abortSignal?: AbortSignal } = {},
): Promise<void> {
  let pending = options.recheck ? undefined : ensured.get(client);
  if (!pending) {
    pending = client.createTable({ abortSignal: options.abortSignal }).catch((error: unknown) => {
      if (hasStatus(error, 409)) return; // TableAlreadyExists (the SDK usually swallows it)
      ensured.delete(client);
      throw error;
    });
    ensured.set(client, pending);
  }
  return pending;
}

/**
 * Runs `operation` against a table that exists: created on first use, and created again (then
 * the operation retried once) if it vanished (`TableNotFound`, e.g. an emulator restarted).
 */
export async function withTable<T>(client: TableClient, operation: () => Promise<T>): Promise<T> {
  await ensureTable(client);
  try {
    return await operation();
  } catch (error) {
    if (!(hasStatus(error, 404) && storageErrorCode(error) === 'TableNotFound')) throw error;
    await ensureTable(client, { recheck: true });
    return operation();
  }
}

/**
 * Runs `work` on `table` (see withTable); a storage failure becomes a 503 that says what could
 * not be read or written (`what`, given the cause), while the app's own errors pass as they are.
 */
export async function guardTable<T>(
  table: TableClient,
  what: (cause: string) => string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await withTable(table, work);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new DependencyUnavailableError('table-storage', what(describeStorageError(error)));
  }
}
