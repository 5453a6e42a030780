/**
 * A batch of any size as one workflow: keeps a window of book workflows in flight, starting the next
 * book as soon as one settles (stored, parked in `failed`, or cancelled), and continues as new before
 * its history grows large. Book workflows are started idempotently: a book whose workflow is running
 * or already finished is never started twice.
 *
 * The batch always ends with exact counts (the rules are in `BatchTracker`):
 *  - a book takes its window slot when its start is sent, so news that beats the start is kept;
 *  - before continuing as new it lets every start resolve and every handler finish, and carries all
 *    it knows into the next run in the same workflow task (a signal that arrives meanwhile makes
 *    Temporal reject that task, and the retried task sees the signal first);
 *  - every `reconcileIntervalSeconds` it asks Temporal what its in-flight and parked books are
 *    doing, so a lost signal delays the batch but cannot hang it.
 */
import {
  allHandlersFinished,
  condition,
  makeContinueAsNewFunc,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { BoardActivities } from '../activities';
import { bookWorkflow } from './book';
import { BatchTracker } from './batch-tracker';
import {
  BATCH_WORKFLOW_TASK_TIMEOUT_MS,
  batchProgressQuery,
  bookSettledSignal,
  booksSettledSignal,
  bookWorkflowId,
  type BatchInput,
  type BatchProgress,
  type BatchSummary,
} from './contracts';
import { GrinBarcode, GrinBatch, GrinDirectory, GrinStage } from './search-attributes';
import { batchCurrentDetails, bookStaticDetails, bookSummary, HANDLER_DESCRIPTIONS } from './metadata';

export type { BatchSummary } from './contracts';

const { readBatchBarcodes } = proxyActivities<BoardActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
});
const { settledBooks } = proxyActivities<BoardActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

const { writeBatchReport } = proxyActivities<BoardActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '5 minutes',
  retry: { maximumAttempts: 5 },
});

const { sendBatchNotification } = proxyActivities<BoardActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

/** Patch id (docs/workflow-changes.md): a finished batch writes its report to storage. */
export const BATCH_REPORT = 'batch-report';
/** Patch id (docs/workflow-changes.md): a finished batch tells the operator's notifications (src/notify). */
export const BATCH_NOTIFICATION = 'batch-notification';

/** Starts per run for batches whose input has none (started before BATCH_STARTS_PER_RUN); kept for their replay. */
const DEFAULT_STARTS_PER_RUN = 1000;
const DEFAULT_RECONCILE_SECONDS = 300;
/** Barcodes read from the list at once. */
const PAGE = 500;

export async function batchWorkflow(input: BatchInput): Promise<BatchSummary> {
  const books = new BatchTracker(input.state);
  const startsPerRun = input.startsPerRun ?? DEFAULT_STARTS_PER_RUN;
  const self = workflowInfo().workflowId;
  let total = input.total;
  let startsThisRun = 0;
  /** Barcodes read from the list and not started yet: list positions `books.offset` onwards. */
  let next: string[] = [];
  let startFailure: unknown;

  const progress = (): BatchProgress => ({ ...books.view(), batchId: input.batchId, total, window: input.window });
  /** The Web UI's current details: the counts (no command, so replay is unaffected). */
  const publish = () => setCurrentDetails(batchCurrentDetails(progress()));
  setHandler(
    bookSettledSignal,
    (settled) => {
      books.settled(settled);
      publish();
    },
    { description: HANDLER_DESCRIPTIONS.bookSettled },
  );
  setHandler(
    booksSettledSignal,
    (settled) => {
      for (const one of settled) books.settled(one);
      publish();
    },
    { description: HANDLER_DESCRIPTIONS.booksSettled },
  );
  setHandler(batchProgressQuery, progress, { description: HANDLER_DESCRIPTIONS.progress });

  const moreToStart = () => books.offset < total;
  const finished = () => !moreToStart() && books.occupied === 0;
  // Continue as new when this run started its share (and more remain), or when Temporal says so.
  const timeToContinue = () => (startsThisRun >= startsPerRun && moreToStart()) || workflowInfo().continueAsNewSuggested;
  const canStart = () => moreToStart() && books.occupied < input.window && !timeToContinue();

  void reconcileEvery(input.reconcileIntervalSeconds ?? DEFAULT_RECONCILE_SECONDS);

  for (;;) {
    publish();
    if (startFailure !== undefined) throw startFailure;
    if (finished()) break;
    if (timeToContinue()) {
      await condition(() => (books.startsResolved && allHandlersFinished()) || startFailure !== undefined);
      if (startFailure !== undefined) throw startFailure;
      if (finished()) break;
      // No await between the snapshot and the command: nothing can change the state in between. The
      // next run gets at least BATCH_WORKFLOW_TASK_TIMEOUT_MS (batches started with Temporal's 10 s too).
      const workflowTaskTimeout = Math.max(workflowInfo().taskTimeoutMs, BATCH_WORKFLOW_TASK_TIMEOUT_MS);
      await makeContinueAsNewFunc<typeof batchWorkflow>({ workflowTaskTimeout })({ ...input, total, state: books.snapshot() });
    }
    if (canStart()) {
      if (next.length === 0) {
        next = await readBatchBarcodes({
          file: input.barcodesFile,
          offset: books.offset,
          limit: Math.min(PAGE, startsPerRun - startsThisRun, total - books.offset),
        });
        if (next.length === 0) total = books.offset; // the list was shorter than announced
        continue;
      }
      // Fill every free slot now: these starts go out together in this workflow task.
      while (canStart() && next.length > 0) startBook(next.shift()!);
      continue;
    }
    await condition(() => canStart() || finished() || timeToContinue() || startFailure !== undefined);
  }
  await condition(allHandlersFinished);
  publish();
  // Batches recorded before the report existed finish without one, as they did.
  if (patched(BATCH_REPORT)) {
    try {
      const { keys } = await writeBatchReport.executeWithOptions({ summary: `report of batch ${input.batchId} to storage` }, [
        { batchId: input.batchId },
      ]);
      log.info('batch report written', { batchId: input.batchId, keys });
    } catch (err) {
      // The report is a convenience: `grin-pipeline report --batch` makes it again.
      log.warn('could not write the batch report', { batchId: input.batchId, error: String(err) });
    }
  }
  const summary = { batchId: input.batchId, total, ...books.counts };
  // Batches recorded before notifications finish without one. Best effort: never fails the batch.
  if (patched(BATCH_NOTIFICATION)) {
    try {
      await sendBatchNotification.executeWithOptions({ summary: `notify that batch ${input.batchId} finished` }, [
        { batchId: summary.batchId, total: summary.total, stored: summary.stored, failed: summary.failed, cancelled: summary.cancelled },
      ]);
    } catch (err) {
      log.warn('could not queue the batch notification', { batchId: input.batchId, error: String(err) });
    }
  }
  return summary;

  function startBook(barcode: string): void {
    books.startSent(barcode);
    startsThisRun++;
    const args = {
      barcode,
      directory: input.directory,
      batchId: input.batchId,
      batchWorkflowId: self,
      force: input.force,
      settings: input.settings,
    };
    startChild(bookWorkflow, {
      workflowId: bookWorkflowId(input.directory, barcode),
      args: [args],
      // What the Web UI's workflow list shows for the book (metadata only: replay does not compare it).
      staticSummary: bookSummary(args),
      staticDetails: bookStaticDetails(args),
      // Books outlive the batch run that started them (continue-as-new, or the batch being cancelled).
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // A book that finished (stored or cancelled) is never started again; a failed/terminated run may be.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      typedSearchAttributes: [
        { key: GrinBarcode, value: barcode },
        { key: GrinDirectory, value: input.directory },
        { key: GrinBatch, value: input.batchId },
        { key: GrinStage, value: '00_available' },
      ],
    }).then(
      (handle) => {
        // Outcomes arrive by signal or reconcile (they must survive continue-as-new); keep this promise handled.
        handle.result().catch(() => undefined);
        books.startResolved(barcode, true);
        publish();
      },
      (err: unknown) => {
        if (err instanceof WorkflowExecutionAlreadyStartedError) books.startResolved(barcode, false);
        else startFailure ??= err;
        publish();
      },
    );
  }

  /** Runs for the life of this run; asks Temporal about the books the batch still waits to hear from. */
  async function reconcileEvery(seconds: number): Promise<void> {
    for (;;) {
      await sleep(seconds * 1000);
      const watched = books.watched();
      if (watched.length === 0) continue;
      try {
        for (const settled of await settledBooks({ directory: input.directory, barcodes: watched })) books.settled(settled);
        publish();
      } catch (err) {
        log.warn("could not ask Temporal how the batch's books stand; trying again at the next interval", { error: String(err) });
      }
    }
  }
}
