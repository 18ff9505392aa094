import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/setup/sequencer.js';

/**
 * Pure tests: no Azurite, no simulator, no server of any kind (they may run a CLI such as bicep).
 * Every other file outside test/e2e/ is an integration test, so a new file gets the shared
 * Azurite unless it is listed here.
 */
const UNIT = [
  'test/admission-policy.test.ts',
  'test/connector-rules.test.ts',
  'test/infra.test.ts',
  'test/lazy-handlers.test.ts',
  'test/local-host-config.test.ts',
  'test/openapi.test.ts',
  'test/opt-out-parsing.test.ts',
  'test/phone-number.test.ts',
  'test/phone.test.ts',
  'test/queue-decode.test.ts',
  'test/sample-settings.test.ts',
  'test/settings-api-version.test.ts',
  'test/settings.test.ts',
  'test/sms-text.test.ts',
  'test/status-page.test.ts',
  'test/webhook-signature.test.ts',
];
const E2E = ['test/e2e/**/*.test.ts'];

const common = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
};
/** Builds dist/app/ once (e2e) and starts the run's one Azurite (test/setup/global.ts). */
const GLOBAL_SETUP = ['test/setup/global.ts'];

export default defineConfig({
  test: {
    // Two cores: files run in parallel forks, two at a time across all projects.
    pool: 'forks',
    maxWorkers: 2,
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        test: { ...common, name: 'unit', include: UNIT },
      },
      {
        test: {
          ...common,
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...E2E],
          globalSetup: GLOBAL_SETUP,
        },
      },
      {
        test: { ...common, name: 'e2e', include: E2E, globalSetup: GLOBAL_SETUP },
      },
    ],
  },
});
