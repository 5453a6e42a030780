/**
 * Faults that hit every book at once (GRIN refusing our credentials, S3 down, the bucket missing, a
 * shared listing failing) make books wait, and say so. When an activity fails with a transient
 * failure that names what it waits for (FailureDetails.waitingFor), the book's token status reads
 * "waiting for <what> since <time> (attempt N): <message>" (best effort, once per attempt), and the
 * worker logs the fault loudly, but once per interval per kind of error, not once per book. The
 * activities that report so are marked `waits` in the stage table (common/stages.ts); the failure
 * interceptor (failure-interceptor.ts) does the reporting for them.
 */
import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Board } from '../buckets/board';
import { failureDetails } from './failures';

/** Rate-limits warnings about book-wide faults: one line per error type per interval, with a count. */
export class FaultReporter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly intervalMs: number;
  private readonly warn: (message: string) => void;
  private readonly now: () => number;

  constructor(opts: { intervalMs?: number; warn?: (message: string) => void; now?: () => number } = {}) {
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.warn = opts.warn ?? defaultWarn;
    this.now = opts.now ?? Date.now;
  }

  /** Logs the fault unless one of the same `kind` was logged less than an interval ago. */
  report(kind: string, waitingFor: string, message: string): void {
    const now = this.now();
    const seen = this.last.get(kind);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const more = seen?.suppressed ? ` (${seen.suppressed} more failure(s) of this kind since the last report)` : '';
    this.last.set(kind, { at: now, suppressed: 0 });
    this.warn(`books are waiting for ${waitingFor}: ${kind}: ${message}${more}`);
  }
}

function defaultWarn(message: string): void {
  try {
    log.warn(message);
  } catch {
    process.stderr.write(`WARN ${message}\n`); // outside an activity (unit use)
  }
}

/** One per worker process: every activity of every book reports here. */
export const processFaultReporter = new FaultReporter();

/**
 * What books wait for, as their activities' outcomes say: a failure that names what it waits for
 * goes on the book's token and to the fault reporter; a success ends the wait. For work that runs for
 * many books in one activity (the conversion watcher) as well as for one book's activities.
 */
export class BookWaits {
  /** When each book started waiting (per process: a new worker starts the clock again). */
  private readonly waitingSince = new Map<string, { waitingFor: string; since: Date }>();

  constructor(
    private readonly board: Pick<Board, 'update'>,
    private readonly reporter: FaultReporter = processFaultReporter,
  ) {}

  succeeded(barcode: string): void {
    this.waitingSince.delete(barcode);
  }

  /** Notes `err` (as its activity failed with it) for the book; never throws. */
  async failed(barcode: string, err: unknown): Promise<void> {
    if (!(err instanceof ApplicationFailure)) return; // cancelled, or not ours
    const { waitingFor, unexpected } = failureDetails(err);
    if (unexpected) {
      // Nothing classified it: the token says so, with the attempt, until the stage moves on.
      this.waitingSince.delete(barcode);
      await this.updateStatus(barcode, err.message);
      return;
    }
    if (err.nonRetryable || !waitingFor) {
      // The wait is over but the stage still fails: replace the stale "waiting for" status.
      if (this.waitingSince.delete(barcode) && !err.nonRetryable) await this.updateStatus(barcode, err.message);
      return;
    }
    const streak = this.waitingSince.get(barcode);
    const since = streak?.waitingFor === waitingFor ? streak.since : new Date();
    this.waitingSince.set(barcode, { waitingFor, since });
    this.reporter.report(err.type ?? 'Error', waitingFor, err.message);
    const attempt = Context.current().info.attempt;
    await this.updateStatus(barcode, `waiting for ${waitingFor} since ${since.toISOString()} (attempt ${attempt}): ${err.message}`);
  }

  private async updateStatus(barcode: string, status: string): Promise<void> {
    // Best effort: the board may be the thing that is down, and the failure must still be reported.
    await this.board.update(barcode, { status }).catch(() => undefined);
  }
}
