/**
 * `grin-pipeline reconcile --from-temporal`: rebuild or repair the board from Temporal's view when
 * the board folder was lost or moved. Temporal's view of a book is its latest workflow run: the
 * `GrinStage` search attribute from visibility, refined by the `status` query of a running workflow
 * (state, file host, archive name, last error). A running or completed workflow is authoritative;
 * a closed one that did not complete (terminated, failed) only fills in a missing token.
 */
import pLimit from 'p-limit';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Board } from '../buckets/board';
import { isBucket, type Bucket, type BookToken } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
import { statusQuery, type BookStatus } from '../workflows/contracts';
import { GrinBarcode, GrinBatch, GrinStage } from '../workflows/search-attributes';

export interface ReconcileFromTemporalOptions {
  dryRun?: boolean;
  /** Longest wait for a running workflow's `status` query (no worker may be up). */
  queryTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ReconcileFromTemporalSummary {
  /** Books Temporal knows (latest run per workflow id). */
  known: number;
  /** Tokens written because the board had none. */
  rebuilt: string[];
  /** Tokens moved to the bucket Temporal says. */
  moved: string[];
  /** Board and Temporal disagree, but Temporal's run is not authoritative (closed without completing). */
  disagreements: string[];
  agreed: number;
}

interface TemporalView {
  barcode: string;
  bucket: Bucket;
  authoritative: boolean;
  describe: string;
  live?: BookStatus;
  info: WorkflowExecutionInfo;
}

export async function reconcileFromTemporal(client: Client, config: PipelineConfig, board: Board, opts: ReconcileFromTemporalOptions = {}): Promise<ReconcileFromTemporalSummary> {
  const log = opts.log ?? (() => undefined);
  const latest = new Map<string, WorkflowExecutionInfo>();
  const query = `WorkflowType = 'bookWorkflow' AND GrinDirectory = '${config.grin.directory}'`;
  for await (const info of client.workflow.list({ query })) {
    const seen = latest.get(info.workflowId);
    if (!seen || info.startTime > seen.startTime) latest.set(info.workflowId, info);
  }
  const summary: ReconcileFromTemporalSummary = { known: latest.size, rebuilt: [], moved: [], disagreements: [], agreed: 0 };
  const limit = pLimit(16);
  await Promise.all(
    [...latest.values()].map((info) =>
      limit(async () => {
        const view = await temporalView(client, info, opts.queryTimeoutMs ?? 10_000);
        if (!view) return;
        const onBoard = await board.locate(view.barcode);
        const says = `board: ${onBoard ?? 'no token'}, Temporal: ${view.bucket} (${view.describe})`;
        if (onBoard === view.bucket) {
          summary.agreed++;
          return;
        }
        if (onBoard === null) {
          if (!opts.dryRun) await board.move(view.barcode, view.bucket, tokenPatch(config, view, 'rebuilt from Temporal'));
          summary.rebuilt.push(view.barcode);
          log(`${view.barcode}: ${says} → ${opts.dryRun ? 'would write' : 'wrote'} the token in ${view.bucket}`);
        } else if (view.authoritative) {
          if (!opts.dryRun) await board.move(view.barcode, view.bucket, tokenPatch(config, view, `repaired from Temporal (the board had it in ${onBoard})`));
          summary.moved.push(view.barcode);
          log(`${view.barcode}: ${says} → ${opts.dryRun ? 'would move' : 'moved'} the token to ${view.bucket}`);
        } else {
          summary.disagreements.push(view.barcode);
          log(`${view.barcode}: ${says} → left as the board says (that run did not complete; \`resume\` continues from the board)`);
        }
      }),
    ),
  );
  return summary;
}

async function temporalView(client: Client, info: WorkflowExecutionInfo, queryTimeoutMs: number): Promise<TemporalView | undefined> {
  const barcode = info.typedSearchAttributes.get(GrinBarcode) ?? info.workflowId.split('/').pop();
  const stage = info.typedSearchAttributes.get(GrinStage);
  if (!barcode) return undefined;
  const status = info.status.name;
  let live: BookStatus | undefined;
  if (status === 'RUNNING') {
    live = await withTimeout(client.workflow.getHandle(info.workflowId, info.runId).query(statusQuery), queryTimeoutMs).catch(() => undefined);
  }
  const bucket: string | undefined = live ? (live.state === 'parked' ? 'failed' : live.state === 'stored' ? '07_stored' : live.state === 'cancelled' ? 'cancelled' : live.bucket) : stage;
  if (!bucket || !isBucket(bucket)) return undefined;
  const describe = status === 'RUNNING' ? (live ? `running: ${live.activity}` : 'running; status query unanswered, stage from visibility') : status.toLowerCase();
  return { barcode, bucket, authoritative: status === 'RUNNING' || status === 'COMPLETED', describe, live, info };
}

function tokenPatch(config: PipelineConfig, view: TemporalView, status: string): Partial<BookToken> {
  const { live } = view;
  const batchId = view.info.typedSearchAttributes.get(GrinBatch);
  return {
    directory: config.grin.directory,
    workflowId: view.info.workflowId,
    status,
    ...(batchId ? { batchId } : {}),
    ...(live?.fileQueue ? { fileQueue: live.fileQueue } : {}),
    ...(live?.grinFilename ? { grinFilename: live.grinFilename } : {}),
    ...(view.bucket === 'failed' && live?.lastError ? { lastError: { ...live.lastError, at: new Date().toISOString() } } : {}),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function formatReconcileSummary(s: ReconcileFromTemporalSummary, dryRun = false): string {
  return (
    `Temporal knows ${s.known} book workflow(s): ${s.agreed} agree with the board; ` +
    `${s.rebuilt.length} token(s) ${dryRun ? 'would be' : ''} rebuilt (missing on the board), ${s.moved.length} ${dryRun ? 'would be' : ''} moved to Temporal's bucket, ` +
    `${s.disagreements.length} left as the board says`
  ).replace(/ {2}/g, ' ');
}
