/**
 * Faults that hit every book make books wait, never park, and say what they wait for; the books go
 * on by themselves when the fault clears. Real Temporal, the simulator over HTTP, in-process workers.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { pendingActivities } from '../../src/client';
import type { RunningSimulator } from '../../devkit/simulator';
import { bookWorkflowId, conversionWatchWorkflowId } from '../../src/workflows/contracts';
import {
  startWorkers,
  temporalClient,
  testEnv,
  useSimulatedPipeline,
  type RunningWorkers,
  type TestEnv,
  startTestSimulator,
} from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const SMALL_BOOKS = { pages: { min: 1, max: 1 }, pageImageBytes: 4096, conversionDelaySeconds: 1 };

async function parkedReasons(board: Board): Promise<string[]> {
  return (await board.list('failed')).tokens.map((t) => `${t.barcode}: ${t.lastError?.message}`);
}

describe('two login redirects in a row', () => {
  const p = useSimulatedPipeline('redirect2', {
    books: 2,
    seed: 21,
    initialState: 'all-available',
    ...SMALL_BOOKS,
    faults: { loginRedirect: { times: 2 } },
  });

  test('the book is still stored, not parked', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, sim.barcodes.slice(0, 1), {
      batchId: 'redirect2',
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    const summary = await handle.result();
    const board = await Board.open(env.config.pipelineDir);
    expect(await parkedReasons(board)).toEqual([]);
    expect(summary).toMatchObject({ stored: 1, failed: 0 });
    // Both redirects were served: one refresh did not help, the activity's next attempt did.
    expect(sim.requestLog.filter((r) => r.fault === 'loginRedirect')).toHaveLength(2);
  });
});

describe('a failed shared listing with 50 books waiting', () => {
  const BOOKS = 50;
  // `_failed` is read as HTML; "Your request is unavailable" on its first page fails the whole listing.
  // A book `_converted` lists goes on without `_failed`, so these convert only once the clock is
  // pushed past their hour-long conversion: until then each one depends on the failing listing.
  const CONVERSION_SECONDS = 3_600;
  const p = useSimulatedPipeline(
    'listing50',
    {
      books: BOOKS,
      seed: 22,
      initialState: 'all-new',
      ...SMALL_BOOKS,
      conversionDelaySeconds: CONVERSION_SECONDS,
      faults: { requestUnavailable: {} },
    },
    { grin: { pollIntervalSeconds: 2, rateLimitPerSecond: 200 }, concurrency: { fileActivities: 8, grinActivities: 16 } },
  );

  test('parks no book; every book says what it waits for, and all are stored once the listing works', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, sim.barcodes, {
      batchId: 'listing50',
      window: BOOKS,
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 2 }),
    });
    const board = await Board.open(env.config.pipelineDir);

    const waiting = async () => {
      const { tokens } = await board.list('01_requested');
      return tokens.filter((t) => /^waiting for GRIN's .*_failed listing/.test(t.status ?? '')).length;
    };
    await waitUntil(async () => (await waiting()) === BOOKS, PATIENCE_MS, 'all 50 books waiting for the listing');
    // The listing kept failing for every one of them, again and again, and none parked.
    await waitUntil(
      async () => sim.requestLog.filter((r) => r.fault === 'requestUnavailable').length >= 3,
      PATIENCE_MS,
      'listing failed 3 times',
    );
    expect(await parkedReasons(board)).toEqual([]);
    expect((await board.counts())['01_requested']).toBe(BOOKS);
    // Books wait for the conversion watcher's signal, not in an activity of their own; the watcher's
    // pending look names the wait (the Web UI and `temporal workflow describe` show it).
    const book = pendingActivities((await client.workflow.getHandle(bookWorkflowId(sim.directory, sim.barcodes[0])).describe()).raw);
    expect(book).toEqual([]);
    const pending = pendingActivities((await client.workflow.getHandle(conversionWatchWorkflowId(sim.directory)).describe()).raw);
    expect(pending[0]).toMatchObject({ type: 'watchConversions' });
    expect(pending[0].waitingFor).toMatch(/_failed listing/);

    sim.setFaults({ requestUnavailable: undefined });
    sim.advance(CONVERSION_SECONDS);
    const summary = await handle.result();
    expect(await parkedReasons(board)).toEqual([]);
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
    expect((await board.counts())['07_stored']).toBe(BOOKS);
  });
});

describe('a _failed listing page nested 10,000 levels deep, all along', () => {
  const BOOKS = 6;
  const p = useSimulatedPipeline(
    'deepfailed',
    { books: BOOKS, seed: 23, initialState: 'all-new', ...SMALL_BOOKS, faults: { deepHtml: {}, deepHtmlLevels: 10_000 } },
    { grin: { pollIntervalSeconds: 1 } },
  );

  test('books GRIN has converted are stored all the same; none parks, the worker lives', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, sim.barcodes, {
      batchId: 'deepfailed',
      window: BOOKS,
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    const summary = await handle.result();
    const board = await Board.open(env.config.pipelineDir);
    expect(await parkedReasons(board)).toEqual([]);
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
    // GRIN kept sending the deep page: every `_failed` read the books went on without failed.
    const failedReads = sim.requestLog.filter((r) => r.path.endsWith('/_failed'));
    expect(failedReads.length).toBeGreaterThan(0);
    expect(failedReads.every((r) => r.fault === 'deepHtml')).toBe(true);
  });
});

describe('every GRIN answer with Connection: close, and archive bodies that trickle at first', () => {
  const BOOKS = 4;
  const p = useSimulatedPipeline(
    'connclose',
    {
      books: BOOKS,
      seed: 24,
      initialState: 'all-new',
      ...SMALL_BOOKS,
      // The first two archive downloads trickle at 200 bytes/s; the rest are served at full speed.
      faults: { connectionClose: {}, slowBody: { times: 2 }, slowBodyBytesPerSecond: 200 },
    },
    { grin: { minDownloadRate: { bytes: 4096, windowSeconds: 1 } } },
  );

  test('every book is stored: the worker survives the closes, and trickling downloads are cut and resumed', async () => {
    const { sim, env } = p;
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, sim.barcodes, {
      batchId: 'connclose',
      window: BOOKS,
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    const summary = await handle.result();
    const board = await Board.open(env.config.pipelineDir);
    expect(await parkedReasons(board)).toEqual([]);
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
    const trickled = sim.requestLog.filter((r) => r.fault === 'slowBody');
    expect(trickled).toHaveLength(2);
    // Each trickling body was cut long before it could end at 200 bytes/s, and the book resumed it.
    for (const cut of trickled) {
      const later = sim.requestLog.filter((r) => r.barcode === cut.barcode && r.method === 'GET' && r.time > cut.time);
      expect(later.some((r) => r.status === 206)).toBe(true);
    }
    expect(sim.requestLog.filter((r) => r.fault === 'connectionClose').length).toBeGreaterThan(BOOKS * 3);
  });
});

describe('revoked GRIN credentials (invalid_grant)', () => {
  const BOOKS = 3;
  let sim: RunningSimulator;
  let env: TestEnv;
  let workers: RunningWorkers;

  beforeAll(async () => {
    sim = await startTestSimulator('revoked', {
      books: BOOKS,
      seed: 23,
      initialState: 'all-available',
      ...SMALL_BOOKS,
      faults: { revokedCredentials: {} },
    });
    env = testEnv(sim, 'revoked');
    // OAuth through the simulator's token endpoint instead of the fixed test token.
    const oauth = sim.oauthClients[0]!;
    const secrets = join(env.dir, 'secrets');
    const clientSecretFile = join(secrets, 'client_secret.json');
    const credentialsFile = join(secrets, 'credentials.json');
    fs.writeFileSync(clientSecretFile, JSON.stringify({ installed: { client_id: oauth.clientId, client_secret: oauth.clientSecret } }));
    fs.writeFileSync(credentialsFile, JSON.stringify({ refresh_token: oauth.refreshToken }), { mode: 0o600 });
    const grin = env.config.grin as { accessToken?: unknown; credentialsFile?: string; clientSecretFile?: string; tokenUri: string };
    delete grin.accessToken;
    Object.assign(grin, { credentialsFile, clientSecretFile, tokenUri: sim.tokenUri });
    workers = await startWorkers(env.config);
  });
  afterAll(async () => {
    await workers?.stop();
    await sim?.close();
    env?.cleanup();
  });

  test('books wait, naming the credentials, and go on by themselves when the credentials work again', async () => {
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, sim.barcodes, {
      batchId: 'revoked',
      window: BOOKS,
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    const board = await Board.open(env.config.pipelineDir);
    const waitingForCredentials = async () =>
      (await Promise.all(sim.barcodes.map((b) => board.get(b)))).filter((t) =>
        /^waiting for GRIN to accept our credentials .*\(attempt [2-9]\d*\)/.test(t?.status ?? ''),
      ).length;
    // A second attempt has failed too for every book: they wait, and none parked.
    await waitUntil(async () => (await waitingForCredentials()) === BOOKS, PATIENCE_MS, 'books waiting for credentials (attempt 2)');
    expect(await parkedReasons(board)).toEqual([]);
    expect(sim.requestLog.filter((r) => r.path === '/token' && r.status === 400).length).toBeGreaterThanOrEqual(2);

    sim.setFaults({ revokedCredentials: undefined }); // the operator re-ran `auth setup`
    const summary = await handle.result();
    expect(await parkedReasons(board)).toEqual([]);
    expect(summary).toMatchObject({ stored: BOOKS, failed: 0 });
  });
});
