/**
 * Builds the bundle `npm run build` makes (dist/app/, what package.json `main` names and the
 * local host loads) when it is missing or older than the sources, once across parallel test
 * files (a lock directory serialises the builds).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { bundleApp, bundleStaleReason } from '../../scripts/bundle.js';
import { ROOT } from './processes.js';

export async function ensureBuilt(): Promise<void> {
  if (!bundleStaleReason()) return;
  const lock = join(ROOT, 'dist', '.build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (const deadline = Date.now() + 120_000; ;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) rmSync(lock, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    if (bundleStaleReason()) await bundleApp();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
