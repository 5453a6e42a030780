/**
 * Workflows for bench/temporal-floor.ts: the book workflow's shape with no work in it. A parent
 * starts every "book" as a child (as the batch does); each book records the same kinds of events
 * the pipeline's book records on the happy path (two search-attribute upserts, three local
 * activities, a chain of activities on three task queues), but every activity returns at once.
 * What such a run costs is what Temporal costs per book for this shape: the floor under ours.
 */
import { ParentClosePolicy, proxyActivities, proxyLocalActivities, startChild, upsertSearchAttributes } from '@temporalio/workflow';
import { GrinStage } from '../src/workflows/search-attributes';

export interface FloorActivities {
  /** Returns its input: stands for a stage that did its work. */
  stage(input: { barcode: string; stage: number }): Promise<{ barcode: string; stage: number; bucket: string }>;
}

export interface FloorBookInput {
  barcode: string;
  /** Activities in the chain (the pipeline's book runs 5 on the happy path). */
  activities: number;
  /** Task queues the activities cycle through (the pipeline uses the GRIN queue, the shared file queue and a host's queue). */
  queues: string[];
}

const localBoard = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '1 minute' });

export async function floorBook(input: FloorBookInput): Promise<string> {
  const onQueue = input.queues.map((taskQueue) =>
    proxyActivities<FloorActivities>({ taskQueue, startToCloseTimeout: '1 minute', heartbeatTimeout: '30 seconds' }),
  );
  await localBoard.stage({ barcode: input.barcode, stage: -1 }); // register on the board
  upsertSearchAttributes([{ key: GrinStage, value: '01_requested' }]);
  let last = '';
  for (let stage = 0; stage < input.activities; stage++) {
    const queue = onQueue[Math.min(stage, onQueue.length - 1)];
    last = (await queue.stage({ barcode: input.barcode, stage })).bucket;
    if (stage === 1) await localBoard.stage({ barcode: input.barcode, stage }); // a board note mid-way
  }
  upsertSearchAttributes([{ key: GrinStage, value: '07_stored' }]);
  await localBoard.stage({ barcode: input.barcode, stage: input.activities }); // tell the batch
  return last;
}

export async function floorBatch(input: { barcodes: string[]; activities: number; queues: string[]; bookQueue: string }): Promise<number> {
  const handles = await Promise.all(
    input.barcodes.map((barcode) =>
      startChild(floorBook, {
        workflowId: `floor-book-${barcode}`,
        taskQueue: input.bookQueue,
        args: [{ barcode, activities: input.activities, queues: input.queues }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [{ key: GrinStage, value: '00_available' }],
      }),
    ),
  );
  let done = 0;
  for (const handle of handles) {
    await handle.result();
    done++;
  }
  return done;
}
