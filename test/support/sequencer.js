/**
 * Starts the longest test files first, so that on two jest workers the long ones overlap with the
 * many short ones instead of running last. Jest's own order needs a cache of earlier timings, which
 * a clean clone (CI) does not have; without it the small-but-slow chaos test would start last.
 * Files not listed keep jest's order.
 */
const Sequencer = require('@jest/test-sequencer').default;

/** Slowest first (idle 2-core figures: chaos ~5-7 min, grin-limits ~3 min, the rest 0.5-1.5 min). */
const LONGEST_FIRST = [
  'integration/chaos.test.ts',
  'integration/pipeline-grin-limits.test.ts',
  'integration/kill-points.test.ts',
  'integration/pipeline-batch.test.ts',
  'integration/pipeline-waiting.test.ts',
  'integration/pipeline-host-loss.test.ts',
  'integration/pipeline-s3-outage.test.ts',
];

class LongestFirstSequencer extends Sequencer {
  sort(tests) {
    const rank = (test) => {
      const i = LONGEST_FIRST.findIndex((name) => test.path.endsWith(name));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    return [...super.sort(tests)].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = LongestFirstSequencer;
