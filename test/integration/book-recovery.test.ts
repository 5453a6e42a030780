/**
 * What a book does when something goes wrong that a human might otherwise have to fix:
 *  - a package that vanished from GRIN (404) before the download is requested from GRIN again;
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
import type { RunningSimulator } from '../../devkit/simulator';
import { bookWorkflowId, statusQuery } from '../../src/workflows/contracts';
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
  sim = await startTestSimulator('recovery', {
    books: 6,
    seed: 77,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 2, max: 3 },
    pageImageBytes: 32 * 1024,
  });
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
const archiveGets = (barcode: string) =>
  sim.requestLog.filter((r) => r.method === 'GET' && r.barcode === barcode && r.path.endsWith('.tar.gz.gpg') && r.status === 200);
const processCalls = (barcode: string) => sim.requestLog.filter((r) => r.path.endsWith('/_process') && r.barcodes?.includes(barcode));

test('a package gone from GRIN at download is requested from GRIN again, and stored', async () => {
  const client = await temporalClient();
  const barcode = sim.barcodes[0];
  // The first HEAD finds nothing: the real activities report it, the workflow asks GRIN to convert it again.
  // (Parking after five re-requests, and retry, are decisions tested in test/workflow/book-decisions.test.ts.)
  sim.setFaults({ transient404: { barcodes: [barcode], times: 1 } });
  await startBatch(client, env.config, [barcode], { batchId: 're-request-404', settings: settings() });
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  await waitUntil(async () => !!(await book.describe().catch(() => undefined)), PATIENCE_MS, 'book workflow started');
  expect(await book.result()).toBe('stored');
  expect(processCalls(barcode)).toHaveLength(2);
  expect((await book.query(statusQuery)).reRequests).toBe(1);
  expect(await (await Board.open(env.config.pipelineDir)).locate(barcode)).toBe('07_stored');
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
