/**
 * `grin-pipeline reconcile --from-temporal`: rebuild or repair the board from Temporal's view when
 * the board folder was lost or moved. Temporal's view of a book is its latest workflow run: the
 * `GrinStage` search attribute from visibility, refined by the `status` query of a running workflow
 * (state, file host, archive name, last error). A running or completed workflow is authoritative;
 * a closed one that did not complete (terminated, failed) only fills in a missing token.
 *
 * Two more findings, reported and never silently agreed with:
 *  - stranded books: the latest run closed without completing (CANCELLED, TERMINATED, FAILED, TIMED_OUT)
 *    while the token still says the book is parked or on its way, so nothing will move it. A cancel
 *    is finished as `cancel` would (token to `cancelled`, local files removed); any other closure is
 *    resumed from the board (`resume`). Each line prints the command; `--fix` applies it.
 *  - unreadable tokens: reported, and rebuilt from an authoritative run unless `--dry-run`; the
 *    walk goes on to the next book either way.
 */
import { rm } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { TokenFileError, type Board } from '../buckets/board';
import { bookPaths } from '../activities/deps';
import { isBucket, type Bucket, type BookToken } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
import { statusQuery, type BookStatus } from '../workflows/contracts';
import { GrinBarcode, GrinBatch, GrinStage } from '../workflows/search-attributes';

export interface ReconcileFromTemporalOptions {
  dryRun?: boolean;
  /** Longest wait for a running workflow's `status` query (no worker may be up). */
  queryTimeoutMs?: number;
  /** Apply the fix of each stranded book (see the module comment); otherwise it is only printed. */
  fix?: boolean;
  /** Resumes the given books from the board (`resume`), for `--fix` of stranded books. */
  resume?: (barcodes: string[]) => Promise<void>;
  log?: (line: string) => void;
}

/** A book whose latest run closed without completing while its token says it is parked or on its way. */
export interface StrandedBook {
  barcode: string;
  /** How its latest run closed, e.g. `CANCELLED`. */
  workflow: string;
  board: Bucket;
  /** The command that settles it. */
  fix: string;
  fixed: boolean;
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
  /** Closed runs whose token says parked or running (see StrandedBook). */
  stranded: StrandedBook[];
  /** Books whose token could not be read, with the reason (rebuilt from Temporal when listed in `rebuilt` too). */
  unreadable: string[];
  agreed: number;
}

/** Closures that leave nothing to move the book on: the board must not keep saying it is parked or running. */
const CLOSED_UNFINISHED = new Set(['CANCELLED', 'TERMINATED', 'FAILED', 'TIMED_OUT']);
const SETTLED_BUCKETS: readonly Bucket[] = ['07_stored', 'cancelled'];

interface TemporalView {
  barcode: string;
  bucket: Bucket;
  authoritative: boolean;
  describe: string;
  live?: BookStatus;
  info: WorkflowExecutionInfo;
}

export async function reconcileFromTemporal(
  client: Client,
  config: PipelineConfig,
  board: Board,
  opts: ReconcileFromTemporalOptions = {},
): Promise<ReconcileFromTemporalSummary> {
  const log = opts.log ?? (() => undefined);
  const latest = new Map<string, WorkflowExecutionInfo>();
  const query = `WorkflowType = 'bookWorkflow' AND GrinDirectory = '${config.grin.directory}'`;
  for await (const info of client.workflow.list({ query })) {
    const seen = latest.get(info.workflowId);
    if (!seen || info.startTime > seen.startTime) latest.set(info.workflowId, info);
  }
  const summary: ReconcileFromTemporalSummary = {
    known: latest.size,
    rebuilt: [],
    moved: [],
    disagreements: [],
    stranded: [],
    unreadable: [],
    agreed: 0,
  };
  const toResume: string[] = [];
  const limit = pLimit(16);
  await Promise.all(
    [...latest.values()].map((info) =>
      limit(async () => {
        const view = await temporalView(client, info, opts.queryTimeoutMs ?? 10_000);
        if (!view) return;
        let onBoard: Bucket | null;
        try {
          onBoard = await board.locate(view.barcode);
        } catch (err) {
          if (!(err instanceof TokenFileError)) throw err;
          summary.unreadable.push(`${view.barcode}: ${err.message}`);
          const rebuild = view.authoritative && !opts.dryRun;
          if (rebuild) {
            await board.rebuild(view.barcode, view.bucket, {
              ...tokenPatch(config, view, 'rebuilt from Temporal (the token was unreadable)'),
              directory: config.grin.directory,
            });
            summary.rebuilt.push(view.barcode);
          }
          log(
            `${view.barcode}: token unreadable (${err.message}); Temporal: ${view.bucket} (${view.describe}) → ${rebuild ? `set aside and rebuilt in ${view.bucket}` : view.authoritative ? `would rebuild it in ${view.bucket}` : 'left for an operator (that run did not complete)'}`,
          );
          return;
        }
        const says = `board: ${onBoard ?? 'no token'}, Temporal: ${view.bucket} (${view.describe})`;
        const closed = view.info.status.name;
        if (onBoard && CLOSED_UNFINISHED.has(closed) && !SETTLED_BUCKETS.includes(onBoard)) {
          // Nothing runs for this book any more, whatever GrinStage last said: finish what the closure meant.
          const cancelled = closed === 'CANCELLED';
          const fix = cancelled ? 'grin-pipeline reconcile --from-temporal --fix' : 'grin-pipeline resume';
          const stranded: StrandedBook = { barcode: view.barcode, workflow: closed, board: onBoard, fix, fixed: false };
          if (opts.fix && !opts.dryRun) {
            if (cancelled) await cancelOnBoard(config, board, view);
            else toResume.push(view.barcode);
            stranded.fixed = cancelled || !!opts.resume;
          }
          summary.stranded.push(stranded);
          const what = cancelled ? 'token to cancelled, local files removed' : 'a new run continues from the board';
          log(
            `${view.barcode}: board: ${onBoard}, but its workflow closed as ${closed}: nothing will move it → ` +
              (stranded.fixed ? `fixed (${what})` : `fix: ${fix} (${what})`),
          );
          return;
        }
        if (onBoard === view.bucket) {
          summary.agreed++;
          return;
        }
        if (onBoard === null) {
          if (!opts.dryRun) await board.move(view.barcode, view.bucket, tokenPatch(config, view, 'rebuilt from Temporal'));
          summary.rebuilt.push(view.barcode);
          log(`${view.barcode}: ${says} → ${opts.dryRun ? 'would write' : 'wrote'} the token in ${view.bucket}`);
        } else if (view.authoritative) {
          if (!opts.dryRun)
            await board.move(
              view.barcode,
              view.bucket,
              tokenPatch(config, view, `repaired from Temporal (the board had it in ${onBoard})`),
            );
          summary.moved.push(view.barcode);
          log(`${view.barcode}: ${says} → ${opts.dryRun ? 'would move' : 'moved'} the token to ${view.bucket}`);
        } else {
          summary.disagreements.push(view.barcode);
          log(`${view.barcode}: ${says} → left as the board says (that run did not complete; \`resume\` continues from the board)`);
        }
      }),
    ),
  );
  if (toResume.length && opts.resume) await opts.resume(toResume.sort());
  return summary;
}

/** What `cancel` does, for a book whose workflow was cancelled through Temporal before it could. */
async function cancelOnBoard(config: PipelineConfig, board: Board, view: TemporalView): Promise<void> {
  await board.move(view.barcode, 'cancelled', {
    directory: config.grin.directory,
    status: `cancelled through Temporal (its workflow closed as CANCELLED; settled by reconcile)`,
  });
  const paths = bookPaths(config.processingDir, view.barcode);
  await rm(paths.unpacked, { force: true });
  await Promise.all(Object.values(paths).map((p) => rm(p, { recursive: true, force: true })));
}

async function temporalView(client: Client, info: WorkflowExecutionInfo, queryTimeoutMs: number): Promise<TemporalView | undefined> {
  const barcode = info.typedSearchAttributes.get(GrinBarcode) ?? info.workflowId.split('/').pop();
  const stage = info.typedSearchAttributes.get(GrinStage);
  if (!barcode) return undefined;
  const status = info.status.name;
  let live: BookStatus | undefined;
  if (status === 'RUNNING') {
    live = await withTimeout(client.workflow.getHandle(info.workflowId, info.runId).query(statusQuery), queryTimeoutMs).catch(
      () => undefined,
    );
  }
  const bucket: string | undefined = live
    ? live.state === 'parked'
      ? 'failed'
      : live.state === 'stored'
        ? '07_stored'
        : live.state === 'cancelled'
          ? 'cancelled'
          : live.bucket
    : stage;
  if (!bucket || !isBucket(bucket)) return undefined;
  const describe =
    status === 'RUNNING'
      ? live
        ? `running: ${live.activity}`
        : 'running; status query unanswered, stage from visibility'
      : status.toLowerCase();
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
    `${s.disagreements.length} left as the board says` +
    (s.stranded.length
      ? `; ${s.stranded.length} stranded (closed workflow, token parked or running), ${s.stranded.filter((b) => b.fixed).length} fixed`
      : '') +
    (s.unreadable.length ? `; ${s.unreadable.length} unreadable token(s)` : '')
  ).replace(/ {2}/g, ' ');
}
