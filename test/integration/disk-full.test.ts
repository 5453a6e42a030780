/**
 * A full processing disk must not deadlock a host. Downloads that find the disk over the threshold
 * fail their attempt at once (transient DiskFullError) instead of waiting inside a file slot, so the
 * stages that free space (decrypt removes the encrypted archive, clean-up the rest) always get a slot.
 * Real Temporal dev server, GRIN simulator over HTTP, in-process workers with two file slots.
 */
import { readdirSync } from 'node:fs';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import type { RunningSimulator } from '../../devkit/simulator';
import { startWorkers, temporalClient, testEnv, type RunningWorkers, type TestEnv, startTestSimulator } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

let sim: RunningSimulator;
let env: TestEnv;
let workers: RunningWorkers;
/** Set by the test: the disk is full whatever is on it (an operator's other files, say). */
let fullAnyway = false;
/** One downloaded book on the disk fills it (a big book on a small disk), until its clean-up. */
const BOOKS_THAT_FILL_IT = 1;
let refusals = 0;

/**
 * Books whose files are on the processing disk: downloaded and not cleaned up yet (archive,
 * decrypted archive, unpacked files, derivatives). A download in progress (`.part`) does not count,
 * so no download is refused for its own partial file.
 */
function booksOnDisk(): number {
  try {
    const books = readdirSync(env.config.processingDir)
      .map((n) => /^(.+?)(?:\.tar\.gz\.gpg|\.tar\.gz|_extracted|_unpacked\.json|_derivatives)$/.exec(n)?.[1])
      .filter(Boolean);
    return new Set(books).size;
  } catch {
    return 0;
  }
}

/** Usage as downloads see it; counts the times it says "full" (each one refuses a download attempt). */
async function diskUsage(): Promise<number> {
  const full = fullAnyway || booksOnDisk() >= BOOKS_THAT_FILL_IT;
  if (full) refusals++;
  return full ? 0.95 : 0.5;
}

beforeAll(async () => {
  sim = await startTestSimulator('diskfull', {
    books: 12,
    seed: 5,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 2, max: 4 },
    pageImageBytes: 16 * 1024,
  });
  env = testEnv(sim, 'diskfull', { concurrency: { fileActivities: 2 } });
  workers = await startWorkers(env.config, { download: { diskUsage, diskRetrySeconds: 1 } });
});

afterAll(async () => {
  await workers?.stop();
  await sim?.close();
  env?.cleanup();
});

const settings = () => bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 2 });

test('more downloads than file slots on a disk that downloads fill: downloaded books are decrypted and stored, the others wait their turn, none parks', async () => {
  const barcodes = sim.barcodes.slice(0, 6);
  const client = await temporalClient();
  // The first download attempts find the disk full whatever the timing (on a fast run every book
  // can be downloaded and cleaned up before the next download starts); then the books on disk fill it.
  fullAnyway = true;
  const handle = await startBatch(client, env.config, barcodes, { batchId: 'fills-disk', window: barcodes.length, settings: settings() });
  await waitUntil(async () => refusals > 0, PATIENCE_MS, 'a download refused for disk space');
  fullAnyway = false;
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(async () => (await board.counts())['07_stored'] === barcodes.length, PATIENCE_MS, 'all six books stored');
  expect(await handle.result()).toMatchObject({ stored: barcodes.length, failed: 0 });
  // The disk did fill up: downloads were turned away while the two slots went to the stages freeing it.
  expect(refusals).toBeGreaterThan(0);
});

test('while the disk is full the tokens say the books wait for disk space; they go on by themselves when space returns', async () => {
  const barcodes = sim.barcodes.slice(6, 9);
  fullAnyway = true;
  const client = await temporalClient();
  const handle = await startBatch(client, env.config, barcodes, { batchId: 'disk-full', window: barcodes.length, settings: settings() });
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(
    async () =>
      (await Promise.all(barcodes.map((b) => board.get(b)))).every((t) =>
        /^waiting for disk space on .* \(usage 95\.0% over threshold/.test(t?.status ?? ''),
      ),
    PATIENCE_MS,
    'every token says it waits for disk space',
  );
  expect((await Promise.all(barcodes.map((b) => board.locate(b)))).every((bucket) => bucket === '02_converted')).toBe(true);

  fullAnyway = false;
  await waitUntil(
    async () => (await Promise.all(barcodes.map((b) => board.locate(b)))).every((bucket) => bucket === '07_stored'),
    PATIENCE_MS,
    'all three stored',
  );
  expect(await handle.result()).toMatchObject({ stored: barcodes.length, failed: 0 });
});
