/**
 * A directory's conversion watcher left running on task queues nobody polls any more (workers
 * restarted with other `temporal.*TaskQueue` settings, or a test's workers stopped) would never look
 * again, and the books that wait on it would wait for ever. The next book that asks GRIN replaces
 * it with one on the current queues, and so does a worker's start while books wait.
 */
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { conversionWatchWorkflowId, type ConversionWatchInput } from '../../src/workflows/contracts';
import type { Client } from '@temporalio/client';
import { startWorkers, temporalClient, useSimulatedPipeline, type SimulatedPipeline } from '../support/pipeline';
import { waitUntil } from '../support/wait';

jest.setTimeout(240_000);

const SMALL = { pages: { min: 1, max: 1 }, pageImageBytes: 4096 } as const;

/** As a watcher started by workers whose queues have since changed: it never runs a task. */
function startStaleWatcher(client: Client, directory: string) {
  const stale: ConversionWatchInput = { directory, pollIntervalSeconds: 1, grinTaskQueue: 'retired-grin-queue' };
  return client.workflow.start('conversionWatchWorkflow', {
    workflowId: conversionWatchWorkflowId(directory),
    taskQueue: 'retired-workflow-queue',
    args: [stale],
  });
}

/** The batch's summary, or a failure after `ms` (without a replacement the books wait for good). */
async function finished(handle: Awaited<ReturnType<typeof startBatch>>, ms: number) {
  let summary: Awaited<ReturnType<typeof handle.result>> | undefined;
  void handle.result().then((s) => (summary = s));
  await waitUntil(async () => summary !== undefined, ms, 'the batch to finish');
  return summary!;
}

async function expectReplaced(client: Client, p: SimulatedPipeline, staleRunId: string): Promise<void> {
  const workflowId = conversionWatchWorkflowId(p.env.config.grin.directory);
  expect((await client.workflow.getHandle(workflowId, staleRunId).describe()).status.name).toBe('TERMINATED');
  const current = await client.workflow.getHandle(workflowId).describe();
  expect(current.runId).not.toBe(staleRunId);
  expect(current.taskQueue).toBe(p.env.config.temporal.workflowTaskQueue);
}

describe('a new request', () => {
  const p = useSimulatedPipeline('watcher-queues', { books: 3, seed: 31, initialState: 'all-new', ...SMALL, conversionDelaySeconds: 2 });

  test('replaces a watcher on queues nobody polls; the waiting books are told and stored', async () => {
    const client = await temporalClient();
    const stale = await startStaleWatcher(client, p.env.config.grin.directory);
    const handle = await startBatch(client, p.env.config, p.sim.barcodes, {
      batchId: 'watcher-queues',
      settings: bookSettingsFrom(p.env.config, { pollIntervalSeconds: 1 }),
    });
    expect(await finished(handle, 120_000)).toMatchObject({ stored: 3, failed: 0 });
    await expectReplaced(client, p, stale.firstExecutionRunId);
  });
});

describe("a worker's start", () => {
  // Long enough for every book to ask GRIN and wait before any conversion ends.
  const p = useSimulatedPipeline('watcher-restart', { books: 3, seed: 32, initialState: 'all-new', ...SMALL, conversionDelaySeconds: 10 });

  test('replaces a watcher on queues nobody polls when books wait in 01_requested and no request is coming', async () => {
    const client = await temporalClient();
    const directory = p.env.config.grin.directory;
    const handle = await startBatch(client, p.env.config, p.sim.barcodes, {
      batchId: 'watcher-restart',
      settings: bookSettingsFrom(p.env.config, { pollIntervalSeconds: 1 }),
    });
    const board = await Board.open(p.env.config.pipelineDir);
    await waitUntil(async () => (await board.countsOf(['01_requested']))['01_requested'] === 3, 60_000, 'every book to wait for GRIN');
    // The workers stop; the watcher they started is swapped for one on queues the config no longer names.
    await p.workers.stop();
    await client.workflow.getHandle(conversionWatchWorkflowId(directory)).terminate('test: as if started with other queues');
    const stale = await startStaleWatcher(client, directory);
    p.workers = await startWorkers(p.env.config);
    expect(await finished(handle, 120_000)).toMatchObject({ stored: 3, failed: 0 });
    await expectReplaced(client, p, stale.firstExecutionRunId);
  });
});
