/**
 * Starts Azurite (the Azure Storage emulator, from npm) as a child process on free ports, in
 * memory, for one test file or one local run. `stop()` and `start()` simulate storage going away
 * and coming back on the same ports (in-memory data is lost across a restart).
 *
 * The test run starts one with many storage accounts (test/setup/global.ts); test files take an
 * account each from it (test/helpers/storage.ts). A file that stops and restarts storage starts
 * one of its own here instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { stablePorts } from './free-port.js';

export interface Azurite {
  /** The storage account the connection string names (devstoreaccount1 unless leased). */
  account: string;
  /** Full connection string of `account` with Blob, Queue and Table endpoints on the chosen ports. */
  connectionString: string;
  tablePort: number;
  queuePort: number;
  blobPort: number;
  /** Stops it (SIGTERM, SIGKILL after 5 s; `'SIGKILL'` at once, when nothing needs a clean exit). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Restarts on the same ports after `stop()`; data is lost (in-memory persistence). */
  start(): Promise<void>;
}

export const DEFAULT_ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known development key (every account here has it): public, not a secret. */
export const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
export const AZURITE_HOST = '127.0.0.1';
const HOST = AZURITE_HOST;
const START_TIMEOUT_MS = 30_000;

const azuriteScript = createRequire(import.meta.url).resolve('azurite/dist/src/azurite.js');

/** Every child still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface AzuritePorts {
  blobPort: number;
  queuePort: number;
  tablePort: number;
}

/** The connection string of `account` on an Azurite listening on `ports` (path-style URLs). */
export function connectionStringFor(account: string, ports: AzuritePorts): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${account}`,
    `AccountKey=${ACCOUNT_KEY}`,
    `BlobEndpoint=http://${HOST}:${ports.blobPort}/${account}`,
    `QueueEndpoint=http://${HOST}:${ports.queuePort}/${account}`,
    `TableEndpoint=http://${HOST}:${ports.tablePort}/${account}`,
  ].join(';');
}

export interface AzuriteOptions {
  /**
   * Storage accounts besides devstoreaccount1 (all with the development key), handed to
   * Azurite as AZURITE_ACCOUNTS: each is a namespace of its own (tables, queues, blobs).
   */
  accounts?: readonly string[];
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  installExitHook();
  // A port found free can be taken by a parallel test file before Azurite binds it: retry.
  // Below the ephemeral range, so a restart finds its ports still free (stablePorts).
  for (let attempt = 1; ; attempt++) {
    const [blobPort, queuePort, tablePort] = (await stablePorts(3)) as [number, number, number];
    try {
      return await startOn({ blobPort, queuePort, tablePort }, options.accounts ?? []);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startOn(ports: AzuritePorts, accounts: readonly string[]): Promise<Azurite> {
  const { blobPort, queuePort, tablePort } = ports;
  const connectionString = connectionStringFor(DEFAULT_ACCOUNT, ports);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (accounts.length > 0) {
    env.AZURITE_ACCOUNTS = [DEFAULT_ACCOUNT, ...accounts.filter((a) => a !== DEFAULT_ACCOUNT)]
      .map((name) => `${name}:${ACCOUNT_KEY}`)
      .join(';');
  } else {
    delete env.AZURITE_ACCOUNTS;
  }

  let child: ChildProcess | undefined;
  let workspace: string | undefined;
  let stderr = '';

  async function start(): Promise<void> {
    if (child) return;
    workspace = mkdtempSync(join(tmpdir(), 'azurite-'));
    stderr = '';
    const proc = spawn(
      process.execPath,
      [
        azuriteScript,
        '--inMemoryPersistence',
        '--silent',
        '--skipApiVersionCheck',
        '--loose',
        '--disableTelemetry',
        '--blobHost',
        HOST,
        '--blobPort',
        String(blobPort),
        '--queueHost',
        HOST,
        '--queuePort',
        String(queuePort),
        '--tableHost',
        HOST,
        '--tablePort',
        String(tablePort),
      ],
      // Run in a scratch directory: with in-memory persistence nothing should be written, but
      // whatever Azurite does write stays out of the repository.
      { cwd: workspace, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4_000);
    });
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      running.delete(proc);
    });
    running.add(proc);
    child = proc;

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) {
        await stop(); // removes the scratch directory
        throw new Error(`Azurite exited during start-up: ${stderr.trim() || '(no output)'}`);
      }
      if (
        (await portAccepts(tablePort)) &&
        (await portAccepts(queuePort)) &&
        (await portAccepts(blobPort))
      ) {
        return;
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Azurite did not listen within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`);
      }
      await sleep(50);
    }
  }

  async function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill(signal);
      // Unref'd: a pending time-out must not keep the process alive once Azurite has exited.
      const killed = await Promise.race([
        exited.then(() => true),
        sleep(5_000, undefined, { ref: false }).then(() => false),
      ]);
      if (!killed) {
        proc.kill('SIGKILL');
        await exited;
      }
    }
    if (proc) running.delete(proc);
    if (workspace) {
      rmSync(workspace, { recursive: true, force: true });
      workspace = undefined;
    }
  }

  await start();
  return {
    account: DEFAULT_ACCOUNT,
    connectionString,
    tablePort,
    queuePort,
    blobPort,
    stop,
    start,
  };
}
