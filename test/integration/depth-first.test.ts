/**
 * Depth first: with a batch window far larger than `concurrency.booksOnHost`, a host never holds the
 * local files of more books than that (sampled in its processing folder all through the run), its
 * first book is stored before most books have even been downloaded, and every book is stored.
 * Real Temporal dev server, the simulator over HTTP, in-process workers.
 */
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { barcodesOnDisk } from '../../src/activities/host-books';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';
import { TEST_PATIENCE_MS } from '../support/wait';

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

    const handle = await startBatch(client, env.config, barcodes, { batchId: 'depthfirst', window: BOOKS, settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }) });
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
  });
});
