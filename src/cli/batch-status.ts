/**
 * `batch-status`: how a batch stands. Where its books are comes from Temporal's visibility (each
 * book's `GrinStage`, for the books this batch started), not from the batch's memory, so a book
 * parked during the batch and stored after a retry next week counts as stored. The batch workflow
 * adds what only it knows: how far down its list it got, what is in flight, books already known.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BUCKETS, type Bucket } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
import { batchProgressQuery, batchWorkflowId, type BatchProgress, type BatchSummary } from '../workflows/contracts';
import type { StallReport } from '../liveness/stalls';
import { UsageError } from './common';
import { formatStalls } from './stalls';
import { validateBatchId } from './batch-id';

export interface BatchStatus {
  batchId: string;
  workflowId: string;
  /** The batch workflow: still starting and following books, finished, or ended otherwise (terminated, failed). */
  state: 'running' | 'finished' | 'ended';
  /** While running: its live progress (absent if no worker could answer the query). */
  progress?: BatchProgress;
  /** Once finished: what it counted when it ended. */
  summary?: BatchSummary;
  /** Books this batch started, by the bucket their workflow reports now (Temporal visibility; may lag seconds). */
  books: Record<Bucket, number>;
  /** Book workflows of this batch that ended without storing (terminated, failed, timed out). */
  ended: number;
  /** The deployment's stalled queues and books now (any batch's), when they could be read. */
  stalls?: StallReport;
}

export async function batchStatus(client: Client, config: PipelineConfig, batchId: string): Promise<BatchStatus> {
  validateBatchId(batchId, 'batch id');
  const workflowId = batchWorkflowId(config.grin.directory, batchId);
  const handle = client.workflow.getHandle(workflowId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new UsageError(
        `No batch "${batchId}" in directory ${config.grin.directory} on ${config.temporal.address}: check the id (start-batch prints it; ` +
          `the Web UI lists batches with WorkflowType = "batchWorkflow") and that -c names the right config.`,
      );
    }
    throw err;
  }
  const report: BatchStatus = {
    batchId,
    workflowId,
    state: status === 'RUNNING' ? 'running' : status === 'COMPLETED' ? 'finished' : 'ended',
    ...(await bookCounts(client, config.grin.directory, batchId)),
  };
  if (report.state === 'running') {
    // A query needs a worker; the counts above stand without one.
    report.progress = await handle.query(batchProgressQuery).catch(() => undefined);
  } else if (report.state === 'finished') {
    report.summary = (await handle.result()) as BatchSummary;
  }
  return report;
}

async function bookCounts(client: Client, directory: string, batchId: string): Promise<Pick<BatchStatus, 'books' | 'ended'>> {
  const ofBatch = `WorkflowType = "bookWorkflow" AND GrinDirectory = "${directory}" AND GrinBatch = "${batchId}"`;
  const count = async (query: string) => (await client.workflow.count(`${ofBatch} AND ${query}`)).count;
  const [ended, ...perBucket] = await Promise.all([
    count('ExecutionStatus IN ("Failed", "Terminated", "TimedOut", "Canceled")'),
    // Running or completed: the run that speaks for the book now.
    ...BUCKETS.map((bucket) => count(`ExecutionStatus IN ("Running", "Completed") AND GrinStage = "${bucket}"`)),
  ]);
  return { books: Object.fromEntries(BUCKETS.map((b, i) => [b, perBucket[i]])) as Record<Bucket, number>, ended };
}

export function formatBatchStatus(s: BatchStatus): string {
  const inProgress = BUCKETS.filter((b) => !['07_stored', 'failed', 'cancelled'].includes(b)).reduce((n, b) => n + s.books[b], 0);
  const lines = [`batch ${s.batchId} (workflow ${s.workflowId}): ${s.state}`];
  if (s.progress) {
    const p = s.progress;
    lines.push(
      `  list: ${p.offset}/${p.total} started or skipped, ${p.inFlight.length} in flight (window ${p.window}), ${p.alreadyKnown} already known (their workflows existed before)`,
    );
  }
  if (s.summary) {
    const r = s.summary;
    lines.push(
      `  when it finished: ${r.total} books, ${r.started} started, ${r.alreadyKnown} already known; ${r.stored} stored, ${r.failed} parked, ${r.cancelled} cancelled`,
    );
  }
  lines.push(
    `  now, books this batch started: ${s.books['07_stored']} stored, ${s.books.failed} parked in failed, ${s.books.cancelled} cancelled, ${inProgress} in progress` +
      (s.ended ? `, ${s.ended} workflow run(s) ended without storing (terminated or failed)` : '') +
      ' (Temporal visibility; may lag a few seconds)',
  );
  if (s.stalls) lines.push(...formatStalls(s.stalls).map((l) => `  ${l}`));
  return lines.join('\n');
}
