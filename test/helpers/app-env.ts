/**
 * Runs the app's handlers in this test process against real parts: the Sendmode simulator
 * over HTTP and Azurite for Table Storage. Settings come from process.env, as in Azure.
 *
 * Storage is a storage account of the file's own on the run's one Azurite (test/setup/global.ts);
 * a file that stops and restarts storage passes `{ storage: 'private' }` for an Azurite of its
 * own.
 */
import { InvocationContext } from '@azure/functions';

import { resetServices } from '../../shared/services.js';
import { resetSettings } from '../../shared/settings.js';
import { startSimulator } from '../../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../../tools/sendmode-simulator/types.js';
import type { Azurite } from './azurite.js';
import { azuriteFor, type StorageChoice } from './storage.js';

export const TEST_API_KEY = 'test-api-key-7f3a9c';

export interface AppEnv {
  simulator: Simulator;
  azurite: Azurite;
  /** Sets settings (undefined removes one) and rebuilds the app's services on next use. */
  configure(settings: Record<string, string | undefined>): Promise<void>;
  /** Empties the simulator (calls, state, faults) and gives it back TEST_API_KEY alone. */
  resetSimulator(): void;
  stop(): Promise<void>;
}

export interface AppEnvOptions {
  /** 'private' for a file that stops and restarts Azurite (default: the run's shared one). */
  storage?: StorageChoice;
}

export async function startAppEnv(
  settings: Record<string, string> = {},
  options: AppEnvOptions = {},
): Promise<AppEnv> {
  const [simulator, azurite] = await Promise.all([
    startSimulator({ apiKeys: [TEST_API_KEY] }),
    azuriteFor(options.storage),
  ]);
  const configure = async (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    resetSettings();
    await resetServices();
  };
  await configure({
    SENDMODE_BASE_URL: simulator.url,
    SENDMODE_API_KEY: TEST_API_KEY,
    KEY_VAULT_URI: undefined,
    AzureWebJobsStorage: azurite.connectionString,
    // Each test file gets its own account (partition) so files never share a limit.
    SENDMODE_ACCOUNT_NAME: `test${Math.random().toString(36).slice(2, 10)}`,
    RATE_LIMIT_MAX_WAIT_SECONDS: '0',
    ...settings,
  });
  return {
    simulator,
    azurite,
    configure,
    resetSimulator() {
      simulator.reset();
      simulator.setApiKeys([TEST_API_KEY]);
    },
    async stop() {
      await resetServices();
      await Promise.all([simulator.close(), azurite.stop()]);
    },
  };
}

/** A real InvocationContext whose log lines are kept for assertions. */
export function testContext(functionName = 'test'): InvocationContext & { logs: string[] } {
  const logs: string[] = [];
  const context = new InvocationContext({
    functionName,
    invocationId: `inv-${Math.random().toString(36).slice(2)}`,
    logHandler: (level, ...args) =>
      logs.push(
        `${level} ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`,
      ),
  });
  return Object.assign(context, { logs });
}
