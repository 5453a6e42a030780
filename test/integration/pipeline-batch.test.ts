/**
 * A batch larger than one workflow run: the batch workflow keeps a small window of books in flight
 * and continues as new every few starts; its counts survive each continue-as-new and every book is
 * stored exactly once.
 */
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';
import { waitUntil } from '../support/wait';

// Generous: a busy machine may take many times longer than an idle one; the test waits for events.
jest.setTimeout(600_000);

const BOOKS = 30;
const p = useSimulatedPipeline('batch', { books: BOOKS, seed: 31, initialState: 'all-available', conversionDelaySeconds: 1, pages: { min: 1, max: 2 }, pageImageBytes: 4096 }, { grin: { pollIntervalSeconds: 1 } });

test('a window of 5 and a continue-as-new every 7 starts still stores all 30 books once', async () => {
  const { sim, env } = p;
  const client = await temporalClient();
  const handle = await startBatch(client, env.config, sim.barcodes, {
    batchId: 'many-runs',
    window: 5,
    startsPerRun: 7,
    settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
  });
  const summary = await handle.result();
  expect(summary).toEqual({ batchId: 'many-runs', total: BOOKS, started: BOOKS, alreadyKnown: 0, stored: BOOKS, failed: 0, cancelled: 0 });

  const board = await Board.open(env.config.pipelineDir);
  expect((await board.counts())['07_stored']).toBe(BOOKS);
  // Each book was downloaded once: no book was started twice across runs.
  const gets = sim.requestLog.filter((r) => r.method === 'GET' && r.path.endsWith('.tar.gz.gpg') && r.status === 200);
  expect(new Set(gets.map((r) => r.path)).size).toBe(BOOKS);
  expect(gets).toHaveLength(BOOKS);

  // The batch really ran as several runs (30 starts / 7 per run).
  // (Visibility catches up with the runs in its own time, slower on a busy machine.)
  let runs = 0;
  await waitUntil(async () => {
    runs = await client.workflow.count(`WorkflowId = "${handle.workflowId}"`).then((c) => c.count);
    return runs >= 5;
  }, 300_000, 'visibility shows the continued runs').catch((err: Error) => {
    throw new Error(`${err.message}; runs seen: ${runs}`);
  });
});
