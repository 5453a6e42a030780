/**
 * File stages stay on one host, and a host that disappears mid-book does not strand the book: its
 * file stages start again on another host (per-host task queues, schedule-to-start timeouts). What
 * the workflow decides when hosts keep vanishing (moves, then pauses, never a park) is tested with stub
 * activities in test/workflow/book-decisions.test.ts.
 */
import { statSync } from 'node:fs';
import { bookPaths } from '../../src/activities/deps';
import { Board } from '../../src/buckets/board';
import type { RunningSimulator } from '../../devkit/simulator';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId, statusQuery } from '../../src/workflows/contracts';
import { startWorkers, temporalClient, testEnv, type TestEnv, startTestSimulator } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

// Generous: a busy machine may take many times longer than an idle one; the test waits for events.
jest.setTimeout(TEST_PATIENCE_MS);

let sim: RunningSimulator;
let env: TestEnv;

beforeAll(async () => {
  sim = await startTestSimulator('hostloss', {
    books: 1,
    seed: 21,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 4, max: 4 },
    pageImageBytes: 512 * 1024,
    // A slow link (about 30 s for the archive), so the download is still running when its host goes away.
    faults: { slowBody: 1, slowBodyBytesPerSecond: 64 * 1024 },
  });
  env = testEnv(sim, 'hostloss', { grin: { pollIntervalSeconds: 1 } });
});
afterAll(async () => {
  await sim?.close();
  env?.cleanup();
});

test('a book whose host stops mid-download finishes on another host', async () => {
  const [barcode] = sim.barcodes;
  const hostA = await startWorkers(env.config, { hostId: 'host-a' });
  let hostAStopped = false;
  try {
    const client = await temporalClient();
    // The download host A was running when it stopped is retried on the shared file queue, where
    // host B takes it; the heartbeat timeout (long enough for a busy machine's slow beats) is only a
    // backstop for a host that dies without failing its activities.
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, hostPickupTimeoutSeconds: 10, heartbeatTimeoutSeconds: 60 });
    const batch = await startBatch(client, env.config, [barcode], { batchId: 'hostloss', settings });
    const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
    // Host A has received part of the archive.
    const partial = bookPaths(env.config.processingDir, barcode).partial;
    const bytesOnDisk = () => statSync(partial, { throwIfNoEntry: false })?.size ?? 0;
    await waitUntil(async () => bytesOnDisk() > 0, PATIENCE_MS, 'host A downloading');
    // The host that took the download recorded itself on the token.
    expect((await (await Board.open(env.config.pipelineDir)).get(barcode))?.fileQueue).toBe(
      `${env.config.temporal.fileTaskQueuePrefix}-host-a`,
    );
    expect(await Board.open(env.config.pipelineDir).then((b) => b.locate(barcode))).toBe('02_converted');

    await hostA.stop(); // host A disappears
    hostAStopped = true;
    expect(bytesOnDisk()).toBeLessThan(sim.book(barcode).size!); // in the middle of the transfer
    sim.setFaults({ slowBody: 0 }); // host B's link is fast (the slow-body switch never fires)
    const hostB = await startWorkers(env.config, { hostId: 'host-b' });
    try {
      expect(await batch.result()).toMatchObject({ stored: 1, failed: 0 });
      // The download is taken from the shared file queue: the attempt host A lost is retried there,
      // and host B takes it (no host move for the workflow to make).
      const status = await book.query(statusQuery);
      expect(status.fileQueue).toBe(`${env.config.temporal.fileTaskQueuePrefix}-host-b`);
      const board = await Board.open(env.config.pipelineDir);
      expect(await board.locate(barcode)).toBe('07_stored');
    } finally {
      await hostB.stop();
    }
  } finally {
    if (!hostAStopped) await hostA.stop();
  }
});
