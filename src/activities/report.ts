/**
 * `writeBatchReport`: at the end of a batch, the report of its books (from the board's tokens) goes to
 * storage under `meta/reports/`. Safe to run again: each run writes new, time-stamped objects.
 */
import { Context } from '@temporalio/activity';
import { reportFromBoard, storeReport } from '../report';
import type { ActivityDeps } from './deps';

export function createReportActivities(deps: Pick<ActivityDeps, 'board' | 'storage'>) {
  return {
    async writeBatchReport(input: { batchId: string }): Promise<{ keys: string[]; books: number }> {
      const report = await reportFromBoard(deps.board, { batchId: input.batchId });
      Context.current().heartbeat();
      const keys = await storeReport(deps.storage, report, `batch-${input.batchId}`);
      return { keys, books: report.rows.length };
    },
  };
}
