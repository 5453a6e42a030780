/**
 * S3 unreachable for more attempts than the old attempt budget (5): books uploading at the time
 * wait, say so, and are stored once S3 is back, none parked. A TCP proxy in front of the real moto
 * server refuses connections until a book has failed its upload 6 times, with S3's data kept.
 * (The test config retries at most 5 s apart, so that takes about half a minute.)
 */
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { pendingActivities } from '../../src/client';
import { startTcpProxy, type TcpProxy } from '../../devkit/devtools/tcp-proxy';
import type { RunningSimulator } from '../../devkit/simulator';
import { createStorage } from '../../src/storage';
import type { BookStorage } from '../../src/storage/types';
import { bookWorkflowId } from '../../src/workflows/contracts';
import {
  s3Endpoint,
  startWorkers,
  temporalClient,
  testEnv,
  type RunningWorkers,
  type TestEnv,
  testS3Storage,
  startTestSimulator,
} from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const BOOKS = 6;
/** More upload attempts than the old budget of 5. */
const FAILED_ATTEMPTS = 6;
let sim: RunningSimulator;
let env: TestEnv;
let proxy: TcpProxy;
let storage: BookStorage;
let workers: RunningWorkers;

beforeAll(async () => {
  sim = await startTestSimulator('s3outage', {
    books: BOOKS,
    seed: 31,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 1, max: 2 },
    pageImageBytes: 8 * 1024,
  });
  const moto = new URL(s3Endpoint());
  proxy = await startTcpProxy({ host: moto.hostname, port: Number(moto.port) });
  env = testEnv(sim, 's3outage', {
    storage: testS3Storage({ bucket: `books-outage-${Date.now()}`, endpoint: proxy.url }),
  });
  storage = createStorage(env.config.storage);
  await (storage as unknown as { createBucketIfMissing(): Promise<void> }).createBucketIfMissing();
  workers = await startWorkers(env.config);
});

afterAll(async () => {
  await workers?.stop();
  await proxy?.close();
  await sim?.close();
  env?.cleanup();
});

test(`books wait for S3 through ${FAILED_ATTEMPTS} failed upload attempts, say so, and are all stored afterwards`, async () => {
  const client = await temporalClient();
  const board = await Board.open(env.config.pipelineDir);
  // S3 goes away before the books reach the upload (only the upload needs it).
  proxy.down();
  const handle = await startBatch(client, env.config, sim.barcodes, {
    batchId: 's3outage',
    window: BOOKS,
    settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
  });

  const waitingForS3 = async (minAttempt = 1) => {
    const tokens = await Promise.all(sim.barcodes.map((b) => board.get(b)));
    return tokens.filter((t) => {
      const attempt = /^waiting for S3 storage .* since .*\(attempt (\d+)\)/.exec(t?.status ?? '')?.[1];
      return t?.bucket === '06_processed' && attempt !== undefined && Number(attempt) >= minAttempt;
    });
  };
  await waitUntil(async () => (await waitingForS3()).length > 0, PATIENCE_MS, 'a book saying it waits for S3');
  const waiter = (await waitingForS3())[0]!;
  const pending = pendingActivities((await client.workflow.getHandle(bookWorkflowId(sim.directory, waiter.barcode)).describe()).raw);
  expect(pending.find((a) => a.type === 'storeBook')?.waitingFor).toMatch(/S3 storage/);

  // More failed attempts than the old budget of 5: nobody parks.
  await waitUntil(
    async () => (await waitingForS3(FAILED_ATTEMPTS)).length > 0,
    PATIENCE_MS,
    `a book's upload failed ${FAILED_ATTEMPTS} times`,
  );
  const waitingAtEnd = (await waitingForS3()).length;
  const storedDuringOutage = (await board.counts())['07_stored'] ?? 0;
  expect((await board.list('failed')).tokens.map((t) => `${t.barcode}: ${t.lastError?.message}`)).toEqual([]);
  proxy.up();

  const summary = await handle.result();
  // The wait between attempts is the config's `timeouts.fileRetryMaxSeconds` (5 s in tests), not the default 5 minutes.
  const history = await client.workflow.getHandle(bookWorkflowId(sim.directory, waiter.barcode)).fetchHistory();
  const upload = history.events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'storeBook');
  expect(Number(upload?.activityTaskScheduledEventAttributes?.retryPolicy?.maximumInterval?.seconds)).toBe(
    env.config.timeouts.fileRetryMaxSeconds,
  );
  expect((await board.list('failed')).tokens.map((t) => `${t.barcode}: ${t.lastError?.message}`)).toEqual([]);
  expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
  expect(waitingAtEnd).toBeGreaterThan(0);
  expect(storedDuringOutage).toBe(0); // nothing is stored without S3
  for (const barcode of sim.barcodes) {
    const token = await board.get(barcode);
    expect(token?.bucket).toBe('07_stored');
    const archive = await storage.head(`raw/${barcode}/${barcode}.tar.gz`);
    expect(archive?.metadata.grin_etag).toBe(sim.book(barcode).etag);
    expect(archive?.size).toBe(token?.decryptedBytes);
    expect(await storage.head(`full/${barcode}/${barcode}_ocr.jsonl.gz`)).toBeTruthy();
    expect(await storage.head(`meta/${barcode}/${barcode}_marc.json`)).toBeTruthy();
  }
});
