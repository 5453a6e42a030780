/**
 * The pipeline's own Prometheus metrics, made through the Temporal SDK's metric meter so they are
 * served on the same `/metrics` endpoint as the SDK's (Runtime telemetry, `metrics.port`). With
 * metrics off the SDK hands out a no-op meter, so recording costs nothing. Label values that come
 * from outside (error types, endpoints) are scrubbed of secret values (common/secret-values.ts).
 */
import type { MetricCounter, MetricGauge, MetricHistogram, MetricMeter } from '@temporalio/common';
import type { Bucket } from '../buckets/token';
import type { StallReport } from '../liveness/stalls';
import { scrubText } from '../common/secret-values';

/** Histogram buckets for stage durations (seconds): from a quick HEAD to a conversion that takes days. */
export const STAGE_DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600];
export const STAGE_DURATION = 'grin_stage_duration_seconds';
export const UNEXPECTED_ERRORS = 'grin_unexpected_errors';
export const UNEXPECTED_ERROR_ATTEMPT = 'grin_unexpected_error_attempt';

export class PipelineMetrics {
  private readonly entered: MetricCounter;
  private readonly parked: MetricCounter;
  private readonly bytesCounter: MetricCounter;
  private readonly stageSeconds: MetricHistogram;
  private readonly responses: MetricCounter;
  private readonly unexpected: MetricCounter;
  private readonly unexpectedAttempt: MetricHistogram;
  private readonly starvedQueues: MetricGauge;
  private readonly stalledBooks: MetricGauge;
  /** Label sets given a non-zero stall value, so the next report can set them back to 0. */
  private readonly stallLabels = { queues: new Map<string, Record<string, string>>(), books: new Set<string>() };

  constructor(meter: MetricMeter) {
    this.entered = meter.createCounter('grin_books_entered', 'books', 'Books that entered each board bucket (tag bucket)');
    this.parked = meter.createCounter('grin_books_parked', 'books', 'Books parked in failed, by error type (tag reason)');
    this.bytesCounter = meter.createCounter('grin_bytes', 'bytes', 'Bytes downloaded from GRIN and uploaded to storage (tag direction)');
    this.stageSeconds = meter.createHistogram(
      STAGE_DURATION,
      'float',
      's',
      'Time a book spent in a stage, from entering its bucket to entering the next (tag stage)',
    );
    this.responses = meter.createCounter(
      'grin_http_responses',
      'responses',
      'GRIN HTTP responses by endpoint and status (status "error": no response)',
    );
    this.unexpected = meter.createCounter(
      UNEXPECTED_ERRORS,
      'failures',
      'Activity failures no error class decided (retried as transient), by activity and error class (tags activity, error)',
    );
    this.unexpectedAttempt = meter.createHistogram(
      UNEXPECTED_ERROR_ATTEMPT,
      'int',
      'attempts',
      'The attempt number at which each unexpected error was met (tags activity, error)',
    );
    this.starvedQueues = meter.createGauge(
      'grin_stalled_queue_seconds',
      'int',
      's',
      'Seconds a pipeline task queue has had tasks waiting and no worker polling it, once past metrics.queueStallSeconds; 0 otherwise (tags queue, role, kind)',
    );
    this.stalledBooks = meter.createGauge(
      'grin_stalled_books',
      'int',
      'books',
      'Books without progress for longer than their stage explains, by bucket (see metrics.bookStallMinutes)',
    );
  }

  /** An activity failed with an error that is not a PipelineError, at attempt `attempt`. */
  unexpectedError(activity: string, error: string, attempt: number): void {
    this.unexpected.add(1, { activity, error });
    this.unexpectedAttempt.record(attempt, { activity, error });
  }

  /** The stall detector's latest verdict (src/liveness): stalled queues and books; what recovered goes back to 0. */
  stalls(report: Pick<StallReport, 'queues' | 'books'>): void {
    const queues = new Map(
      report.queues.map((q) => [
        `${q.kind}:${q.queue}`,
        { labels: { queue: q.queue, role: q.role, kind: q.kind }, seconds: Math.round(q.starvedMs / 1000) },
      ]),
    );
    for (const [key, labels] of this.stallLabels.queues) if (!queues.has(key)) this.starvedQueues.set(0, labels);
    this.stallLabels.queues.clear();
    for (const [key, { labels, seconds }] of queues) {
      this.starvedQueues.set(seconds, labels);
      this.stallLabels.queues.set(key, labels);
    }
    const books = new Map<string, number>();
    for (const b of report.books) books.set(b.bucket, (books.get(b.bucket) ?? 0) + 1);
    for (const bucket of this.stallLabels.books) if (!books.has(bucket)) this.stalledBooks.set(0, { bucket });
    this.stallLabels.books.clear();
    for (const [bucket, n] of books) {
      this.stalledBooks.set(n, { bucket });
      this.stallLabels.books.add(bucket);
    }
    // Always present, so an alert can tell "no stall" from "no detector".
    if (books.size === 0) this.stalledBooks.set(0, { bucket: 'any' });
    if (queues.size === 0) this.starvedQueues.set(0, { queue: 'any', role: 'any', kind: 'any' });
  }

  bookEntered(bucket: Bucket): void {
    this.entered.add(1, { bucket });
  }

  bookParked(reason: string): void {
    this.parked.add(1, { reason: scrubText(reason) });
  }

  bytes(direction: 'downloaded' | 'uploaded', n: number): void {
    if (n > 0) this.bytesCounter.add(Math.round(n), { direction });
  }

  stageDuration(stage: string, seconds: number): void {
    if (seconds >= 0 && Number.isFinite(seconds)) this.stageSeconds.record(seconds, { stage });
  }

  grinResponse(endpoint: string, status: number | 'error'): void {
    this.responses.add(1, { endpoint: scrubText(endpointLabel(endpoint)), status: String(status) });
  }
}

/**
 * `GET /PRNC/_converted` → `GET _converted`; an archive file name → `archive`, so the label's values
 * stay few (one per endpoint, not one per book).
 */
export function endpointLabel(endpoint: string): string {
  const [method, path = ''] = endpoint.split(' ', 2);
  const resource = path.split('/').filter(Boolean).slice(1).join('/') || '/';
  return `${method} ${/\.tar\.gz(\.gpg)?$/.test(resource) ? 'archive' : resource}`;
}
