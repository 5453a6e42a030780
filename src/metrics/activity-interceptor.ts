/**
 * Records the pipeline's metrics around each activity (an SDK activity interceptor): books entering a
 * bucket, books parked by reason, bytes downloaded and uploaded, and how long the book spent in the
 * stage that just finished (from the token's arrival times, so waits and retries count).
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { failureDetails, unexpectedName } from '../activities/failures';
import { PipelineError } from '../common/errors';
import type { Board } from '../buckets/board';
import { activityFacts, stageEndingIn, type Bucket } from '../common/stages';
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
  const facts = activityFacts(type);
  if (facts?.bytes) metrics.bytes(facts.bytes, (result as { bytes?: number }).bytes ?? 0);
  if (type === 'parkBook') metrics.bookParked(input.type ?? 'unknown');
  // A retry or a rewind puts the book back into an earlier bucket: it enters it again.
  const back = type === 'unparkBook' ? input.backTo : type === 'rewindBook' ? input.to : undefined;
  if (back) metrics.bookEntered(back);
  // A request that found the package already converted moved the token on (lean books).
  const entered =
    type === 'requestConversion' && (result as { converted?: string }).converted
      ? (['01_requested', '02_converted'] as const)
      : (facts?.enters ?? []);
  for (const bucket of entered) metrics.bookEntered(bucket);
  const stageEnds = entered.flatMap((bucket) => {
    const ended = stageEndingIn(bucket);
    return ended ? [{ ...ended, bucket }] : [];
  });
  if (stageEnds.length === 0 || !input.barcode) return;
  // Each stage finished: how long the book was in the bucket before (token arrival times).
  const token = await board.get(input.barcode);
  for (const { stage, from: before, bucket } of stageEnds) {
    const from = token?.stages[before];
    const to = token?.stages[bucket];
    if (from && to) metrics.stageDuration(stage, (Date.parse(to) - Date.parse(from)) / 1000);
  }
}

/** What an activity failure says of an unclassified error (the activity converted it, or threw it raw). */
function unexpectedError(err: unknown, attempt: number): { name: string; attempt: number } | undefined {
  if (err instanceof ApplicationFailure) return failureDetails(err).unexpected;
  if (err instanceof CancelledFailure || err instanceof PipelineError) return undefined;
  return { name: unexpectedName(err), attempt };
}
