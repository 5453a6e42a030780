/**
 * The chaos run's liveness watch: the pipeline's own stall detector (src/liveness) read every few
 * seconds DURING the run and once after it, keeping the longest time each queue went with tasks
 * waiting and no poll, and every book it found quiet past its stage's limit. checks.ts judges what
 * it saw (`livenessChecks`); the run also stops waiting once a queue has been starved so long that
 * the pipeline is wedged for good.
 */
import type { Client } from '@temporalio/client';
import type { Board } from '../../../src/buckets/board';
import type { PipelineConfig } from '../../../src/config/types';
import { checkStalls } from '../../../src/liveness/readings';
import { queueKey, type BookRules, type BookStall, type QueueStall } from '../../../src/liveness/stalls';

export interface QueueStarvation {
  stall: QueueStall;
  /** When (run time, ms since the watch started) the longest starvation of this queue was seen. */
  seenAtMs: number;
}

export interface LivenessObservations {
  /** Readings taken (during and after the run). */
  samples: number;
  /** Readings that failed (Temporal restarting, the board busy): they neither pass nor fail anything. */
  failedSamples: number;
  /** Longest starvation seen per queue (any length; checks.ts applies the limit). */
  longestStarved: Map<string, QueueStarvation>;
  /** Books found stalled, latest verdict per book. */
  stalledBooks: Map<string, BookStall>;
  /** Queues starved at the last reading. */
  starvedNow: QueueStall[];
}

export interface LivenessWatchOptions {
  client: Client;
  config: PipelineConfig;
  board: Board;
  bookRules: BookRules;
  intervalMs: number;
  /** Starvation past this is said at once in the run's log (checks.ts judges it at the end). */
  queueLimitMs: number;
  log: (line: string) => void;
}

export class LivenessWatch {
  readonly seen: LivenessObservations = {
    samples: 0,
    failedSamples: 0,
    longestStarved: new Map(),
    stalledBooks: new Map(),
    starvedNow: [],
  };
  private readonly backlogSince = new Map<string, number>();
  private readonly startedAt = Date.now();
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;

  constructor(private readonly opts: LivenessWatchOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.current ??= this.sample().finally(() => (this.current = undefined));
    }, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.current;
  }

  /** One reading of every queue and quiet book (queue grace 0: every starvation is kept, with its length). */
  async sample(): Promise<void> {
    try {
      const report = await checkStalls({
        client: this.opts.client,
        config: this.opts.config,
        board: this.opts.board,
        queueRules: { queueGraceMs: 0 },
        bookRules: this.opts.bookRules,
        backlogSince: this.backlogSince,
      });
      this.seen.samples++;
      this.seen.starvedNow = report.queues;
      for (const q of report.queues) {
        const key = queueKey(q);
        const before = this.seen.longestStarved.get(key)?.stall.starvedMs ?? 0;
        if (q.starvedMs > this.opts.queueLimitMs && before <= this.opts.queueLimitMs) {
          this.opts.log(
            `!! liveness: ${q.role} queue ${q.queue} has had ${q.backlog} ${q.kind} task(s) waiting and no poller for ${Math.round(q.starvedMs / 1000)} s (limit ${this.opts.queueLimitMs / 1000} s)`,
          );
        }
        if ((this.seen.longestStarved.get(key)?.stall.starvedMs ?? -1) < q.starvedMs)
          this.seen.longestStarved.set(key, { stall: q, seenAtMs: Date.now() - this.startedAt });
      }
      for (const b of report.books) {
        if (!this.seen.stalledBooks.has(b.barcode)) this.opts.log(`!! liveness: book ${b.barcode} stalled in ${b.bucket}: ${b.why}`);
        this.seen.stalledBooks.set(b.barcode, b);
      }
    } catch {
      this.seen.failedSamples++;
    }
  }

  /** The queue starved longest right now, if any. */
  longestStarvedNow(): QueueStall | undefined {
    return [...this.seen.starvedNow].sort((a, b) => b.starvedMs - a.starvedMs)[0];
  }
}
