/**
 * The batch's bookkeeping, apart from Temporal so its rules can be read (and unit-tested) on their
 * own: which books hold a window slot, and how each book's settlement is counted exactly once,
 * whatever order the news arrives in. News comes from three places that race each other:
 *  - the book's `bookSettled` signal, which may arrive before its start has resolved in the batch;
 *  - the start's own result (started, or the book's workflow already existed);
 *  - the periodic reconcile, which asks Temporal what each watched book is really doing.
 * Deterministic code only (used by the batch workflow).
 */
import type { BatchState, BookSettled } from './contracts';

type Outcome = BookSettled['outcome'];

export class BatchTracker {
  readonly counts: Pick<BatchState, 'started' | 'alreadyKnown' | 'stored' | 'failed' | 'cancelled'>;
  /** Index in the barcode list of the next book to start. */
  offset: number;
  /** Started, not settled: each holds a window slot. */
  private readonly inFlight: Set<string>;
  /** Start sent, not yet resolved: each holds a window slot too. */
  private readonly starting = new Set<string>();
  /** Settlements of books whose start has not resolved yet (the book was quicker than the batch). */
  private readonly early = new Map<string, Outcome>();
  /** Counted as failed; a retry that stores or cancels the book later moves its count. */
  private readonly parked: Set<string>;

  constructor(state?: BatchState) {
    this.offset = state?.offset ?? 0;
    this.inFlight = new Set(state?.inFlight ?? []);
    this.parked = new Set(state?.parked ?? []);
    this.counts = {
      started: state?.started ?? 0,
      alreadyKnown: state?.alreadyKnown ?? 0,
      stored: state?.stored ?? 0,
      failed: state?.failed ?? 0,
      cancelled: state?.cancelled ?? 0,
    };
  }

  /** Books holding a window slot: started and not settled, or being started. */
  get occupied(): number {
    return this.inFlight.size + this.starting.size;
  }

  /** No start is awaiting its result: the state can be carried into a new run. */
  get startsResolved(): boolean {
    return this.starting.size === 0;
  }

  /** The book's start is about to be sent: it takes a slot and its settlement is kept if early. */
  startSent(barcode: string): void {
    this.offset++;
    this.starting.add(barcode);
  }

  /** The start resolved: `started` false means the book's workflow already existed (never started twice). */
  startResolved(barcode: string, started: boolean): void {
    this.starting.delete(barcode);
    const early = this.early.get(barcode);
    this.early.delete(barcode);
    if (!started) {
      // Its news (if any) came from a run another batch, or an earlier run of this one, started.
      this.counts.alreadyKnown++;
      return;
    }
    this.counts.started++;
    this.inFlight.add(barcode);
    if (early) this.settled({ barcode, outcome: early });
  }

  /**
   * A book settled (signal or reconcile). Counted once: a second report of the same outcome is a
   * no-op, and a parked book that a retry later stored or cancelled moves from failed to that outcome.
   */
  settled({ barcode, outcome }: BookSettled): void {
    if (this.starting.has(barcode)) {
      this.early.set(barcode, outcome);
      return;
    }
    if (this.inFlight.delete(barcode)) {
      this.count(barcode, outcome);
      return;
    }
    if (this.parked.has(barcode) && outcome !== 'failed') {
      this.parked.delete(barcode);
      this.counts.failed--;
      this.count(barcode, outcome);
    }
    // Otherwise: a book this batch did not start, or news already counted.
  }

  /** Books whose news the reconcile should look for: those in flight and those parked. */
  watched(): string[] {
    return [...this.inFlight, ...this.parked];
  }

  /** What the `progress` query shows: books being started count as in flight. */
  view(): BatchState {
    return { offset: this.offset, inFlight: [...this.inFlight, ...this.starting], parked: [...this.parked], ...this.counts };
  }

  /** The state for the next run; only when no start is pending (their results would be lost). */
  snapshot(): BatchState {
    if (!this.startsResolved) throw new Error('batch state taken while book starts are pending');
    return { offset: this.offset, inFlight: [...this.inFlight], parked: [...this.parked], ...this.counts };
  }

  private count(barcode: string, outcome: Outcome): void {
    this.counts[outcome]++;
    if (outcome === 'failed') this.parked.add(barcode);
  }
}
