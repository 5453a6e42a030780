/**
 * What a book does when something goes wrong that a human might otherwise have to fix:
 *  - `retry` of a book parked after its package kept vanishing from GRIN (404) starts over from what
 *    is true now: the package is still gone, so it is requested again (the counters were reset);
 *  - an archive that fails an integrity check is discarded and downloaded once more: stored when
 *    the damage was in the transfer, parked saying so when the fresh copy fails the same way.
 */
import { open, stat } from 'node:fs/promises';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { StaticTokenSource } from '../../src/grin/auth';
import { GrinClient } from '../../src/grin/client';
import type { GrinApi } from '../../src/grin/types';
import type { RunningSimulator } from '../../src/simulator';
import { bookWorkflowId, retrySignal, statusQuery } from '../../src/workflows/contracts';
import { startWorkers, temporalClient, testEnv, type RunningWorkers, type TestEnv, startTestSimulator } from '../support/pipeline';
import { saveHistory } from '../support/replay';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

let sim: RunningSimulator;
let env: TestEnv;
let workers: RunningWorkers;
/** Barcodes whose next completed download gets bytes flipped on disk, as a bad transfer would. */
const damageNextDownload = new Set<string>();

/** The real GRIN client, except that a download of a barcode in `damageNextDownload` arrives damaged. */
function damagingGrin(real: GrinApi): GrinApi {
  return new Proxy(real, {
    get(target, key) {
      if (key === 'downloadArchive') {
        return async (...args: Parameters<GrinApi['downloadArchive']>) => {
          const result = await target.downloadArchive(...args);
          const barcode = [...damageNextDownload].find((b) => args[0].includes(b));
          if (barcode) {
            damageNextDownload.delete(barcode);
            const file = await open(args[1], 'r+');
            const { size } = await stat(args[1]);
            await file.write(Buffer.alloc(64, 0x5a), 0, 64, Math.floor(size / 2));
            await file.close();
          }
          return result;
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

beforeAll(async () => {
  sim = await startTestSimulator('recovery', { books: 6, seed: 77, initialState: 'all-available', conversionDelaySeconds: 1, pages: { min: 2, max: 3 }, pageImageBytes: 32 * 1024 });
  env = testEnv(sim, 'recovery', { grin: { pollIntervalSeconds: 1 } });
  const grin = damagingGrin(new GrinClient({ baseUrl: sim.baseUrl, directory: sim.directory, tokens: new StaticTokenSource('sim-token') }));
  workers = await startWorkers(env.config, { grin });
});
afterAll(async () => {
  await workers?.stop();
  await sim?.close();
  env?.cleanup();
});

const settings = () => bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
const archiveGets = (barcode: string) => sim.requestLog.filter((r) => r.method === 'GET' && r.barcode === barcode && r.path.endsWith('.tar.gz.gpg') && r.status === 200);
const processCalls = (barcode: string) => sim.requestLog.filter((r) => r.path.endsWith('/_process') && r.barcodes?.includes(barcode));

test('retry of a book parked after repeated 404s requests it again and stores it', async () => {
  const client = await temporalClient();
  const barcode = sim.barcodes[0];
  // The package is "gone" for the first HEAD and the five re-requests after it, and once more after the retry.
  sim.setFaults({ transient404: { barcodes: [barcode], times: 7 } });
  await startBatch(client, env.config, [barcode], { batchId: 'retry-404', settings: settings() });
  const board = await Board.open(env.config.pipelineDir);
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  await waitUntil(async () => (await board.locate(barcode)) === 'failed', PATIENCE_MS, 'parked after re-requests');
  expect((await board.get(barcode))?.lastError).toMatchObject({ stage: '03_downloaded', type: 'ArchiveNotFoundError' });
  expect((await book.query(statusQuery)).reRequests).toBe(5);
  const requestsBeforeRetry = processCalls(barcode).length;

  await book.signal(retrySignal);
  expect(await book.result()).toBe('stored');
  // The HEAD after the retry still found nothing, so GRIN was asked again: the counter had been reset.
  expect(processCalls(barcode).length).toBe(requestsBeforeRetry + 1);
  expect((await book.query(statusQuery)).reRequests).toBe(1);
  expect(await board.locate(barcode)).toBe('07_stored');
  // New runs carry the `lean-book` patch (docs/workflow-changes.md): a marker, and GrinStage
  // upserted only when the book settles or leaves `failed`, never to the value it already had.
  const events = (await book.fetchHistory()).events ?? [];
  expect(events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toBe(true);
  const upserted = events.flatMap((e) => {
    const data = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.GrinStage?.data;
    const value = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string | string[]) : undefined;
    return value === undefined ? [] : [Array.isArray(value) ? value[0] : value];
  });
  expect(upserted).toEqual(['failed', '02_converted', '07_stored']);
  upserted.forEach((value, i) => expect(value).not.toBe(i === 0 ? '00_available' : upserted[i - 1]));
  await saveHistory(client, book.workflowId, 'book-404-parked-retried-re-requested');
});

test('an archive damaged in transfer is discarded and downloaded once more, then stored', async () => {
  const client = await temporalClient();
  const barcode = sim.barcodes[1];
  damageNextDownload.add(barcode);
  await startBatch(client, env.config, [barcode], { batchId: 'transient-corruption', settings: settings() });
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(async () => ['07_stored', 'failed'].includes((await board.locate(barcode)) ?? ''), PATIENCE_MS, 'stored or parked');
  // A parked book says why, so a failure here names the cause.
  expect((await board.get(barcode))?.lastError?.message ?? 'not parked').toBe('not parked');
  expect(await book.result()).toBe('stored');
  expect(damageNextDownload.has(barcode)).toBe(false); // the damage did happen
  expect(archiveGets(barcode)).toHaveLength(2);
  await saveHistory(client, book.workflowId, 'book-redownloaded-stored');
});

test('an archive that arrives damaged twice is parked, saying the fresh copy failed the same way', async () => {
  const client = await temporalClient();
  const barcode = sim.barcodes[2];
  sim.setFaults({ corruptArchive: { barcodes: [barcode] } });
  await startBatch(client, env.config, [barcode], { batchId: 'persistent-corruption', settings: settings() });
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(async () => (await board.locate(barcode)) === 'failed', PATIENCE_MS, 'parked');
  const lastError = (await board.get(barcode))!.lastError!;
  expect(lastError.message).toMatch(/fresh.*failed the same way/);
  expect(archiveGets(barcode)).toHaveLength(2);
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  expect((await book.query(statusQuery)).state).toBe('parked');
});
