/**
 * `board --watch`: the storing rate over the observed window, the ETA of the books on their way at
 * that rate, and a loop that refreshes until its signal aborts (Ctrl-C) and then returns cleanly.
 */
import { BUCKETS, type Bucket } from '../../src/buckets/token';
import { formatWatchLine, watchBoard, watchReport, type WatchReport } from '../../src/cli/board-watch';
import { runCli } from '../support/cli';

const counts = (some: Partial<Record<Bucket, number>>): Record<Bucket, number> =>
  Object.fromEntries(BUCKETS.map((b) => [b, some[b] ?? 0])) as Record<Bucket, number>;
const T0 = Date.parse('2026-01-01T12:00:00Z');
const HOUR = 3_600_000;

test('rate: books stored per hour over the window; ETA: the books on their way at that rate', () => {
  const first = { at: T0, counts: counts({ '03_downloaded': 30, '07_stored': 10 }) };
  const later = { at: T0 + HOUR / 2, counts: counts({ '03_downloaded': 20, '04_decrypted': 5, '07_stored': 20, failed: 3, cancelled: 2 }) };
  const r = watchReport(first, later);
  // 10 more stored in half an hour; failed and cancelled books are not on their way.
  expect(r).toEqual({
    at: '2026-01-01T12:30:00.000Z',
    counts: later.counts,
    onTheirWay: 25,
    storedPerHour: 20,
    windowSeconds: 1800,
    eta: '2026-01-01T13:45:00.000Z',
  });
  expect(formatWatchLine(r)).toBe('20 stored/h over 30m; 25 on their way, done in ~1h 15m (13:45 UTC)');
});

test('no window yet, nothing stored in the window, nothing left: said so, no made-up ETA', () => {
  const first = { at: T0, counts: counts({ '01_requested': 4, '07_stored': 7 }) };
  const start = watchReport(first, first);
  expect(start).toMatchObject({ storedPerHour: null, eta: null, onTheirWay: 4 });
  expect(formatWatchLine(start)).toBe('4 on their way; rate: measuring (next refresh)');

  const stalled = watchReport(first, { at: T0 + 600_000, counts: first.counts });
  expect(stalled).toMatchObject({ storedPerHour: 0, eta: null });
  expect(formatWatchLine(stalled)).toBe('0.0 stored/h over 10m; 4 on their way, no ETA until books are stored');

  const quick = watchReport(first, { at: T0 + 30_000, counts: counts({ '01_requested': 3, '07_stored': 8 }) });
  expect(formatWatchLine(quick)).toBe('120 stored/h over 30s; 3 on their way, done in ~2m (12:02 UTC)');

  const done = watchReport(first, { at: T0 + HOUR, counts: counts({ '07_stored': 11 }) });
  expect(done).toMatchObject({ storedPerHour: 4, onTheirWay: 0 });
  expect(formatWatchLine(done)).toBe('4.0 stored/h over 1h 0m; nothing on its way');
});

test('the watch refreshes every interval and returns cleanly when aborted (Ctrl-C)', async () => {
  let stored = 0;
  let clock = T0;
  const shown: WatchReport[] = [];
  const abort = new AbortController();
  await watchBoard({
    readCounts: async () => counts({ '02_converted': 10 - stored, '07_stored': stored }),
    intervalMs: 5,
    signal: abort.signal,
    now: () => clock,
    show: (r) => {
      shown.push(r);
      stored += 2;
      clock += 6 * 60_000; // six minutes per refresh
      if (shown.length === 3) abort.abort();
    },
  });
  expect(shown).toHaveLength(3);
  expect(shown.map((r) => r.counts['07_stored'])).toEqual([0, 2, 4]);
  // 4 stored in 12 minutes = 20/h; 6 left: 18 minutes.
  expect(shown[2]).toMatchObject({ storedPerHour: 20, onTheirWay: 6, windowSeconds: 720, eta: new Date(T0 + 30 * 60_000).toISOString() });
});

test('--watch with --bucket, or a bad --interval, is bad input (exit 2)', async () => {
  expect((await runCli(['board', '--watch', '--bucket', 'failed'])).exitCode).toBe(2);
  expect((await runCli(['board', '--watch', '--interval', '0'])).exitCode).toBe(2);
});
