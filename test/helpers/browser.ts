/**
 * Headless Chromium for browser tests: Debian's `chromium` package (never a downloaded build),
 * driven by playwright-core, in a fresh profile. Missing, it fails the test with what to do.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type BrowserContext, chromium } from 'playwright-core';

import { ROOT } from './processes.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';
/** Screenshots and other artefacts of browser tests (git-ignored). */
export const TEST_RESULTS = join(ROOT, 'test-results');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(executablePath = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `The browser tests need headless Chromium at ${executablePath}, which is missing. ` +
        "Install Debian's package as root: apt-get update && apt-get install -y chromium " +
        '(.ci/run does this).',
    );
  }
  mkdirSync(TEST_RESULTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ARGS,
    viewport: { width: 1000, height: 360 },
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
