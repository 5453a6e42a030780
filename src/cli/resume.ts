/**
 * `grin-pipeline resume`: the board is the seed's promise that a migration restarts from its folders.
 * For every token not in `07_stored` or `cancelled` whose book has no running workflow (Temporal lost
 * its data, a workflow was terminated), start one; it continues from the token's bucket. A book
 * parked in `failed` comes back parked, with its reason, waiting for `retry` as before.
 */
import pLimit from 'p-limit';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Board } from '../buckets/board';
import { BUCKETS, type Bucket, type BookToken } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
import type { bookWorkflow } from '../workflows/book';
import { bookWorkflowId, type BookSettings } from '../workflows/contracts';
import { bookStaticDetails, bookSummary } from '../workflows/metadata';
import { GrinBarcode, GrinBatch, GrinDirectory, GrinStage } from '../workflows/search-attributes';
import { ensureSearchAttributes } from './common';

/** Buckets whose books are finished: nothing to resume. */
const SETTLED: readonly Bucket[] = ['07_stored', 'cancelled'];

export interface ResumeOptions {
  settings: BookSettings;
  dryRun?: boolean;
  /** Describes/starts in flight at once against the Temporal server. */
  concurrency?: number;
  /** Only these books (e.g. `reconcile --fix` resuming books whose workflow closed unfinished). */
  only?: ReadonlySet<string>;
  log?: (line: string) => void;
}

export interface ResumeSummary {
  /** Books a workflow was started for (or would be, with --dry-run), by bucket. */
  started: Partial<Record<Bucket, string[]>>;
  /** Books whose workflow is already running: left alone. */
  running: number;
  /** Books whose token could not be read (reported by the board). */
  problems: string[];
}

export async function resumeFromBoard(client: Client, config: PipelineConfig, board: Board, opts: ResumeOptions): Promise<ResumeSummary> {
  const log = opts.log ?? (() => undefined);
  if (!opts.dryRun) await ensureSearchAttributes(client, config.temporal.namespace);
  const summary: ResumeSummary = { started: {}, running: 0, problems: [] };
  const limit = pLimit(opts.concurrency ?? 16);
  for (const bucket of BUCKETS.filter((b) => !SETTLED.includes(b))) {
    const { tokens, problems } = await board.list(bucket);
    summary.problems.push(...problems.map((p) => `${p.bucket}/${p.file}: ${p.problem}`));
    await Promise.all(
      tokens
        .filter((token) => !opts.only || opts.only.has(token.barcode))
        .map((token) =>
          limit(async () => {
            if (await hasRunningWorkflow(client, config, token.barcode)) {
              summary.running++;
              return;
            }
            if (!opts.dryRun && !(await startBook(client, config, token, opts.settings))) {
              summary.running++; // started by someone else in the meantime
              return;
            }
            (summary.started[bucket] ??= []).push(token.barcode);
            log(
              `${token.barcode}: ${opts.dryRun ? 'would start' : 'started'} (board: ${bucket}${bucket === 'failed' ? ', comes back parked until retry' : ''})`,
            );
          }),
        ),
    );
  }
  for (const list of Object.values(summary.started)) list.sort();
  return summary;
}

async function hasRunningWorkflow(client: Client, config: PipelineConfig, barcode: string): Promise<boolean> {
  try {
    const described = await client.workflow.getHandle(bookWorkflowId(config.grin.directory, barcode)).describe();
    return described.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Starts the book's workflow; false if one was started meanwhile. */
async function startBook(client: Client, config: PipelineConfig, token: BookToken, settings: BookSettings): Promise<boolean> {
  const input = { barcode: token.barcode, directory: config.grin.directory, batchId: token.batchId, settings };
  try {
    await client.workflow.start<typeof bookWorkflow>('bookWorkflow', {
      workflowId: bookWorkflowId(config.grin.directory, token.barcode),
      taskQueue: config.temporal.workflowTaskQueue,
      args: [input],
      // Any earlier run is closed (checked above): this run takes over from the board.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      staticSummary: bookSummary(input, token.marc?.title),
      staticDetails: bookStaticDetails(input),
      typedSearchAttributes: [
        { key: GrinBarcode, value: token.barcode },
        { key: GrinDirectory, value: config.grin.directory },
        { key: GrinStage, value: token.bucket },
        ...(token.batchId ? [{ key: GrinBatch, value: token.batchId }] : []),
      ],
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

export function formatResumeSummary(summary: ResumeSummary, dryRun = false): string {
  const started = Object.entries(summary.started);
  const total = started.reduce((n, [, list]) => n + list.length, 0);
  const byBucket = started.map(([bucket, list]) => `${bucket} ${list.length}`).join(', ');
  return (
    `${total} book workflow(s) ${dryRun ? 'would be started' : 'started'} from the board${total ? ` (board buckets: ${byBucket})` : ''}; ` +
    `${summary.running} already running in Temporal, left alone` +
    (summary.problems.length ? `; ${summary.problems.length} unreadable token(s) on the board:\n  ${summary.problems.join('\n  ')}` : '')
  );
}
