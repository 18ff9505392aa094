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
/**
 * Files whose figures are the time itself (how full a saturated window is kept, how fast a
 * backlog drains, how long a killed host's sends take to come back): under the others' load
 * their callers wake late, so they run first, two at a time (each is mostly waiting), before
 * everything else.
 */
const SOLO = [
  'test/e2e/fair-share.test.ts',
  'test/limit-multiprocess.test.ts',
  'test/e2e/outbox-async.test.ts',
];

const common = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
};
/** Builds dist/app/ once (e2e) and starts the run's one Azurite (test/setup/global.ts). */
const GLOBAL_SETUP = ['test/setup/global.ts'];
/**
 * Files in parallel forks, more at once than the two cores: most of a file's time is spent
 * waiting (for a limit's window, a queue's visibility, a child process), not computing.
 */
const WORKERS = Number(process.env.VITEST_MAX_WORKERS ?? 3);

const afterSolo = { maxWorkers: WORKERS, sequence: { groupOrder: 1 } };

export default defineConfig({
  test: {
    pool: 'forks',
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      {
        test: {
          ...common,
          name: 'solo',
          include: SOLO,
          globalSetup: GLOBAL_SETUP,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: { ...common, name: 'unit', include: UNIT, ...afterSolo },
      },
      {
        test: {
          ...common,
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...E2E, ...SOLO],
          globalSetup: GLOBAL_SETUP,
          ...afterSolo,
        },
      },
      {
        test: {
          ...common,
          name: 'e2e',
          include: E2E,
          exclude: SOLO,
          globalSetup: GLOBAL_SETUP,
          ...afterSolo,
        },
      },
    ],
  },
});
