/**
 * File stages stay on one host, and a host that disappears mid-book does not strand the book: its
 * file stages start again on another host (per-host task queues, schedule-to-start timeouts).
 */
import { statSync } from 'node:fs';
import { bookPaths } from '../../src/activities/deps';
import { Board } from '../../src/buckets/board';
import type { RunningSimulator } from '../../src/simulator';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId, statusQuery } from '../../src/workflows/contracts';
import { startWorkers, temporalClient, testEnv, type TestEnv, startTestSimulator } from '../support/pipeline';
import { waitUntil } from '../support/wait';

// Generous: a busy machine may take many times longer than an idle one; the test waits for events.
jest.setTimeout(600_000);

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
  const client = await temporalClient();
  // A host that stops is noticed when its retried download is not picked up within 10 s. The
  // heartbeat timeout is only a backstop here, long enough for a busy machine's slow beats.
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, hostPickupTimeoutSeconds: 10, heartbeatTimeoutSeconds: 60 });
  const batch = await startBatch(client, env.config, [barcode], { batchId: 'hostloss', settings });
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  // Host A has received part of the archive.
  const partial = bookPaths(env.config.processingDir, barcode).partial;
  const bytesOnDisk = () => statSync(partial, { throwIfNoEntry: false })?.size ?? 0;
  await waitUntil(async () => bytesOnDisk() > 0, 300_000, 'host A downloading');
  expect((await book.query(statusQuery)).fileQueue).toBe(`${env.config.temporal.fileTaskQueuePrefix}-host-a`);
  expect((await Board.open(env.config.pipelineDir).then((b) => b.locate(barcode)))).toBe('02_converted');

  await hostA.stop(); // host A disappears
  expect(bytesOnDisk()).toBeLessThan(sim.book(barcode).size!); // in the middle of the transfer
  sim.setFaults({ slowBody: 0 }); // host B's link is fast (the slow-body switch never fires)
  const hostB = await startWorkers(env.config, { hostId: 'host-b' });
  try {
    expect(await batch.result()).toMatchObject({ stored: 1, failed: 0 });
    const status = await book.query(statusQuery);
    expect(status.hostMoves).toBeGreaterThanOrEqual(1);
    expect(status.fileQueue).toBe(`${env.config.temporal.fileTaskQueuePrefix}-host-b`);
    const board = await Board.open(env.config.pipelineDir);
    expect(await board.locate(barcode)).toBe('07_stored');
  } finally {
    await hostB.stop();
  }
});
