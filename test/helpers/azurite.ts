/**
 * Starts Azurite (the Azure Storage emulator, from npm) as a child process on free ports, in
 * memory, for one test file or one local run. `stop()` and `start()` simulate storage going away
 * and coming back on the same ports (in-memory data is lost across a restart).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './free-port.js';

export interface Azurite {
  /** Full devstoreaccount1 connection string with Blob, Queue and Table endpoints on the chosen ports. */
  connectionString: string;
  tablePort: number;
  queuePort: number;
  blobPort: number;
  stop(): Promise<void>;
  /** Restarts on the same ports after `stop()`; data is lost (in-memory persistence). */
  start(): Promise<void>;
}

const ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known development key: public, not a secret. */
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const HOST = '127.0.0.1';
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

export async function startAzurite(): Promise<Azurite> {
  installExitHook();
  // A port found free can be taken by a parallel test file before Azurite binds it: retry.
  for (let attempt = 1; ; attempt++) {
    const [blobPort, queuePort, tablePort] = (await freePorts(3)) as [number, number, number];
    try {
      return await startOn(blobPort, queuePort, tablePort);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startOn(blobPort: number, queuePort: number, tablePort: number): Promise<Azurite> {
  const connectionString = [
    'DefaultEndpointsProtocol=http',
    `AccountName=${ACCOUNT}`,
    `AccountKey=${ACCOUNT_KEY}`,
    `BlobEndpoint=http://${HOST}:${blobPort}/${ACCOUNT}`,
    `QueueEndpoint=http://${HOST}:${queuePort}/${ACCOUNT}`,
    `TableEndpoint=http://${HOST}:${tablePort}/${ACCOUNT}`,
  ].join(';');

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
      { cwd: workspace, stdio: ['ignore', 'ignore', 'pipe'] },
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

  async function stop(): Promise<void> {
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
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
  return { connectionString, tablePort, queuePort, blobPort, stop, start };
}
