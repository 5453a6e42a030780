/**
 * GRIN's limits through the whole pipeline on the real Temporal server: many books waiting for
 * conversion cost one `_converted` fetch per poll interval and no history per poll, and a tiny
 * conversion queue cap (HTTP 429) delays books without failing any.
 */
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId, statusQuery } from '../../src/workflows/contracts';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';
import { waitUntil } from '../support/wait';

jest.setTimeout(300_000);


describe('200 books waiting for conversion at once', () => {
  const BOOKS = 200;
  const POLL_SECONDS = 1;
  const p = useSimulatedPipeline('wait200', { books: BOOKS, seed: 11, initialState: 'all-new', conversionDelaySeconds: 12, pages: { min: 1, max: 1 }, pageImageBytes: 4096 }, { grin: { pollIntervalSeconds: POLL_SECONDS, rateLimitPerSecond: 500 }, concurrency: { fileActivities: 8, grinActivities: 16 } });

  test('one _converted fetch per poll interval, few history events per waiting book, all stored', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: POLL_SECONDS });
    const handle = await startBatch(client, env.config, sim.barcodes, { batchId: 'wait200', window: BOOKS, settings });
    const board = await Board.open(env.config.pipelineDir);

    // Every book asked for; all are now waiting for GRIN.
    let counts = await board.counts();
    await waitUntil(async () => {
      counts = await board.counts();
      const onBoard = Object.values(counts).reduce((a, b) => a + b, 0);
      return onBoard === BOOKS && counts['00_available'] === 0;
    }, 120_000, 'all books requested').catch((err: Error) => {
      throw new Error(`${err.message}; board: ${JSON.stringify(counts)}`);
    });
    const waitStart = Date.now();
    // Let them wait through several poll intervals.
    await new Promise((r) => setTimeout(r, 5_000));
    const waitingHistory = await Promise.all(
      sim.barcodes.map(async (b) => (await client.workflow.getHandle(bookWorkflowId(sim.directory, b)).describe()).historyLength),
    );
    expect((await board.counts())['01_requested']).toBeGreaterThan(BOOKS / 2);
    expect(Math.max(...waitingHistory)).toBeLessThan(100);

    const summary = await handle.result();
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });

    // One worker process: its `_converted` fetches are at least one poll interval apart.
    const fetches = sim.requestLog.filter((r) => r.path.endsWith('/_converted') && r.time >= waitStart - 60_000).map((r) => r.time);
    expect(fetches.length).toBeGreaterThan(3);
    const gaps = fetches.slice(1).map((t, i) => t - fetches[i]);
    // 50 ms of slack for timer jitter between the cache's clock and the simulator's log.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(POLL_SECONDS * 1000 - 50);
    const histories = await Promise.all(
      sim.barcodes.slice(0, 20).map(async (b) => (await client.workflow.getHandle(bookWorkflowId(sim.directory, b)).describe()).historyLength),
    );
    expect(Math.max(...histories)).toBeLessThan(100);
  });
});

describe('a conversion queue cap of 20 with 100 books', () => {
  const BOOKS = 100;
  const CAP = 20;
  const p = useSimulatedPipeline('cap20', { books: BOOKS, seed: 12, initialState: 'all-new', queueCap: CAP, conversionDelaySeconds: 2, pages: { min: 1, max: 1 }, pageImageBytes: 4096 }, { grin: { pollIntervalSeconds: 1, rateLimitPerSecond: 500 }, concurrency: { fileActivities: 8, grinActivities: 16 } });

  test('every book is stored and GRIN never holds more than 20 of our requests', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 1 });
    const handle = await startBatch(client, env.config, sim.barcodes, { batchId: 'cap20', window: BOOKS, settings });
    const summary = await handle.result();
    const board = await Board.open(env.config.pipelineDir);
    expect((await board.list('failed')).tokens.map((t) => `${t.barcode}: ${t.lastError?.message}`)).toEqual([]);
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
    expect((await board.counts())['07_stored']).toBe(BOOKS);
    const stats = sim.stats();
    expect(stats.queueFullRefusals).toBeGreaterThan(0); // the cap was really hit
    expect(stats.queueHighWater).toBeLessThanOrEqual(CAP);
  });
});

describe('a package evicted from the converted pool before download', () => {
  const [A, X] = ['EVICTED0001', 'OTHERBOOK01'];
  const p = useSimulatedPipeline(
    'evict',
    {
      barcodes: [A, X],
      seed: 13,
      initialStates: { [A]: 'CONVERTED', [X]: 'NEW' },
      poolCap: 1,
      conversionDelaySeconds: 1,
      pages: { min: 1, max: 1 },
      pageImageBytes: 4096,
      // GRIN throttles A's download at first, so the package can be evicted before we get it.
      faults: { rateLimitArchive: { barcodes: [A] } },
    },
    { grin: { pollIntervalSeconds: 1 } },
  );

  test('is requested again and the book is still stored', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, [A], { batchId: 'evict', settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }) });
    const archivePath = `/libraries/${sim.directory}/${A}.tar.gz.gpg`;
    await waitUntil(async () => sim.requestLog.some((r) => r.path === archivePath && r.status === 429), 30_000, 'download attempted');

    // Someone converts another book; the pool holds one package, so A's is evicted.
    const res = await fetch(`${sim.baseUrl}/${sim.directory}/_process?barcodes=${X}`, { headers: { authorization: 'Bearer sim-token' } });
    expect(res.status).toBe(200);
    sim.advance(5);
    expect(sim.book(A).state).not.toBe('CONVERTED');
    expect(sim.stats().evictions).toBeGreaterThan(0);
    sim.setFaults({ rateLimitArchive: undefined });

    expect(await handle.result()).toMatchObject({ stored: 1, failed: 0 });
    const processCalls = sim.requestLog.filter((r) => r.path.endsWith('/_process') && r.query.includes(A));
    expect(processCalls.length).toBeGreaterThanOrEqual(2);
    const board = await Board.open(env.config.pipelineDir);
    expect(await board.locate(A)).toBe('07_stored');
    const status = await client.workflow.getHandle(bookWorkflowId(sim.directory, A)).query(statusQuery);
    expect(status.reRequests).toBeGreaterThanOrEqual(1);
  });
});

describe('the shared GRIN rate limit', () => {
  const BOOKS = 12;
  const RATE = 3;
  const p = useSimulatedPipeline('rate', { books: BOOKS, seed: 14, initialState: 'all-new', conversionDelaySeconds: 1, pages: { min: 1, max: 1 }, pageImageBytes: 4096 }, { grin: { pollIntervalSeconds: 1, rateLimitPerSecond: RATE }, concurrency: { grinActivities: 16 } });

  test('GRIN activities start no faster than the Temporal task-queue rate limit allows', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, sim.barcodes, { batchId: 'rate', window: BOOKS, settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }) });
    expect(await handle.result()).toMatchObject({ stored: BOOKS });
    // Each book's request is one `_process` call from a rate-limited GRIN activity; with 16 slots
    // free they would all go out at once, but the server hands out RATE activities per second.
    const requests = sim.requestLog.filter((r) => r.path.endsWith('/_process')).map((r) => r.time);
    expect(requests).toHaveLength(BOOKS);
    const spanSeconds = (requests[requests.length - 1] - requests[0]) / 1000;
    expect(spanSeconds).toBeGreaterThanOrEqual(BOOKS / RATE - 2); // allows one burst of up to RATE at the start
  });
});
