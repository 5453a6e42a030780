/**
 * Stall detection, the decisions only (no I/O, no clock: readings and `now` come in, verdicts go
 * out), so every rule is unit-tested without servers. src/liveness/readings.ts gathers the
 * readings from Temporal and the board; src/liveness/watch.ts runs it in the worker.
 *
 * Two kinds of stall (DESIGN.md, Liveness):
 *  - a queue starved: one of the pipeline's task queues has tasks waiting and no worker has asked it
 *    for work for longer than `queueGraceMs`. Nothing on that queue can move, whatever the books'
 *    tokens say (a wedged admission, a host gone for good, a worker that stopped polling).
 *  - a book quiet: a book in a file stage whose token has not changed and whose activity has not
 *    heartbeated for longer than its wait explains. A book whose next step waits in a queue is the
 *    queue's matter (back-pressure is by design: books in 02_converted wait for a host for hours),
 *    and a book waiting for a scheduled retry says what it waits for in its status.
 */
import type { Bucket, BookToken } from '../buckets/token';
import type { PipelineConfig } from '../config/types';

/** What the pipeline calls each of its queues (for messages and the metric's label). */
export type QueueRole = 'workflow' | 'grin' | 'shared-file' | 'host-file';

export interface QueueReading {
  queue: string;
  role: QueueRole;
  /** Workflow tasks or activity tasks of that queue (Temporal keeps a backlog for each). */
  kind: 'workflow' | 'activity';
  /** Tasks waiting for a worker (the server's approximate count). */
  backlog: number;
  /** Age of the oldest waiting task, in ms, when the server reports it (0 or absent: unknown). */
  backlogAgeMs?: number;
  /** When each worker that polled the queue recently last asked it for work (epoch ms). */
  lastPollsMs: number[];
}

export interface QueueStall {
  queue: string;
  role: QueueRole;
  kind: 'workflow' | 'activity';
  backlog: number;
  /** How long tasks have waited with no worker asking for them. */
  starvedMs: number;
  /** The last time any worker polled it (absent: none the server remembers). */
  lastPollMs?: number;
}

export interface QueueRules {
  /** A queue is stalled once it has had a backlog and no poll for longer than this. */
  queueGraceMs: number;
}

/** A stable key for a queue and the kind of its tasks. */
export function queueKey(q: Pick<QueueReading, 'queue' | 'kind'>): string {
  return `${q.kind}:${q.queue}`;
}

/**
 * Queues that have had a backlog and no poll for longer than the grace. How long: since the later
 * of the last poll and the moment the wait began (the oldest task's age when the server reports
 * it, else the first reading that saw the backlog, which the caller keeps in `backlogSince`, queue
 * key → epoch ms, across readings; a one-off reading passes none).
 */
export function queueStalls(
  readings: readonly QueueReading[],
  nowMs: number,
  rules: QueueRules,
  backlogSince: Map<string, number> = new Map(),
): QueueStall[] {
  const stalls: QueueStall[] = [];
  const seen = new Set<string>();
  for (const r of readings) {
    const key = queueKey(r);
    seen.add(key);
    if (r.backlog <= 0) {
      backlogSince.delete(key);
      continue;
    }
    const firstSeen = backlogSince.get(key) ?? nowMs;
    backlogSince.set(key, firstSeen);
    const lastPollMs = r.lastPollsMs.length ? Math.max(...r.lastPollsMs) : undefined;
    const waitBegan = r.backlogAgeMs && r.backlogAgeMs > 0 ? nowMs - r.backlogAgeMs : firstSeen;
    const starvedMs = nowMs - Math.max(waitBegan, lastPollMs ?? -Infinity);
    if (starvedMs > rules.queueGraceMs)
      stalls.push({
        queue: r.queue,
        role: r.role,
        kind: r.kind,
        backlog: r.backlog,
        starvedMs,
        ...(lastPollMs !== undefined ? { lastPollMs } : {}),
      });
  }
  // A queue no longer read (its last book left it) starts afresh if it comes back.
  for (const key of backlogSince.keys()) if (!seen.has(key)) backlogSince.delete(key);
  return stalls;
}

/** A book's activity as Temporal reports it while the workflow waits on it. */
export interface ActivityReading {
  type: string;
  /** `queued`: in a task queue, no worker holds it; `running`: a worker holds it; `backoff`: waiting for its next attempt. */
  state: 'queued' | 'running' | 'backoff';
  attempt: number;
  lastStartedMs?: number;
  lastHeartbeatMs?: number;
  /** For `backoff`: when the next attempt is due. */
  nextAttemptMs?: number;
  lastFailure?: string;
}

export interface BookReading {
  token: BookToken;
  /** What Temporal says of the book's workflow; absent when it was not asked (board-only view). */
  live?: {
    /** `Running`, `Completed`, `Terminated`, ... or `NotFound`. */
    workflowStatus: string;
    activities: ActivityReading[];
  };
}

export interface BookRules {
  /** Longest quiet time explained for a book in a file stage (02_converted once admitted … 06_processed). */
  fileStageMs: number;
  /** Longest wait for GRIN to convert a requested book (01_requested): GRIN may take days. */
  conversionMs: number;
}

export interface BookStall {
  barcode: string;
  bucket: Bucket;
  /** Time since the last sign of progress (token change, activity start or heartbeat). */
  quietMs: number;
  /** What the detector saw, for an operator. */
  why: string;
}

const SETTLED: readonly Bucket[] = ['07_stored', 'failed', 'cancelled'];
const FILE_BUCKETS: readonly Bucket[] = ['03_downloaded', '04_decrypted', '05_extracted', '06_processed'];

/**
 * The longest quiet time a book's place explains, or undefined when its place explains any wait:
 * settled, not yet asked of GRIN (00_available waits for room at GRIN), or converted and waiting
 * for a host to take it (02_converted without a file queue: back-pressure, the queue's matter).
 */
export function quietLimitMs(token: BookToken, rules: BookRules): number | undefined {
  if (SETTLED.includes(token.bucket) || token.bucket === '00_available') return undefined;
  if (token.bucket === '01_requested') return rules.conversionMs;
  if (token.bucket === '02_converted') return token.fileQueue ? rules.fileStageMs : undefined;
  return FILE_BUCKETS.includes(token.bucket) ? rules.fileStageMs : undefined;
}

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : NaN);

/** The latest sign of progress: the token's last change, any stage arrival, an activity's start or heartbeat. */
export function lastProgressMs(book: BookReading): number {
  const signs = [ms(book.token.updatedAt), ...Object.values(book.token.stages).map(ms)];
  for (const a of book.live?.activities ?? []) signs.push(a.lastStartedMs ?? NaN, a.lastHeartbeatMs ?? NaN);
  const known = signs.filter((n) => Number.isFinite(n));
  return known.length ? Math.max(...known) : NaN;
}

const minutes = (n: number) => `${Math.round(n / 60_000)} min`;

/**
 * Books without progress for longer than their place explains. With Temporal's view (`live`), a
 * wait that something will end is not a stall: an activity in a queue (the queue check covers a
 * queue nobody polls), or an attempt due later. Without it (board only), quiet time alone decides.
 */
export function bookStalls(books: readonly BookReading[], nowMs: number, rules: BookRules): BookStall[] {
  const stalls: BookStall[] = [];
  for (const book of books) {
    const { token, live } = book;
    if (SETTLED.includes(token.bucket)) continue;
    if (live && live.workflowStatus !== 'Running') {
      // Nothing will move a book whose workflow has ended or is gone, whatever its bucket.
      const quiet = nowMs - lastProgressMs(book);
      stalls.push({
        barcode: token.barcode,
        bucket: token.bucket,
        quietMs: Number.isFinite(quiet) ? quiet : 0,
        why: `its workflow is ${live.workflowStatus} but the book is not settled: nothing will move it (\`grin-pipeline resume\` starts it again from the board)`,
      });
      continue;
    }
    const limit = quietLimitMs(token, rules);
    if (limit === undefined) continue;
    const last = lastProgressMs(book);
    const quiet = Number.isFinite(last) ? nowMs - last : Infinity;
    if (quiet <= limit) continue;
    if (!live) {
      stalls.push({
        barcode: token.barcode,
        bucket: token.bucket,
        quietMs: quiet,
        why: `no token change for ${minutes(quiet)} (over ${minutes(limit)} in ${token.bucket})${token.status ? `; status: ${token.status}` : ''}`,
      });
      continue;
    }
    const acts = live.activities;
    if (acts.some((a) => a.state === 'queued')) continue; // the queue's matter
    if (acts.some((a) => a.state === 'backoff' && (a.nextAttemptMs ?? Infinity) > nowMs)) continue; // a retry is due
    const what = acts.length
      ? acts
          .map((a) =>
            a.state === 'running'
              ? `${a.type} attempt ${a.attempt} held by a worker, no heartbeat for ${minutes(nowMs - (a.lastHeartbeatMs ?? a.lastStartedMs ?? last))}`
              : `${a.type} attempt ${a.attempt} was due ${minutes(nowMs - (a.nextAttemptMs ?? nowMs))} ago and has not run${a.lastFailure ? ` (last failure: ${a.lastFailure})` : ''}`,
          )
          .join('; ')
      : 'its workflow waits on no activity';
    stalls.push({
      barcode: token.barcode,
      bucket: token.bucket,
      quietMs: quiet,
      why: `no progress for ${minutes(quiet)} (over ${minutes(limit)} in ${token.bucket}): ${what}`,
    });
  }
  return stalls.sort((a, b) => b.quietMs - a.quietMs);
}

export interface StallReport {
  at: string;
  queues: QueueStall[];
  books: BookStall[];
  /** Queues the operator paused (`grin-pipeline pause`): a named outside cause, not a stall; one line each. */
  paused?: string[];
}

/**
 * The queue each operator pause holds back: a paused GRIN queue or shared file queue has a backlog
 * and no poll by design, so it is not stalled (src/control/operator-control.ts).
 */
export const PAUSED_QUEUE_ROLE: Record<'grin' | 'downloads', QueueRole> = { grin: 'grin', downloads: 'shared-file' };

/** The queue stalls that no operator pause explains. */
export function unpausedQueueStalls(stalls: readonly QueueStall[], pausedRoles: ReadonlySet<QueueRole>): QueueStall[] {
  return stalls.filter((q) => !pausedRoles.has(q.role));
}

const ROLE_NAME: Record<QueueRole, string> = {
  workflow: 'workflow queue',
  grin: 'GRIN queue',
  'shared-file': 'shared file queue',
  'host-file': 'host file queue',
};

/** One line per stall, for the worker log and the CLI. Empty when all is well. */
export function describeStalls(report: Pick<StallReport, 'queues' | 'books'>, maxBooks = 20): string[] {
  const lines = report.queues.map(
    (q) =>
      `STALLED ${ROLE_NAME[q.role]} ${q.queue}: ${q.backlog} ${q.kind} task(s) waiting and no worker polled it for ${Math.round(q.starvedMs / 1000)} s` +
      (q.lastPollMs !== undefined ? ` (last poll ${new Date(q.lastPollMs).toISOString()})` : ' (no poller the server remembers)') +
      (q.role === 'host-file'
        ? "; is that host's worker running?"
        : '; check that a worker runs and admits work (`temporal task-queue describe`)'),
  );
  for (const b of report.books.slice(0, maxBooks)) lines.push(`STALLED book ${b.barcode} in ${b.bucket}: ${b.why}`);
  if (report.books.length > maxBooks) lines.push(`... and ${report.books.length - maxBooks} more stalled books`);
  return lines;
}

/** The detector's limits from the config (metrics.queueStallSeconds, bookStallMinutes, conversionStallHours). */
export function stallRulesFrom(config: PipelineConfig): { queueRules: QueueRules; bookRules: BookRules } {
  return {
    queueRules: { queueGraceMs: config.metrics.queueStallSeconds * 1000 },
    bookRules: { fileStageMs: config.metrics.bookStallMinutes * 60_000, conversionMs: config.metrics.conversionStallHours * 3_600_000 },
  };
}
