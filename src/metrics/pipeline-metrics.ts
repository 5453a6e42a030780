/**
 * The pipeline's own Prometheus metrics, made through the Temporal SDK's metric meter so they are
 * served on the same `/metrics` endpoint as the SDK's (Runtime telemetry, `metrics.port`). With
 * metrics off the SDK hands out a no-op meter, so recording costs nothing. Label values that come
 * from outside (error types, endpoints) are scrubbed of secret values (common/secret-values.ts).
 */
import type { MetricCounter, MetricHistogram, MetricMeter } from '@temporalio/common';
import type { Bucket } from '../buckets/token';
import { scrubText } from '../common/secret-values';

/** Histogram buckets for stage durations (seconds): from a quick HEAD to a conversion that takes days. */
export const STAGE_DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600];
export const STAGE_DURATION = 'grin_stage_duration_seconds';

export class PipelineMetrics {
  private readonly entered: MetricCounter;
  private readonly parked: MetricCounter;
  private readonly bytesCounter: MetricCounter;
  private readonly stageSeconds: MetricHistogram;
  private readonly responses: MetricCounter;

  constructor(meter: MetricMeter) {
    this.entered = meter.createCounter('grin_books_entered', 'books', 'Books that entered each board bucket (tag bucket)');
    this.parked = meter.createCounter('grin_books_parked', 'books', 'Books parked in failed, by error type (tag reason)');
    this.bytesCounter = meter.createCounter('grin_bytes', 'bytes', 'Bytes downloaded from GRIN and uploaded to storage (tag direction)');
    this.stageSeconds = meter.createHistogram(STAGE_DURATION, 'float', 's', 'Time a book spent in a stage, from entering its bucket to entering the next (tag stage)');
    this.responses = meter.createCounter('grin_http_responses', 'responses', 'GRIN HTTP responses by endpoint and status (status "error": no response)');
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
