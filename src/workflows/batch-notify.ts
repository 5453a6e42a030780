/**
 * How a book tells the batch that started it that it settled (stored, parked or cancelled).
 * Deterministic workflow code, called from the book workflow.
 */
import { getExternalWorkflowHandle, log } from '@temporalio/workflow';
import { bookSettledSignal, type BookInput, type BookSettled } from './contracts';

export async function tellBatch(input: BookInput, settled: BookSettled): Promise<void> {
  if (!input.batchWorkflowId) return;
  try {
    await getExternalWorkflowHandle(input.batchWorkflowId).signal(bookSettledSignal, settled);
  } catch (err) {
    // The batch may have finished or been cancelled; the book's own state is what matters.
    log.info('could not tell the batch that a book settled', { batch: input.batchWorkflowId, error: String(err) });
  }
}
