/**
 * A batch of any size as one workflow: keeps a sliding window of book workflows in flight, starting
 * a new one whenever a book settles (stored, parked in `failed`, or cancelled), and continues as new
 * before its history grows large. Book workflows are started idempotently: a book whose workflow is
 * running or already finished is never started twice.
 */
import {
  condition,
  continueAsNew,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { BoardActivities } from '../activities';
import { bookWorkflow } from './book';
import {
  batchProgressQuery,
  bookSettledSignal,
  bookWorkflowId,
  type BatchInput,
  type BatchProgress,
  type BatchState,
} from './contracts';
import { GrinBarcode, GrinBatch, GrinDirectory, GrinStage } from './search-attributes';

const { readBatchBarcodes } = proxyActivities<BoardActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
});

/** Starts per run before continuing as new keeps each run's history far below Temporal's limits. */
const DEFAULT_STARTS_PER_RUN = 1000;
const PAGE = 500;

export interface BatchSummary {
  batchId: string;
  total: number;
  started: number;
  alreadyKnown: number;
  stored: number;
  failed: number;
  cancelled: number;
}

export async function batchWorkflow(input: BatchInput): Promise<BatchSummary> {
  const state: BatchState = input.state ?? { offset: 0, inFlight: [], started: 0, alreadyKnown: 0, stored: 0, failed: 0, cancelled: 0 };
  const inFlight = new Set(state.inFlight);
  let total = input.total;
  let startsThisRun = 0;
  const self = workflowInfo().workflowId;

  setHandler(bookSettledSignal, ({ barcode, outcome }) => {
    // Only books this batch is waiting for count; a book retried later may signal again.
    if (!inFlight.delete(barcode)) return;
    state[outcome]++;
  });
  setHandler(batchProgressQuery, (): BatchProgress => ({ ...snapshot(), batchId: input.batchId, total, window: input.window }));

  const snapshot = (): BatchState => ({ ...state, inFlight: [...inFlight] });
  const moreToStart = () => state.offset < total;

  for (;;) {
    while (moreToStart() && inFlight.size < input.window) {
      const page = await readBatchBarcodes({ file: input.barcodesFile, offset: state.offset, limit: Math.min(PAGE, input.window - inFlight.size) });
      if (page.length === 0) {
        total = state.offset; // the list was shorter than announced
        break;
      }
      // A page of starts goes out in one workflow task instead of one round trip per book.
      const started = await Promise.all(page.map(startBook));
      page.forEach((barcode, i) => {
        if (started[i]) {
          inFlight.add(barcode);
          state.started++;
        } else {
          state.alreadyKnown++;
        }
      });
      startsThisRun += page.length;
      state.offset += page.length;
      if (startsThisRun >= (input.startsPerRun ?? DEFAULT_STARTS_PER_RUN) || workflowInfo().continueAsNewSuggested) {
        await continueAsNew<typeof batchWorkflow>({ ...input, total, state: snapshot() });
      }
    }
    if (!moreToStart() && inFlight.size === 0) break;
    await condition(() => (moreToStart() && inFlight.size < input.window) || (!moreToStart() && inFlight.size === 0) || workflowInfo().continueAsNewSuggested);
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof batchWorkflow>({ ...input, total, state: snapshot() });
    }
  }
  return {
    batchId: input.batchId,
    total,
    started: state.started,
    alreadyKnown: state.alreadyKnown,
    stored: state.stored,
    failed: state.failed,
    cancelled: state.cancelled,
  };

  async function startBook(barcode: string): Promise<boolean> {
    try {
      const handle = await startChild(bookWorkflow, {
        workflowId: bookWorkflowId(input.directory, barcode),
        args: [{ barcode, directory: input.directory, batchId: input.batchId, batchWorkflowId: self, force: input.force, settings: input.settings }],
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
      });
      // Results arrive by signal (they must survive continue-as-new); keep the promise handled.
      handle.result().catch(() => undefined);
      return true;
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
      throw err;
    }
  }
}
