/**
 * The error protocol at the activity boundary, as an SDK activity interceptor registered on every
 * worker (see `activityInterceptors` in src/worker.ts), so that no activity converts its own errors:
 * whatever an activity throws leaves as the ApplicationFailure failures.ts makes of it (a cancelled
 * activity stays cancelled). For the activities the stage table marks `waits` (common/stages.ts),
 * the outcome also goes to the book's waits (waiting.ts): a failure naming what it waits for shows on
 * the book's token and in the log, a success ends the wait.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Board } from '../buckets/board';
import { activityFacts } from '../common/stages';
import { failureOf } from './failures';
import { BookWaits, processFaultReporter, type FaultReporter } from './waiting';

export function failureInterceptor(
  board: Pick<Board, 'update'>,
  reporter: FaultReporter = processFaultReporter,
): ActivityInterceptorsFactory {
  const waits = new BookWaits(board, reporter);
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const barcode = activityFacts(ctx.info.activityType)?.waits ? barcodeOf(input.args[0]) : undefined;
        try {
          const result = await next(input);
          if (barcode) waits.succeeded(barcode);
          return result;
        } catch (err) {
          const failure = failureOf(err);
          if (barcode) await waits.failed(barcode, failure);
          throw failure;
        }
      },
    },
  });
}

/** The barcode a book activity's input names (every activity marked `waits` takes `{ barcode }`). */
function barcodeOf(arg: unknown): string | undefined {
  const barcode = (arg as { barcode?: unknown } | undefined)?.barcode;
  return typeof barcode === 'string' ? barcode : undefined;
}
