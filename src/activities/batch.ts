/**
 * How a batch and its books talk through Temporal's client (the worker's own, `getClient()`):
 *  - `notifyBatch`: a book tells the batch that started it that it settled. A batch that has
 *    finished is an answer, not an error (a retried book may settle long after its batch ended).
 *  - `settledBooks`: the batch asks what its in-flight and parked books are really doing, so a
 *    lost signal delays the batch but never hangs it.
 * Both run on the workflow task queue; both are safe to run again (a signal counted twice is a
 * no-op in the batch, and a describe changes nothing).
 */
import { Context, getClient } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { booksSettledSignal, bookWorkflowId, type BatchNotice, type BookSettled } from '../workflows/contracts';
import { BatchNoticeCoalescer, type CoalescerOptions } from './batch-notices';
import { GrinStage } from '../workflows/search-attributes';

/** Books described at once: enough to sweep a window of thousands in seconds, few enough to be polite. */
const DESCRIBES_AT_ONCE = 16;

export function createBatchActivities(opts: { notices?: CoalescerOptions } = {}) {
  const notices = new BatchNoticeCoalescer<Client>(async (client, batchWorkflowId, settled) => {
    try {
      // No run id: the signal goes to the batch's current run, whichever continue-as-new it is on.
      await client.workflow.getHandle(batchWorkflowId).signal(booksSettledSignal, settled);
      return 'delivered';
    } catch (err) {
      if (isNotFound(err)) return 'batch-not-running';
      throw err;
    }
  }, opts.notices);
  return {
    /** Resolves once the batch has the news, sent with other books' news to the same batch (batch-notices.ts). */
    async notifyBatch(input: { batchWorkflowId: string; settled: BookSettled }): Promise<BatchNotice> {
      return notices.tell(getClient(), input.batchWorkflowId, input.settled);
    },

    /** The books among `barcodes` that have settled, with how; books still at work are left out. */
    async settledBooks(input: { directory: string; barcodes: string[] }): Promise<BookSettled[]> {
      const client = getClient();
      const settled: BookSettled[] = [];
      for (let i = 0; i < input.barcodes.length; i += DESCRIBES_AT_ONCE) {
        const chunk = input.barcodes.slice(i, i + DESCRIBES_AT_ONCE);
        const outcomes = await Promise.all(
          chunk.map(async (barcode) => {
            try {
              return outcomeOf(await client.workflow.getHandle(bookWorkflowId(input.directory, barcode)).describe());
            } catch (err) {
              // The batch started it, so it existed: gone means it closed long enough ago to be deleted.
              if (isNotFound(err)) return 'failed' as const;
              throw err;
            }
          }),
        );
        chunk.forEach((barcode, j) => {
          const outcome = outcomes[j];
          if (outcome) settled.push({ barcode, outcome });
        });
        Context.current().heartbeat(i);
      }
      return settled;
    },
  };
}

/** How a book's workflow stands, in the batch's terms; undefined while it is still at work. */
export function outcomeOf(d: Pick<WorkflowExecutionDescription, 'status' | 'typedSearchAttributes'>): BookSettled['outcome'] | undefined {
  const stage = d.typedSearchAttributes.get(GrinStage);
  switch (d.status.name) {
    case 'RUNNING':
    case 'PAUSED':
      // A parked book's workflow waits for `retry` or `cancel`; for the batch it has settled.
      if (stage === 'failed') return 'failed';
      // Stored or cancelled, about to tell the batch and return.
      if (stage === '07_stored') return 'stored';
      if (stage === 'cancelled') return 'cancelled';
      return undefined;
    case 'COMPLETED':
      return stage === 'cancelled' ? 'cancelled' : 'stored';
    case 'FAILED':
    case 'CANCELLED':
    case 'TERMINATED':
    case 'TIMED_OUT':
      // Ended without storing the book (a new run may store it, and then says so).
      return 'failed';
    default:
      return undefined;
  }
}

export function isNotFound(err: unknown): boolean {
  // Over the worker's native connection the client may surface the gRPC status rather than the typed error.
  return err instanceof WorkflowNotFoundError || (err as { code?: unknown })?.code === 5;
}

export type BatchActivities = ReturnType<typeof createBatchActivities>;
