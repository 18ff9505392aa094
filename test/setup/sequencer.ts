/**
 * The order files start in. Vitest's own order (projects by name: e2e, integration, unit; within
 * one, the longest last time first, or the largest file first without a cache, as on a fresh
 * clone) is kept, except that the files known to run longest start first even without a cache:
 * on two workers a long file started last would make the whole run wait for it.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The longest-running files, longest first (most of each is time the limit makes them wait). */
export const LONG_RUNNING = [
  'test/e2e/fair-share.test.ts',
  'test/e2e/outbox-async.test.ts',
  'test/e2e/merge.test.ts',
  'test/import-customer.test.ts',
  'test/poison-cli.test.ts',
  'test/e2e/browser-pages.test.ts',
  'test/limit-multiprocess.test.ts',
];

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = LONG_RUNNING.findIndex((path) => spec.moduleId.endsWith(`/${path}`));
      return index === -1 ? LONG_RUNNING.length : index;
    };
    // Array.prototype.sort is stable: everything else keeps vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}
