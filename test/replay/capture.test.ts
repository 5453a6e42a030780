/**
 * Records the replay fixtures: real runs of the workflows through the real Temporal dev server, the
 * simulator and in-process workers, each saved under test/replay/histories/. Runs only with
 * `GRIN_REPLAY_CAPTURE=1` (`npm run replay:capture`); otherwise every test here is skipped.
 * Other fixtures come from integration tests that call `saveHistory` (e.g. resume-after-data-loss).
 */
import { writeFileSync } from 'node:fs';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import type { RunningSimulator } from '../../devkit/simulator';
import { bookWorkflowId, cancelSignal, retrySignal, statusQuery } from '../../src/workflows/contracts';
import { startWorkers, temporalClient, testEnv, type RunningWorkers, type TestEnv, startTestSimulator } from '../support/pipeline';
import { capturing, saveHistory } from '../support/replay';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);
const maybe = capturing() ? describe : describe.skip;

maybe('capture replay fixtures', () => {
  let sim: RunningSimulator;
  let env: TestEnv;
  let workers: RunningWorkers;

  beforeAll(async () => {
    sim = await startTestSimulator('capture', {
      books: 20,
      seed: 404,
      initialState: 'all-available',
      conversionDelaySeconds: 1,
      pages: { min: 2, max: 3 },
      pageImageBytes: 64 * 1024,
    });
    env = testEnv(sim, 'capture', { grin: { pollIntervalSeconds: 1 }, timeouts: { hostPickupSeconds: 3, heartbeatSeconds: 5 } });
    workers = await startWorkers(env.config, { hostId: 'host-a' });
  });
  afterAll(async () => {
    await workers?.stop();
    await sim?.close();
    env?.cleanup();
  });

  const settings = () => bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
  const bookId = (barcode: string) => bookWorkflowId(sim.directory, barcode);

  test('a batch that continues as new, and its stored books', async () => {
    const client = await temporalClient();
    const barcodes = sim.barcodes.slice(0, 6);
    const handle = await startBatch(client, env.config, barcodes, {
      batchId: 'capture-can',
      window: 2,
      startsPerRun: 3,
      settings: settings(),
    });
    await handle.result();
    const last = await client.workflow.getHandle(handle.workflowId).fetchHistory();
    const firstRunId = last.events?.[0]?.workflowExecutionStartedEventAttributes?.firstExecutionRunId ?? undefined;
    expect(firstRunId).toBeTruthy();
    await saveHistory(client, handle.workflowId, 'batch-first-run-continued-as-new', firstRunId);
    await saveHistory(client, handle.workflowId, 'batch-last-run');
    await saveHistory(client, bookId(barcodes[0]), 'book-stored');
  });

  test('a book parked (wrong passphrase), then retried and stored', async () => {
    const client = await temporalClient();
    const barcode = sim.barcodes[6];
    const passphraseFile = env.config.grin.gpgPassphrase.file!;
    writeFileSync(passphraseFile, 'not the passphrase');
    await startBatch(client, env.config, [barcode], { batchId: 'capture-park', settings: settings() });
    const board = await Board.open(env.config.pipelineDir);
    await waitUntil(async () => (await board.locate(barcode)) === 'failed', PATIENCE_MS, 'parked');
    writeFileSync(passphraseFile, sim.passphrase);
    const book = client.workflow.getHandle(bookId(barcode));
    await waitUntil(async () => (await book.query(statusQuery).catch(() => undefined))?.state === 'parked', PATIENCE_MS, 'workflow parked');
    await book.signal(retrySignal);
    expect(await book.result()).toBe('stored');
    await saveHistory(client, bookId(barcode), 'book-parked-retried-stored');
  });

  test('a parked book cancelled', async () => {
    const client = await temporalClient();
    const barcode = sim.barcodes[7];
    sim.setFaults({ notGzip: { barcodes: [barcode] } });
    await startBatch(client, env.config, [barcode], { batchId: 'capture-cancel', settings: settings() });
    const book = client.workflow.getHandle(bookId(barcode));
    await waitUntil(async () => (await book.query(statusQuery).catch(() => undefined))?.state === 'parked', PATIENCE_MS, 'parked');
    await book.signal(cancelSignal, 'withdrawn');
    expect(await book.result()).toBe('cancelled');
    await saveHistory(client, bookId(barcode), 'book-cancelled');
    sim.setFaults({ notGzip: undefined });
  });

  test('a book re-requested after its package left GRIN before the download', async () => {
    const client = await temporalClient();
    const barcode = sim.barcodes[8];
    sim.setFaults({ transient404: { barcodes: [barcode], times: 1 } });
    await startBatch(client, env.config, [barcode], { batchId: 'capture-rerequest', settings: settings() });
    const book = client.workflow.getHandle(bookId(barcode));
    await waitUntil(async () => !!(await book.describe().catch(() => undefined)), PATIENCE_MS, 'book workflow started');
    expect(await book.result()).toBe('stored');
    expect((await book.query(statusQuery)).reRequests).toBe(1);
    await saveHistory(client, bookId(barcode), 'book-re-requested');
  });

  test('a book whose host stops mid-download is downloaded by another host', async () => {
    const client = await temporalClient();
    const barcode = sim.barcodes[9];
    sim.setFaults({ slowBody: { barcodes: [barcode] }, slowBodyBytesPerSecond: 32 * 1024 });
    await startBatch(client, env.config, [barcode], { batchId: 'capture-hostmove', settings: settings() });
    const book = client.workflow.getHandle(bookId(barcode));
    // The download (on the shared file queue) has started on host A: its host recorded itself on the token.
    const board = await Board.open(env.config.pipelineDir);
    await waitUntil(async () => !!(await board.get(barcode))?.fileQueue, PATIENCE_MS, 'downloading');
    await new Promise((r) => setTimeout(r, 1500));
    await workers.stop();
    sim.setFaults({ slowBody: undefined, slowBodyBytesPerSecond: 1e9 });
    workers = await startWorkers(env.config, { hostId: 'host-b' });
    expect(await book.result()).toBe('stored');
    expect((await book.query(statusQuery)).fileQueue).toBe(`${env.config.temporal.fileTaskQueuePrefix}-host-b`);
    await saveHistory(client, bookId(barcode), 'book-host-lost-mid-download');
  });
});
