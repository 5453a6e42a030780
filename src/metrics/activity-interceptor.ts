/**
 * Records the pipeline's metrics around each activity (an SDK activity interceptor): books entering a
 * bucket, books parked by reason, bytes downloaded and uploaded, and how long the book spent in the
 * stage that just finished (from the token's arrival times, so waits and retries count).
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { failureDetails, unexpectedName } from '../activities/failures';
import { PipelineError } from '../common/errors';
import { ACTIVITY_ENTERS } from '../activities/activity-stages';
import type { Board } from '../buckets/board';
import { STAGE_BUCKETS, type Bucket, type StageBucket } from '../buckets/token';
import type { PipelineMetrics } from './pipeline-metrics';

export function metricsInterceptor(metrics: PipelineMetrics, board: Pick<Board, 'get'>): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        let result: unknown;
        try {
          result = await next(input);
        } catch (err) {
          const unexpected = unexpectedError(err, ctx.info.attempt);
          if (unexpected) metrics.unexpectedError(ctx.info.activityType, unexpected.name, unexpected.attempt);
          throw err;
        }
        try {
          await record(metrics, board, ctx.info.activityType, input.args[0], result);
        } catch {
          // Metrics never fail an activity.
        }
        return result;
      },
    },
  });
}

async function record(metrics: PipelineMetrics, board: Pick<Board, 'get'>, type: string, arg: unknown, result: unknown): Promise<void> {
  const input = (arg ?? {}) as { barcode?: string; type?: string; backTo?: Bucket; to?: Bucket };
  if (type === 'downloadArchive' || type === 'fetchArchive') metrics.bytes('downloaded', (result as { bytes?: number }).bytes ?? 0);
  if (type === 'uploadBook' || type === 'storeBook') metrics.bytes('uploaded', (result as { bytes?: number }).bytes ?? 0);
  if (type === 'parkBook') metrics.bookParked(input.type ?? 'unknown');
  // A retry or a rewind puts the book back into an earlier bucket: it enters it again.
  const back = type === 'unparkBook' ? input.backTo : type === 'rewindBook' ? input.to : undefined;
  if (back) metrics.bookEntered(back);
  // A request that found the package already converted moved the token on (lean books).
  const entered = type === 'requestConversion' && (result as { converted?: string }).converted ? (['01_requested', '02_converted'] as const) : (ACTIVITY_ENTERS[type] ?? []);
  for (const bucket of entered) metrics.bookEntered(bucket);
  const stageEnds = entered.map((b) => STAGE_BUCKETS.indexOf(b as StageBucket)).filter((i) => i >= 1);
  if (stageEnds.length === 0 || !input.barcode) return;
  // Each stage finished: how long the book was in the bucket before (token arrival times).
  const token = await board.get(input.barcode);
  for (const i of stageEnds) {
    const from = token?.stages[STAGE_BUCKETS[i - 1]];
    const to = token?.stages[STAGE_BUCKETS[i]];
    if (from && to) metrics.stageDuration(STAGE_NAMES[i - 1], (Date.parse(to) - Date.parse(from)) / 1000);
  }
}

/** What an activity failure says of an unclassified error (the activity converted it, or threw it raw). */
function unexpectedError(err: unknown, attempt: number): { name: string; attempt: number } | undefined {
  if (err instanceof ApplicationFailure) return failureDetails(err).unexpected;
  if (err instanceof CancelledFailure || err instanceof PipelineError) return undefined;
  return { name: unexpectedName(err), attempt };
}

/** Stage `i` takes a book from STAGE_BUCKETS[i] to STAGE_BUCKETS[i + 1] (as in the book workflow). */
const STAGE_NAMES = ['request', 'convert', 'download', 'decrypt', 'extract', 'process', 'store'] as const;
