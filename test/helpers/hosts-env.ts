/**
 * The end-to-end set-up, shared: the app built as deployed (test/setup/global.ts builds it once
 * per run), a storage account of the file's own on the run's Azurite (or a private Azurite), the
 * Sendmode simulator as a child process, and `count` local hosts on them, like that many
 * instances of one app (one storage account, one Sendmode account, so one shared limit). Each
 * call gets its own queue and table names and Sendmode account; `stop()` tears down all of it.
 */
import { type Azurite } from './azurite.js';
import { freshAppNames, freshSuffix } from './common.js';
import {
  type HostProcess,
  type SimulatorProcess,
  startHostProcess,
  startSimulatorProcess,
} from './processes.js';
import { azuriteFor, type StorageChoice } from './storage.js';

export interface HostsEnv {
  azurite: Azurite;
  simulator: SimulatorProcess;
  hosts: HostProcess[];
  /** The settings every host was started with (names made unique for this run). */
  settings: Record<string, string>;
  /** Starts one more host with the same settings (and `extra`). */
  addHost(extra?: Record<string, string>): Promise<HostProcess>;
  /** Injects a fault into the simulator (its POST /__admin/faults). */
  fault(spec: Record<string, unknown>): Promise<void>;
  /** Sets how the simulator sends delivery reports (its PUT /__admin/delivery-reports). */
  deliveryReports(config: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export interface HostsEnvOptions {
  /** The simulator's API key, which the hosts are given as SENDMODE_API_KEY. */
  apiKey?: string;
  /** The app folder the hosts run (`--app`; default the repository's, its package.json main). */
  app?: string;
  /** 'private': an Azurite of this file's own (default: an account on the run's Azurite). */
  storage?: StorageChoice;
}

export const E2E_API_KEY = 'e2e-hosts-key';

/**
 * The settings every end-to-end host gets, before a test's own: storage and Sendmode, no Key
 * Vault or signing secret from the developer's shell, unique names, no waiting for the limit.
 */
export function commonHostSettings(
  azurite: Azurite,
  simulator: SimulatorProcess,
  apiKey: string,
  suffix = freshSuffix(),
): Record<string, string> {
  return {
    AzureWebJobsStorage: azurite.connectionString,
    SENDMODE_BASE_URL: simulator.url,
    SENDMODE_API_KEY: apiKey,
    KEY_VAULT_URI: '',
    WEBHOOK_SIGNING_SECRET: '',
    ...freshAppNames(suffix),
    SENDMODE_ACCOUNT_NAME: `e2e${suffix}`,
    RATE_LIMIT_MAX_WAIT_SECONDS: '0',
  };
}

/** A test's own settings, or a function of the parts when they depend on them (a URL, say). */
export type HostSettings =
  | Record<string, string>
  | ((parts: { azurite: Azurite; simulator: SimulatorProcess }) => Record<string, string>);

export async function startHostsEnv(
  count: number,
  settings: HostSettings = {},
  options: HostsEnvOptions = {},
): Promise<HostsEnv> {
  const apiKey = options.apiKey ?? E2E_API_KEY;
  const [azurite, simulator] = await Promise.all([
    azuriteFor(options.storage),
    startSimulatorProcess(apiKey),
  ]);
  const all: Record<string, string> = {
    ...commonHostSettings(azurite, simulator, apiKey),
    ...(typeof settings === 'function' ? settings({ azurite, simulator }) : settings),
  };
  const hosts: HostProcess[] = [];
  const addHost = async (extra: Record<string, string> = {}) => {
    const host = await startHostProcess({
      env: { ...all, ...extra },
      ...(options.app ? { app: options.app } : {}),
    });
    hosts.push(host);
    return host;
  };
  const stop = async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await Promise.all([simulator.stop(), azurite.stop()]);
  };
  try {
    await Promise.all(Array.from({ length: count }, () => addHost()));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    azurite,
    simulator,
    hosts,
    settings: all,
    addHost,
    async fault(spec) {
      const res = await fetch(`${simulator.origin}/__admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      });
      if (!res.ok) throw new Error(`The simulator refused the fault: ${await res.text()}`);
    },
    async deliveryReports(config) {
      const res = await fetch(`${simulator.origin}/__admin/delivery-reports`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(config),
      });
      if (!res.ok) throw new Error(`The simulator refused the settings: ${await res.text()}`);
    },
    stop,
  };
}
