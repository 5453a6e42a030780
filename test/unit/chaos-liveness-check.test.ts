/**
 * The chaos run's liveness verdict (devkit/devtools/chaos/checks.ts): what the stall detector saw
 * during the run fails the check once a queue went past the limit with work and no poller, or a
 * book stalled, or the detector never answered.
 */
import { livenessCheck } from '../../devkit/devtools/chaos/checks';
import type { LivenessObservations } from '../../devkit/devtools/chaos/liveness';
import type { QueueStall } from '../../src/liveness/stalls';

const LIMIT = 120_000;
const stall = (queue: string, starvedMs: number): QueueStall => ({ queue, role: 'shared-file', kind: 'activity', backlog: 48, starvedMs });

function seen(over: Partial<LivenessObservations> = {}): LivenessObservations {
  return { samples: 40, failedSamples: 1, longestStarved: new Map(), stalledBooks: new Map(), starvedNow: [], ...over };
}

test('short starvations (a busy worker between polls) pass', () => {
  const c = livenessCheck(
    seen({ longestStarved: new Map([['activity:files', { stall: stall('files', 30_000), seenAtMs: 5000 }]]) }),
    LIMIT,
  );
  expect(c.ok).toBe(true);
  expect(c.figure).toMatch(/40 readings \(1 failed\); longest starvation 30 s \(shared-file queue files\), limit 120 s; 0 stalled books/);
});

test('a queue starved past the limit fails, naming the queue, its backlog and when', () => {
  const c = livenessCheck(
    seen({ longestStarved: new Map([['activity:files', { stall: stall('files', 361_000), seenAtMs: 400_000 }]]) }),
    LIMIT,
  );
  expect(c.ok).toBe(false);
  expect(c.problems).toEqual([
    expect.stringMatching(
      /^shared-file queue files: 48 activity task\(s\) waited 361 s with no worker polling \(limit 120 s; seen 400 s into the run, no poller remembered\)/,
    ),
  ]);
});

test('a stalled book fails; a detector that never answered fails (liveness unknown)', () => {
  const book = livenessCheck(
    seen({ stalledBooks: new Map([['B1', { barcode: 'B1', bucket: '03_downloaded', quietMs: 400_000, why: 'no progress' }]]) }),
    LIMIT,
  );
  expect(book.problems).toEqual(['book B1 stalled in 03_downloaded: no progress']);
  const blind = livenessCheck(seen({ samples: 0, failedSamples: 12 }), LIMIT);
  expect(blind.ok).toBe(false);
  expect(blind.problems[0]).toMatch(/never read Temporal \(12 failed readings\)/);
});
