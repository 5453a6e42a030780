/**
 * GRIN's limits through the whole pipeline on the real Temporal server: many books waiting for
 * conversion cost one `_converted` fetch per poll interval and no history per poll, and a tiny
 * conversion queue cap (HTTP 429) delays books without failing any.
 */
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId, conversionWatchWorkflowId, statusQuery } from '../../src/workflows/contracts';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

// Generous: a busy machine may take many times longer than an idle one; the tests wait for events.
jest.setTimeout(TEST_PATIENCE_MS);

describe('100 books waiting for conversion at once', () => {
  const BOOKS = 100;
  const POLL_SECONDS = 1;
  /** Polls every book must have made while waiting, before the checks below. */
  const POLLS = 3;
  // GRIN takes an hour to convert, on the simulator's clock: the books wait until the test moves
  // that clock, however long a busy machine takes to start them all.
  const CONVERSION_SECONDS = 3600;
  const p = useSimulatedPipeline(
    'wait200',
    {
      books: BOOKS,
      seed: 11,
      initialState: 'all-new',
      conversionDelaySeconds: CONVERSION_SECONDS,
      pages: { min: 1, max: 1 },
      pageImageBytes: 4096,
    },
    { grin: { pollIntervalSeconds: POLL_SECONDS, rateLimitPerSecond: 500 }, concurrency: { fileActivities: 8, grinActivities: 16 } },
  );

  test('one _converted fetch per poll interval, few history events per waiting book, all stored', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: POLL_SECONDS });
    const handle = await startBatch(client, env.config, sim.barcodes, { batchId: 'wait200', window: BOOKS, settings });
    const board = await Board.open(env.config.pipelineDir);

    // Every book asked for; all are now waiting for GRIN.
    let counts = await board.counts();
    await waitUntil(
      async () => {
        counts = await board.counts();
        return counts['01_requested'] === BOOKS;
      },
      PATIENCE_MS,
      'all books requested',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; board: ${JSON.stringify(counts)}`);
    });

    // While they wait, the conversion watcher looks at GRIN's listings once per poll interval for all
    // of them; the books themselves run nothing (no activity, no timer): their histories stay put.
    const convertedFetches = () => sim.requestLog.filter((r) => r.path.endsWith('/_converted')).length;
    const before = convertedFetches();
    await waitUntil(async () => convertedFetches() >= before + POLLS, PATIENCE_MS, `the watcher looked ${POLLS} more times`);
    const describeAll = () => Promise.all(sim.barcodes.map((b) => client.workflow.getHandle(bookWorkflowId(sim.directory, b)).describe()));
    const waiting = await describeAll();
    expect(waiting.flatMap((d) => (d.raw.pendingActivities ?? []).map((a) => a.activityType?.name))).toEqual([]);
    expect(Math.max(...waiting.map((d) => d.historyLength))).toBeLessThan(30);
    expect(await board.counts()).toMatchObject({ '01_requested': BOOKS });

    sim.advance(CONVERSION_SECONDS);
    const summary = await handle.result();
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });

    // One worker process, one watcher for 100 books: its `_converted` fetches are, on average, at least one
    // poll interval apart (the simulator's log times them; a single gap may look shorter when one
    // request waited longer than the next for a busy event loop, hence one fetch of allowance).
    const fetches = sim.requestLog
      .filter((r) => r.path.endsWith('/_converted'))
      .map((r) => r.time)
      .sort((a, b) => a - b);
    expect(fetches.length).toBeGreaterThanOrEqual(POLLS);
    const spanMs = fetches[fetches.length - 1] - fetches[0];
    expect(fetches.length - 1).toBeLessThanOrEqual(spanMs / (POLL_SECONDS * 1000) + 1);
    const histories = await Promise.all(
      sim.barcodes
        .slice(0, 20)
        .map(async (b) => (await client.workflow.getHandle(bookWorkflowId(sim.directory, b)).describe()).historyLength),
    );
    // 45 events on a calm machine (npm run bench:cost counts them); a busy one may add a workflow task
    // retried or held open for a slow local activity, but nowhere near the 88 of a polling book.
    expect(Math.max(...histories)).toBeLessThan(60);
    // With nothing left waiting, the watcher finishes by itself (the next request starts another).
    const watcher = client.workflow.getHandle(conversionWatchWorkflowId(sim.directory));
    await waitUntil(async () => (await watcher.describe()).status.name === 'COMPLETED', PATIENCE_MS, 'the conversion watcher finished');
  });
});

describe('a conversion queue cap of 20 with 60 books', () => {
  const BOOKS = 60;
  const CAP = 20;
  // GRIN converts only when the test moves its clock, so the queue fills up first however fast or
  // slow this machine starts the books.
  const CONVERSION_SECONDS = 3600;
  const p = useSimulatedPipeline(
    'cap20',
    {
      books: BOOKS,
      seed: 12,
      initialState: 'all-new',
      queueCap: CAP,
      conversionDelaySeconds: CONVERSION_SECONDS,
      pages: { min: 1, max: 1 },
      pageImageBytes: 4096,
    },
    { grin: { pollIntervalSeconds: 1, rateLimitPerSecond: 500 }, concurrency: { fileActivities: 8, grinActivities: 16 } },
  );

  test('every book is stored and GRIN never holds more than 20 of our requests', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 1 });
    const handle = await startBatch(client, env.config, sim.barcodes, { batchId: 'cap20', window: BOOKS, settings });
    await waitUntil(async () => sim.stats().queueFullRefusals > 0, PATIENCE_MS, 'the queue cap reached');
    // From now on GRIN converts whatever is queued, once a second, until every book is through.
    const converting = setInterval(() => sim.advance(CONVERSION_SECONDS), 1_000);
    const summary = await handle.result().finally(() => clearInterval(converting));
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
    const handle = await startBatch(client, env.config, [A], {
      batchId: 'evict',
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    const archivePath = `/libraries/${sim.directory}/${A}.tar.gz.gpg`;
    await waitUntil(async () => sim.requestLog.some((r) => r.path === archivePath && r.status === 429), PATIENCE_MS, 'download attempted');

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
  const p = useSimulatedPipeline(
    'rate',
    { books: BOOKS, seed: 14, initialState: 'all-new', conversionDelaySeconds: 1, pages: { min: 1, max: 1 }, pageImageBytes: 4096 },
    { grin: { pollIntervalSeconds: 1, rateLimitPerSecond: RATE }, concurrency: { grinActivities: 16 } },
  );

  test('GRIN activities start no faster than the Temporal task-queue rate limit allows', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, sim.barcodes, {
      batchId: 'rate',
      window: BOOKS,
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    expect(await handle.result()).toMatchObject({ stored: BOOKS });
    // Each book's request is one `_process` call from a rate-limited GRIN activity; with 16 slots
    // free they would all go out at once, but the server hands out RATE activities per second.
    // The simulator's log times the requests: a busy machine only spreads them further apart.
    const requests = sim.requestLog
      .filter((r) => r.path.endsWith('/_process'))
      .map((r) => r.time)
      .sort((a, b) => a - b);
    expect(requests).toHaveLength(BOOKS);
    const spanSeconds = (requests[requests.length - 1] - requests[0]) / 1000;
    // After a first burst of up to RATE, the rest take at least (BOOKS - RATE) / RATE = 3 s; half of
    // that leaves room for the first requests reaching GRIN late, while without the limit all 12
    // go out within a fraction of a second.
    expect(spanSeconds).toBeGreaterThanOrEqual((BOOKS - RATE) / RATE / 2);
  });
});

describe("pacing caps: 3 books in GRIN's queue, 5 requested and not downloaded, 24 books", () => {
  const BOOKS = 24;
  const QUEUE_CAP = 3;
  const POOL_CAP = 5;
  // GRIN keeps 6 packages: without pacing, 24 conversions before any download would evict 18 unread.
  // GRIN converts only when the test moves its clock, and refuses downloads until the test allows them,
  // so each cap is reached however fast or slow this machine is.
  const CONVERSION_SECONDS = 3600;
  const p = useSimulatedPipeline(
    'pacing',
    {
      books: BOOKS,
      seed: 14,
      initialState: 'all-new',
      poolCap: 6,
      conversionDelaySeconds: CONVERSION_SECONDS,
      pages: { min: 1, max: 1 },
      pageImageBytes: 4096,
      faults: { rateLimitArchive: {} },
    },
    {
      grin: { pollIntervalSeconds: 1, rateLimitPerSecond: 500, pacing: { maxInGrinQueue: QUEUE_CAP, maxRequestedNotDownloaded: POOL_CAP } },
      concurrency: { fileActivities: 8, grinActivities: 16 },
    },
  );

  test('GRIN never holds more than the caps of our books, and every book is stored', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 1 });
    const handle = await startBatch(client, env.config, sim.barcodes, { batchId: 'pacing', window: BOOKS, settings });
    const board = await Board.open(env.config.pipelineDir);
    const waitingFor = async (what: string) =>
      (await board.list('00_available')).tokens.some((t) => t.status?.startsWith(`waiting for ${what}`));

    // The queue cap: 3 requested, the others wait for room in GRIN's queue.
    await waitUntil(
      async () => (await board.counts())['01_requested'] === QUEUE_CAP && (await waitingFor("room in GRIN's conversion queue")),
      PATIENCE_MS,
      'the queue cap reached',
    );
    expect(sim.stats().queued).toBe(QUEUE_CAP);

    // GRIN converts those 3; downloads are still refused, so 2 more may be requested, then none.
    sim.advance(CONVERSION_SECONDS);
    await waitUntil(
      async () => {
        const c = await board.counts();
        return c['02_converted'] === QUEUE_CAP && c['01_requested'] === POOL_CAP - QUEUE_CAP;
      },
      PATIENCE_MS,
      '2 more requested',
    );
    sim.advance(CONVERSION_SECONDS);
    await waitUntil(
      async () => (await board.counts())['02_converted'] === POOL_CAP && (await waitingFor("room in GRIN's converted pool")),
      PATIENCE_MS,
      'the pool cap reached',
    );
    expect((await board.counts())['01_requested']).toBe(0);
    expect(sim.stats().pool).toBe(POOL_CAP);

    // Downloads allowed, GRIN converts whatever is queued once a second: everything flows through.
    sim.setFaults({ rateLimitArchive: undefined });
    const converting = setInterval(() => sim.advance(CONVERSION_SECONDS), 1_000);
    const summary = await handle.result().finally(() => clearInterval(converting));
    expect((await board.list('failed')).tokens.map((t) => `${t.barcode}: ${t.lastError?.message}`)).toEqual([]);
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
    // What GRIN saw, whatever order the downloads finished in: never more than the caps.
    const stats = sim.stats();
    expect(stats.queueHighWater).toBeLessThanOrEqual(QUEUE_CAP);
    expect(stats.undownloadedHighWater).toBeLessThanOrEqual(POOL_CAP);
    expect(stats.evictions).toBeGreaterThan(0); // GRIN's pool did turn over.
    // GRIN evicts the oldest package, downloaded or not; however out of order the downloads
    // finished, no request went out that would push a package not yet downloaded out of the pool.
    expect(stats.evictedBeforeDownload).toBe(0);
    expect(stats.conversionsCompleted).toBe(BOOKS); // no conversion wasted (none requested twice)
  });
});
