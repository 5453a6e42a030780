/**
 * File stages stay on one host, and a host that disappears mid-book does not strand the book: its
 * file stages start again on another host (per-host task queues, schedule-to-start timeouts). A
 * book whose hosts keep vanishing waits for one, however many times that happens; it never parks.
 */
import { statSync } from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createBoardActivityGroup, createFileHostActivities, createGrinActivities } from '../../src/activities';
import { bookPaths } from '../../src/activities/deps';
import { Board } from '../../src/buckets/board';
import type { RunningSimulator } from '../../src/simulator';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId, statusQuery, type BookStatus } from '../../src/workflows/contracts';
import { buildActivityDeps, hostQueueName, installQuietRuntime, sharedFileQueueName } from '../../src/worker';
import { startWorkers, temporalAddress, temporalClient, testEnv, workflowBundle, type TestEnv, startTestSimulator } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

// Generous: a busy machine may take many times longer than an idle one; the test waits for events.
jest.setTimeout(TEST_PATIENCE_MS);

let sim: RunningSimulator;
let env: TestEnv;

beforeAll(async () => {
  sim = await startTestSimulator('hostloss', {
    books: 2,
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
    expect((await (await Board.open(env.config.pipelineDir)).get(barcode))?.fileQueue).toBe(`${env.config.temporal.fileTaskQueuePrefix}-host-a`);
    expect((await Board.open(env.config.pipelineDir).then((b) => b.locate(barcode)))).toBe('02_converted');

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

test('a book whose file hosts keep vanishing waits for a host instead of parking, and is stored once one stays', async () => {
  const barcode = sim.barcodes[1];
  sim.setFaults({ slowBody: 0 });
  // Workflows and GRIN activities, plus a file host that claims books for a queue nobody serves:
  // every file stage the book is given is never picked up.
  const config = { ...env.config, temporal: { ...env.config.temporal, workflowTaskQueue: `${env.config.temporal.workflowTaskQueue}-ghost` } };
  installQuietRuntime('ERROR');
  const deps = await buildActivityDeps(config, hostQueueName(config, 'ghost'));
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  const { namespace } = config.temporal;
  const ghostWorkers = await Promise.all([
    Worker.create({ connection, namespace, taskQueue: config.temporal.workflowTaskQueue, workflowBundle: await workflowBundle(), activities: createBoardActivityGroup(deps) }),
    Worker.create({ connection, namespace, taskQueue: config.temporal.grinTaskQueue, activities: createGrinActivities(deps) }),
    Worker.create({ connection, namespace, taskQueue: sharedFileQueueName(config), activities: createFileHostActivities(deps) }),
  ]);
  const ghostRunning = Promise.all(ghostWorkers.map((w) => w.run()));
  const stopGhosts = async () => {
    for (const w of ghostWorkers) if (w.getState() === 'RUNNING') w.shutdown();
    await ghostRunning;
  };
  let realHost: Awaited<ReturnType<typeof startWorkers>> | undefined;
  try {
    const client = await temporalClient();
    const settings = bookSettingsFrom(config, { pollIntervalSeconds: 1, hostPickupTimeoutSeconds: 1, heartbeatTimeoutSeconds: 60 });
    const batch = await startBatch(client, config, [barcode], { batchId: 'hostloss-ghost', settings });
    const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
    // More host losses than the moves made without a pause (5): the book pauses, saying why, and moves again.
    let status: BookStatus | undefined;
    await waitUntil(async () => {
      status = await book.query(statusQuery).catch(() => undefined); // undefined until the batch has started it
      return status !== undefined && status.hostMoves >= 7 && /^waiting \d+ s for a file host: its file host is gone \(\d+ hosts lost so far\)/.test(status.activity);
    }, PATIENCE_MS, 'a book pausing for a file host after 7 host losses');
    expect(status?.state).toBe('running');
    const board = await Board.open(config.pipelineDir);
    expect((await board.list('failed')).tokens).toEqual([]);

    // A host that stays: the next move lands on it and the book is stored.
    await stopGhosts();
    realHost = await startWorkers(config, { hostId: 'host-real' });
    expect(await batch.result()).toMatchObject({ stored: 1, failed: 0 });
    expect(await board.locate(barcode)).toBe('07_stored');
  } finally {
    await stopGhosts();
    await realHost?.stop();
    await connection.close();
  }
});
