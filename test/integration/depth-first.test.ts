/**
 * Depth first: with a batch window far larger than `concurrency.booksOnHost`, a host never holds the
 * local files of more books than that (sampled in its processing folder all through the run), its
 * first book is stored before most books have even been downloaded, and every book is stored. A host
 * that restarts full (books a crash left on its disk) takes no new book until one leaves, and still
 * shuts down cleanly. Real Temporal dev server, the simulator over HTTP, in-process workers.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookPaths } from '../../src/activities/deps';
import { barcodesOnDisk } from '../../src/activities/host-books';
import type { RunningSimulator } from '../../devkit/simulator';
import { WorkflowNotFoundError } from '@temporalio/client';
import { bookWorkflowId, conversionWatchWorkflowId } from '../../src/workflows/contracts';
import { hostQueueName } from '../../src/worker';
import { startTestSimulator, startWorkers, temporalClient, testEnv, useSimulatedPipeline, type TestEnv } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const BOOKS = 24;
const BOOKS_ON_HOST = 3;
const barcodes = Array.from({ length: BOOKS }, (_, i) => `DEPTH${String(i).padStart(6, '0')}`);

describe(`a window of ${BOOKS} converted books, booksOnHost ${BOOKS_ON_HOST}`, () => {
  const p = useSimulatedPipeline(
    'depthfirst',
    {
      barcodes,
      seed: 31,
      initialStates: Object.fromEntries(barcodes.map((b) => [b, 'CONVERTED'])),
      poolCap: BOOKS,
      pages: { min: 1, max: 1 },
      pageImageBytes: 4096,
    },
    { grin: { rateLimitPerSecond: 200 }, concurrency: { fileActivities: 2, booksOnHost: BOOKS_ON_HOST, grinActivities: 8 } },
  );

  test('the processing folder never holds more than booksOnHost books, and all are stored', async () => {
    const { env } = p;
    const client = await temporalClient();
    let most = 0;
    let samples = 0;
    let sampling = true;
    // As often as the machine allows, for the whole run.
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, (await barcodesOnDisk(env.config.processingDir)).length);
        samples++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const handle = await startBatch(client, env.config, barcodes, {
      batchId: 'depthfirst',
      window: BOOKS,
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    const summary = await handle.result();
    sampling = false;
    await sampler;

    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
    const board = await Board.open(env.config.pipelineDir);
    expect((await board.counts())['07_stored']).toBe(BOOKS);
    expect(samples).toBeGreaterThan(10);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(BOOKS_ON_HOST);
    expect(await barcodesOnDisk(env.config.processingDir)).toEqual([]);

    // Order, not time: when the first book reached 07_stored, few books had been downloaded. (A
    // book's place is given back when its files are gone, just before its token moves, so one
    // more may have finished downloading in between.)
    const { tokens } = await board.list('07_stored');
    const firstStored = tokens.map((t) => t.stages['07_stored']!).sort()[0];
    const downloadedBefore = tokens.filter((t) => t.stages['03_downloaded']! < firstStored).length;
    expect(downloadedBefore).toBeLessThanOrEqual(BOOKS_ON_HOST + 1);

    // Every book was converted when it was requested, so none waited and no conversion watcher ran
    // (signalling one for each book would cost the server a signal and the watcher a workflow task).
    await expect(client.workflow.getHandle(conversionWatchWorkflowId(p.sim.directory)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  });
});

describe('a host that restarts full', () => {
  const BOOK = 'FULLHOST0001';
  const LEFTOVER = 'LEFTOVER0001';
  let sim: RunningSimulator;
  let env: TestEnv;
  beforeAll(async () => {
    sim = await startTestSimulator('depthfull', {
      barcodes: [BOOK],
      seed: 32,
      initialStates: { [BOOK]: 'CONVERTED' },
      pages: { min: 1, max: 1 },
      pageImageBytes: 4096,
    });
    env = testEnv(sim, 'depthfull', { grin: { rateLimitPerSecond: 200 }, concurrency: { fileActivities: 2, booksOnHost: 1 } });
  });
  afterAll(async () => {
    await sim?.close();
    env?.cleanup();
  });

  test('takes no book while its one place is held, stops cleanly, and takes the book once the held one is parked', async () => {
    const { config } = env;
    // What a crash left: a book decrypted on this host, its token naming this host.
    const board = await Board.open(config.pipelineDir);
    await board.move(LEFTOVER, '04_decrypted', { directory: sim.directory, fileQueue: hostQueueName(config, 'test-host') });
    mkdirSync(config.processingDir, { recursive: true });
    const leftover = bookPaths(config.processingDir, LEFTOVER).decrypted;
    writeFileSync(leftover, 'decrypted archive');

    // Full from the start: no admission slot is ever granted, and the worker still stops.
    let workers = await startWorkers(config, { hostBooksReconcileMs: 300 });
    await workers.stop();

    workers = await startWorkers(config, { hostBooksReconcileMs: 300 });
    try {
      const client = await temporalClient();
      const handle = await startBatch(client, config, [BOOK], {
        batchId: 'depthfull',
        settings: bookSettingsFrom(config, { pollIntervalSeconds: 1 }),
      });
      const book = client.workflow.getHandle(bookWorkflowId(sim.directory, BOOK));
      // (The batch starts the book's workflow: until it has, there is nothing to describe.)
      const asksForHost = async () =>
        (await book.describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'fetchArchive') ?? false;
      await waitUntil(() => asksForHost().catch(() => false), PATIENCE_MS, 'the book asking for a host');
      // The held book's token is checked again and again: it stays, so the new book waits.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await board.get(BOOK))?.bucket).toBe('02_converted');

      // Parked: it keeps its files, but not its place.
      const parkedAt = new Date().toISOString();
      await board.move(LEFTOVER, 'failed', { lastError: { stage: '05_extracted', message: 'parked by the test', at: parkedAt } });
      expect(await handle.result()).toMatchObject({ stored: 1, failed: 0 });
      const token = await board.get(BOOK);
      expect(token?.bucket).toBe('07_stored');
      expect(token!.stages['03_downloaded']! > parkedAt).toBe(true);
      expect(existsSync(leftover)).toBe(true);
    } finally {
      await workers.stop();
    }
  });
});
