/**
 * How a book tells the batch that started it that it settled (stored, parked or cancelled).
 * Deterministic workflow code, called from the book workflow.
 *
 * The news goes through the `notifyBatch` activity rather than a workflow-to-workflow signal: a
 * book may settle long after its batch finished (a parked book retried next week), and a signal
 * to a closed workflow is a red "Signal External Workflow Execution Failed" event in the book's
 * history. The activity answers "batch not running" instead. Books whose history predates this
 * (no `NOTIFY_BATCH_BY_ACTIVITY` marker) keep signalling directly, so their histories replay.
 * Nothing here can fail the book: if the news is lost, the batch's periodic reconcile finds it.
 */
import { getExternalWorkflowHandle, log, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BoardActivities } from '../activities';
import { bookSettledSignal, type BookInput, type BookSettled } from './contracts';

export const NOTIFY_BATCH_BY_ACTIVITY = 'notify-batch-by-activity';

const NOTIFY_OPTIONS = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 20 },
} as const;
const { notifyBatch } = proxyActivities<BoardActivities>(NOTIFY_OPTIONS);
const notifyBatchLocally = proxyLocalActivities<BoardActivities>(NOTIFY_OPTIONS).notifyBatch;

/** `local`: as a local activity (one marker event; books from the `lean-book` patch on, which postdate the activity route). */
export async function tellBatch(input: BookInput, settled: BookSettled, opts: { local?: boolean } = {}): Promise<void> {
  const batch = input.batchWorkflowId;
  if (!batch) return;
  if (!opts.local && !patched(NOTIFY_BATCH_BY_ACTIVITY)) {
    await signalDirectly(batch, settled);
    return;
  }
  try {
    const notify = opts.local ? notifyBatchLocally : notifyBatch;
    const notice = await notify({ batchWorkflowId: batch, settled });
    if (notice === 'batch-not-running') log.info('the batch that started this book has finished; nothing to tell it', { batch });
  } catch (err) {
    log.warn('could not tell the batch that a book settled; its reconcile will find out', { batch, error: String(err) });
  }
}

/** The original way, kept for books whose histories already contain it. */
async function signalDirectly(batch: string, settled: BookSettled): Promise<void> {
  try {
    await getExternalWorkflowHandle(batch).signal(bookSettledSignal, settled);
  } catch (err) {
    log.info('could not tell the batch that a book settled', { batch, error: String(err) });
  }
}
