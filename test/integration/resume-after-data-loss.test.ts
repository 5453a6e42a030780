/**
 * The board and Temporal agree again after one of them is lost. A batch runs on its own Temporal dev
 * server (with a db file) until every book is parked or waiting at the upload with its files on disk;
 * the server and its data are then deleted. On a fresh server, `resume` starts every book again and
 * each continues from its token's bucket: no archive is fetched again while its files are on disk,
 * and no converted book is requested again. Then the board folder is deleted and
 * `reconcile --from-temporal` puts every token back in the right bucket.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Board } from '../../src/buckets/board';
import { bookPaths } from '../../src/activities/deps';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { resumeFromBoard } from '../../src/cli/resume';
import { reconcileFromTemporal } from '../../src/cli/reconcile-temporal';
import type { PipelineConfig } from '../../src/config/types';
import { freePort, startTemporalDevServer, type RunningServer } from '../../devkit/devtools/servers';
import type { RunningSimulator } from '../../devkit/simulator';
import { createStorage } from '../../src/storage';
import type { BookStorage } from '../../src/storage/types';
import { bookWorkflowId, statusQuery } from '../../src/workflows/contracts';
import { startWorkers, testEnv, type RunningWorkers, type TestEnv, startTestSimulator } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';
import { saveHistory } from '../support/replay';

jest.setTimeout(TEST_PATIENCE_MS);

const BOOKS = 8;
let sim: RunningSimulator;
let env: TestEnv;
let server: RunningServer | undefined;
let workers: RunningWorkers | undefined;
const connections: Connection[] = [];

async function clientFor(config: PipelineConfig): Promise<Client> {
  const connection = await Connection.connect({ address: config.temporal.address });
  connections.push(connection);
  return new Client({ connection });
}

/** Storage whose uploads wait until `open` (or the activity is cancelled): books stop at 06_processed. */
function gatedStorage(config: PipelineConfig): { storage: BookStorage; open(): void } {
  const real = createStorage(config.storage);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const storage = Object.create(real) as BookStorage;
  storage.putFile = async (path, key, opts) => {
    await new Promise<void>((resolve, reject) => {
      void gate.then(resolve);
      // Cancelled before it got here (the worker shutting down): an 'abort' event will not come again.
      if (opts?.signal?.aborted) reject(new Error('upload cancelled'));
      opts?.signal?.addEventListener('abort', () => reject(new Error('upload cancelled')), { once: true });
    });
    return real.putFile(path, key, opts);
  };
  return { storage, open: release };
}

beforeAll(async () => {
  sim = await startTestSimulator('resume', {
    books: BOOKS,
    seed: 88,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 1, max: 2 },
    pageImageBytes: 4096,
  });
  const port = await freePort();
  // A file slot for every book: the gated uploads hold theirs, and the other books must still reach the upload.
  env = testEnv(sim, 'resume', { temporal: { address: `127.0.0.1:${port}` }, concurrency: { fileActivities: BOOKS + 2 } });
});

afterAll(async () => {
  await workers?.stop();
  await Promise.all(connections.map((c) => c.close()));
  await server?.stop();
  await sim?.close();
  env?.cleanup();
});

const archiveGets = (barcodes: string[]) =>
  sim.requestLog.filter((r) => r.method === 'GET' && r.barcode && barcodes.includes(r.barcode) && r.path.endsWith('.tar.gz.gpg'));

test('after Temporal loses its data, resume finishes every book from its bucket; reconcile --from-temporal rebuilds a lost board', async () => {
  const { config } = env;
  const dbFile = join(env.dir, 'temporal.db');
  const port = Number(config.temporal.address.split(':')[1]);
  const barcodes = sim.barcodes.slice(0, BOOKS);
  const [parkedBook, filesGone, ...atUpload] = barcodes;
  sim.setFaults({ badPassphrase: { barcodes: [parkedBook] } });
  const board = await Board.open(config.pipelineDir);
  const settings = bookSettingsFrom(config, { pollIntervalSeconds: 1 });

  // 1. A batch on a server with a db file, until every book waits at the upload (one is parked).
  server = await startTemporalDevServer({ port, dbFile, headless: true, logFile: join(env.dir, 'temporal-1.log') });
  const gated = gatedStorage(config);
  workers = await startWorkers(config, { storage: gated.storage });
  await startBatch(await clientFor(config), config, barcodes, { batchId: 'before-loss', settings });
  await waitUntil(
    async () =>
      (await board.locate(parkedBook)) === 'failed' &&
      (await Promise.all([filesGone, ...atUpload].map((b) => board.locate(b)))).every((b) => b === '06_processed'),
    PATIENCE_MS,
    'books parked or waiting at the upload',
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}; board: ${JSON.stringify(await board.counts())}`);
  });
  expect(archiveGets(barcodes).filter((r) => r.status === 200)).toHaveLength(BOOKS);

  // 2. Temporal loses everything; one book's local files are lost too.
  await workers.stop();
  workers = undefined;
  await server.stop();
  rmSync(dbFile, { force: true });
  for (const p of Object.values(bookPaths(config.processingDir, filesGone))) rmSync(p, { recursive: true, force: true });
  const seenBefore = sim.requestLog.length;
  server = await startTemporalDevServer({ port, headless: true, logFile: join(env.dir, 'temporal-2.log') });

  // 3. resume: every token not stored or cancelled gets a workflow that continues from its bucket.
  const client = await clientFor(config);
  const dry = await resumeFromBoard(client, config, board, { settings, dryRun: true });
  expect(dry.started).toEqual({ '06_processed': [filesGone, ...atUpload].sort(), failed: [parkedBook] });
  workers = await startWorkers(config); // real storage: uploads go through now
  const resumed = await resumeFromBoard(client, config, board, { settings });
  expect(Object.values(resumed.started).flat()).toHaveLength(BOOKS);
  await waitUntil(
    async () => (await Promise.all([filesGone, ...atUpload].map((b) => board.locate(b)))).every((b) => b === '07_stored'),
    PATIENCE_MS,
    'resumed books stored',
  );

  const after = sim.requestLog.slice(seenBefore);
  const getsAfter = after.filter((r) => r.method === 'GET' && r.path.endsWith('.tar.gz.gpg'));
  // Only the book whose files were lost is fetched again, and no book is asked of GRIN again.
  expect(getsAfter.map((r) => r.barcode)).toEqual([filesGone]);
  expect(after.filter((r) => r.path.endsWith('/_process'))).toEqual([]);
  // The parked book came back parked with its reason, waiting for retry.
  const parked = client.workflow.getHandle(bookWorkflowId(config.grin.directory, parkedBook));
  await waitUntil(
    async () => (await parked.query(statusQuery).catch(() => undefined))?.state === 'parked',
    PATIENCE_MS,
    'parked book parked again',
  );
  expect((await parked.query(statusQuery)).lastError?.stage).toBe('04_decrypted');
  expect(await board.locate(parkedBook)).toBe('failed');
  // A second resume finds nothing to do.
  const again = await resumeFromBoard(client, config, board, { settings });
  expect(again.started).toEqual({});
  expect(again.running).toBe(1);
  await saveHistory(client, bookWorkflowId(config.grin.directory, atUpload[0]), 'book-resumed-at-upload');
  await saveHistory(client, bookWorkflowId(config.grin.directory, filesGone), 'book-resumed-files-gone');

  // 4. The board folder is lost: rebuild it from Temporal.
  rmSync(config.pipelineDir, { recursive: true, force: true });
  const rebuiltBoard = await Board.open(config.pipelineDir);
  const summary = await reconcileFromTemporal(client, config, rebuiltBoard);
  expect(summary.rebuilt.sort()).toEqual([...barcodes].sort());
  const counts = await rebuiltBoard.counts();
  expect(counts['07_stored']).toBe(BOOKS - 1);
  expect(counts.failed).toBe(1);
  const token = await rebuiltBoard.get(parkedBook);
  expect(token?.lastError?.stage).toBe('04_decrypted');
  expect(token?.workflowId).toBe(bookWorkflowId(config.grin.directory, parkedBook));
  // Running it again changes nothing.
  const second = await reconcileFromTemporal(client, config, rebuiltBoard);
  expect(second).toMatchObject({ rebuilt: [], moved: [], agreed: BOOKS });
});
