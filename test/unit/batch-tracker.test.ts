/**
 * The batch's counting rules, whatever order a book's news arrives in: before its start resolved,
 * twice (signal and reconcile), after a continue-as-new, or after a retry of a parked book.
 */
import { BatchTracker } from '../../src/workflows/batch-tracker';

function counts(t: BatchTracker) {
  return { ...t.counts, occupied: t.occupied };
}

test('a book that settles before its start resolved is counted once the start resolves', () => {
  const t = new BatchTracker();
  t.startSent('A');
  t.startSent('B');
  // A was already stored: it settled before the batch heard that A started.
  t.settled({ barcode: 'A', outcome: 'stored' });
  expect(t.occupied).toBe(2);
  t.startResolved('A', true);
  t.startResolved('B', true);
  expect(counts(t)).toEqual({ started: 2, alreadyKnown: 0, stored: 1, failed: 0, cancelled: 0, occupied: 1 });
  t.settled({ barcode: 'B', outcome: 'stored' });
  expect(counts(t)).toEqual({ started: 2, alreadyKnown: 0, stored: 2, failed: 0, cancelled: 0, occupied: 0 });
});

test('news of a book whose workflow already existed does not count for this batch', () => {
  const t = new BatchTracker();
  t.startSent('A');
  // The existing run (another batch's, or an earlier run of this one) tells us it settled.
  t.settled({ barcode: 'A', outcome: 'stored' });
  t.startResolved('A', false);
  expect(counts(t)).toEqual({ started: 0, alreadyKnown: 1, stored: 0, failed: 0, cancelled: 0, occupied: 0 });
});

test('the same news twice (signal and reconcile) counts once', () => {
  const t = new BatchTracker();
  t.startSent('A');
  t.startResolved('A', true);
  t.settled({ barcode: 'A', outcome: 'failed' });
  t.settled({ barcode: 'A', outcome: 'failed' });
  expect(counts(t)).toEqual({ started: 1, alreadyKnown: 0, stored: 0, failed: 1, cancelled: 0, occupied: 0 });
});

test('a parked book stored after a retry moves from failed to stored, also across a continue-as-new', () => {
  const t = new BatchTracker();
  t.startSent('A');
  t.startResolved('A', true);
  t.settled({ barcode: 'A', outcome: 'failed' });
  const next = new BatchTracker(t.snapshot());
  expect(next.watched()).toEqual(['A']);
  next.settled({ barcode: 'A', outcome: 'stored' });
  next.settled({ barcode: 'A', outcome: 'stored' });
  expect(counts(next)).toEqual({ started: 1, alreadyKnown: 0, stored: 1, failed: 0, cancelled: 0, occupied: 0 });
  expect(next.watched()).toEqual([]);
});

test('books in flight survive a continue-as-new and are counted by the next run', () => {
  const t = new BatchTracker();
  for (const b of ['A', 'B', 'C']) t.startSent(b);
  for (const b of ['A', 'B', 'C']) t.startResolved(b, true);
  t.settled({ barcode: 'B', outcome: 'cancelled' });
  const state = t.snapshot();
  expect(state).toEqual({ offset: 3, inFlight: ['A', 'C'], parked: [], started: 3, alreadyKnown: 0, stored: 0, failed: 0, cancelled: 1 });
  const next = new BatchTracker(state);
  next.settled({ barcode: 'A', outcome: 'stored' });
  next.settled({ barcode: 'C', outcome: 'failed' });
  expect(counts(next)).toEqual({ started: 3, alreadyKnown: 0, stored: 1, failed: 1, cancelled: 1, occupied: 0 });
});

test('the state cannot be carried on while a start is pending, but the progress view shows it', () => {
  const t = new BatchTracker();
  t.startSent('A');
  expect(t.startsResolved).toBe(false);
  expect(() => t.snapshot()).toThrow(/pending/);
  expect(t.view().inFlight).toEqual(['A']);
  t.startResolved('A', true);
  expect(t.snapshot().inFlight).toEqual(['A']);
});

test('news of a book this batch never started is ignored', () => {
  const t = new BatchTracker();
  t.settled({ barcode: 'Z', outcome: 'stored' });
  expect(counts(t)).toEqual({ started: 0, alreadyKnown: 0, stored: 0, failed: 0, cancelled: 0, occupied: 0 });
});
