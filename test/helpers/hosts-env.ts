/**
 * The end-to-end set-up, shared: the app built as deployed, Azurite and the Sendmode simulator as
 * child processes, and `count` local hosts on them, like that many instances of one app (one
 * storage account, one Sendmode account, so one shared limit). Each call gets its own account,
 * queue and table names, so test files never share state.
 */
import { randomBytes } from 'node:crypto';
import { type Azurite, startAzurite } from './azurite.js';
import { ensureBuilt } from './build.js';
import {
  type HostProcess,
  type SimulatorProcess,
  startHostProcess,
  startSimulatorProcess,
} from './processes.js';

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

export const E2E_API_KEY = 'e2e-hosts-key';

export async function startHostsEnv(
  count: number,
  settings: Record<string, string> = {},
): Promise<HostsEnv> {
  await ensureBuilt();
  const [azurite, simulator] = await Promise.all([
    startAzurite(),
    startSimulatorProcess(E2E_API_KEY),
  ]);
  const run = randomBytes(4).toString('hex');
  const all: Record<string, string> = {
    AzureWebJobsStorage: azurite.connectionString,
    SENDMODE_BASE_URL: simulator.url,
    SENDMODE_API_KEY: E2E_API_KEY,
    KEY_VAULT_URI: '',
    WEBHOOK_SIGNING_SECRET: '',
    SENDMODE_ACCOUNT_NAME: `e2e${run}`,
    IMPORT_QUEUE_NAME: `imports-${run}`,
    OPTOUT_QUEUE_NAME: `optouts-${run}`,
    SEND_QUEUE_NAME: `outbox-${run}`,
    SEND_STATUS_TABLE_NAME: `status${run}`,
    SUPPRESSION_TABLE_NAME: `optouts${run}`,
    DELIVERY_TABLE_NAME: `deliveries${run}`,
    SUBSCRIPTION_TABLE_NAME: `subscriptions${run}`,
    EVENT_QUEUE_NAME: `events-${run}`,
    RATE_LIMIT_MAX_WAIT_SECONDS: '0',
    ...settings,
  };
  const hosts: HostProcess[] = [];
  const addHost = async (extra: Record<string, string> = {}) => {
    const host = await startHostProcess({ env: { ...all, ...extra } });
    hosts.push(host);
    return host;
  };
  try {
    await Promise.all(Array.from({ length: count }, () => addHost()));
  } catch (error) {
    await Promise.all([...hosts.map((h) => h.stop()), simulator.stop(), azurite.stop()]);
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
    async stop() {
      await Promise.all(hosts.map((h) => h.stop()));
      await Promise.all([simulator.stop(), azurite.stop()]);
    },
  };
}
