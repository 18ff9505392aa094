/**
 * Storage for a test file: an account of its own on the run's one Azurite (started by
 * test/setup/global.ts), so files share the process but never a table or a queue. Outside a run
 * with that set-up (a bench, a script) it falls back to a private Azurite.
 *
 * A file that stops and restarts storage on purpose (outage tests) must not use this: it takes a
 * private Azurite with `startAzurite()` (test/helpers/azurite.ts), or `storage: 'private'`.
 */
import '../setup/provided.js';

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { TableServiceClient } from '@azure/data-tables';
import { QueueServiceClient } from '@azure/storage-queue';
import { inject } from 'vitest';

import { type Azurite, connectionStringFor, startAzurite } from './azurite.js';

/** Which Azurite a test file's set-up uses. */
export type StorageChoice = 'shared' | 'private';

let leased: Promise<Azurite> | undefined;

/**
 * This file's storage account on the shared Azurite (the same one on every call in a file).
 * `stop()` does nothing (the account is the file's until the run ends); `start()` throws.
 */
export function sharedAzurite(): Promise<Azurite> {
  leased ??= leaseAccount();
  return leased;
}

/** `sharedAzurite()` for 'shared', a fresh private Azurite for 'private'. */
export function azuriteFor(choice: StorageChoice = 'shared'): Promise<Azurite> {
  return choice === 'private' ? startAzurite() : sharedAzurite();
}

async function leaseAccount(): Promise<Azurite> {
  const shared = inject('sharedAzurite');
  if (!shared) return startAzurite();
  const index = nextLease(shared.leaseDir);
  const account = shared.accounts[index % shared.accounts.length]!;
  const connectionString = connectionStringFor(account, shared);
  // Past the end (watch-mode reruns), accounts come round again: empty this one first.
  if (index >= shared.accounts.length) await emptyAccount(connectionString);
  return {
    account,
    connectionString,
    blobPort: shared.blobPort,
    queuePort: shared.queuePort,
    tablePort: shared.tablePort,
    async stop() {
      // Shared by the run: it stops in the global teardown.
    },
    start() {
      return Promise.reject(
        new Error(
          'The shared Azurite cannot be stopped or restarted: a file that takes storage away ' +
            "starts its own (startAzurite(), or storage: 'private').",
        ),
      );
    },
  };
}

/** The lowest index no other file has taken: mkdir is atomic across the worker processes. */
function nextLease(dir: string): number {
  for (let index = 0; ; index++) {
    try {
      mkdirSync(join(dir, String(index)));
      return index;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

async function emptyAccount(connectionString: string): Promise<void> {
  const options = { allowInsecureConnection: true };
  const tables = TableServiceClient.fromConnectionString(connectionString, options);
  for await (const table of tables.listTables()) {
    if (table.name) await tables.deleteTable(table.name);
  }
  const queues = QueueServiceClient.fromConnectionString(connectionString);
  for await (const queue of queues.listQueues()) {
    await queues.deleteQueue(queue.name);
  }
}
