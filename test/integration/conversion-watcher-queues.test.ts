/**
 * A directory's conversion watcher left running on task queues nobody polls any more (workers
 * restarted with other `temporal.*TaskQueue` settings, or a test's workers stopped) would never look
 * again, and the books that wait on it would wait for ever. The next book that asks GRIN replaces
 * it with one on the current queues.
 */
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { conversionWatchWorkflowId, type ConversionWatchInput } from '../../src/workflows/contracts';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';
import { waitUntil } from '../support/wait';

jest.setTimeout(180_000);

const p = useSimulatedPipeline('watcher-queues', {
  books: 3,
  seed: 31,
  initialState: 'all-new',
  pages: { min: 1, max: 1 },
  pageImageBytes: 4096,
  conversionDelaySeconds: 2,
});

test('a watcher on queues nobody polls is terminated and replaced; the waiting books are told and stored', async () => {
  const { sim, env } = p;
  const client = await temporalClient();
  const workflowId = conversionWatchWorkflowId(env.config.grin.directory);
  // As a watcher started by workers whose queues have since changed: it never runs a task.
  const stale: ConversionWatchInput = { directory: env.config.grin.directory, pollIntervalSeconds: 1, grinTaskQueue: 'retired-grin-queue' };
  const old = await client.workflow.start('conversionWatchWorkflow', { workflowId, taskQueue: 'retired-workflow-queue', args: [stale] });

  const handle = await startBatch(client, env.config, sim.barcodes, {
    batchId: 'watcher-queues',
    settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
  });
  // Without the replacement the books wait in 01_requested for good: bounded here, not by jest.
  let summary: Awaited<ReturnType<typeof handle.result>> | undefined;
  void handle.result().then((s) => (summary = s));
  await waitUntil(async () => summary !== undefined, 120_000, 'the batch to finish');
  expect(summary).toMatchObject({ stored: 3, failed: 0 });

  const oldRun = await client.workflow.getHandle(workflowId, old.firstExecutionRunId).describe();
  expect(oldRun.status.name).toBe('TERMINATED');
  const current = await client.workflow.getHandle(workflowId).describe();
  expect(current.runId).not.toBe(old.firstExecutionRunId);
  expect(current.taskQueue).toBe(env.config.temporal.workflowTaskQueue);
});
