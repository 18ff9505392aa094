/**
 * Global set-up of the integration and e2e projects (vitest.config.ts), run once in the main
 * vitest process before any of their files:
 *
 * - builds the bundle (dist/app/, `npm run build`) when it is missing or older than the sources,
 *   so no test file builds for itself (e2e only; before a watch-mode rerun too);
 * - starts ONE Azurite, in memory, with many storage accounts, and provides its ports to the test
 *   files (`inject('sharedAzurite')`). Each file leases an account of its own
 *   (test/helpers/storage.ts), so files never see each other's tables or queues. Files that stop
 *   and restart storage on purpose start a private Azurite instead.
 *
 * Both projects use this file; the one Azurite is kept on globalThis (each project loads its
 * global set-up in its own module runner) and stopped when the last project tears down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { bundleApp, bundleStaleReason } from '../../scripts/bundle.js';
import { type Azurite, startAzurite } from '../helpers/azurite.js';
import type { SharedAzurite } from './provided.js';

/** Enough for every file of a run (and reruns in watch mode: leases wrap and clean an account). */
export const ACCOUNT_COUNT = 256;
const accountName = (i: number) => `vitest${String(i).padStart(3, '0')}`;

interface Shared {
  started: Promise<{ azurite: Azurite; provided: SharedAzurite }>;
  users: number;
}
const KEY = Symbol.for('sendmode-connector.test.shared-azurite');
const store = globalThis as typeof globalThis & { [KEY]?: Shared };

async function startShared(): Promise<{ azurite: Azurite; provided: SharedAzurite }> {
  const accounts = Array.from({ length: ACCOUNT_COUNT }, (_, i) => accountName(i));
  const azurite = await startAzurite({ accounts });
  const leaseDir = mkdtempSync(join(tmpdir(), 'vitest-azurite-leases-'));
  const { blobPort, queuePort, tablePort } = azurite;
  return { azurite, provided: { blobPort, queuePort, tablePort, accounts, leaseDir } };
}

let building: Promise<void> | undefined;
/** Builds dist/app/ when stale; one build at a time (both projects may ask at once). */
function buildIfStale(): Promise<void> {
  building ??= (async () => {
    const reason = bundleStaleReason();
    if (!reason) return;
    const started = performance.now();
    await bundleApp();
    console.log(
      `[global set-up] built dist/app/ (${reason}) in ${Math.round(performance.now() - started)} ms`,
    );
  })().finally(() => {
    building = undefined;
  });
  return building;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const needsBuild = project.name === 'e2e' || project.name === 'solo';
  let shared = store[KEY];
  if (!shared) {
    shared = { started: startShared(), users: 0 };
    store[KEY] = shared;
  }
  shared.users += 1;
  const [{ provided }] = await Promise.all([
    shared.started,
    needsBuild ? buildIfStale() : undefined,
  ]);
  project.provide('sharedAzurite', provided);
  if (needsBuild) project.onTestsRerun(() => buildIfStale());

  return async () => {
    const current = store[KEY];
    if (!current || (current.users -= 1) > 0) return;
    delete store[KEY];
    const { azurite, provided: done } = await current.started;
    // In memory, with every test file done: nothing to shut down cleanly.
    await azurite.stop('SIGKILL');
    rmSync(done.leaseDir, { recursive: true, force: true });
  };
}
