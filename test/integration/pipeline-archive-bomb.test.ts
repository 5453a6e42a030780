/**
 * A decompression bomb served by the simulator (a ~4 MB archive that unpacks to 4 GiB of zeros) is
 * refused by the pipeline with its default limits, early, and the book is parked with the reason;
 * a good book in the same batch is stored, its token saying how many files checksum.md5 covered.
 */
import { existsSync } from 'node:fs';
import { bookPaths } from '../../src/activities/deps';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId } from '../../src/workflows/contracts';
import { temporalClient, useSimulatedPipeline } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const p = useSimulatedPipeline('bomb', {
  books: 2,
  seed: 11,
  initialState: 'all-available',
  conversionDelaySeconds: 1,
  pages: { min: 2, max: 3 },
  pageImageBytes: 16 * 1024,
});

test('a decompression bomb is parked as a permanent failure after less than 100 MB unpacked; a good book is stored', async () => {
  const { sim, env } = p;
  const [bomb, good] = sim.barcodes;
  sim.setFaults({ decompressionBomb: { barcodes: [bomb] } });
  const client = await temporalClient();
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
  const handle = await startBatch(client, env.config, [bomb, good], { batchId: 'bomb', settings });
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(async () => (await board.locate(bomb)) === 'failed', PATIENCE_MS, 'bomb parked').catch(async (err: unknown) => {
    const desc = await client.workflow
      .getHandle(bookWorkflowId(sim.directory, bomb))
      .describe()
      .catch(() => undefined);
    throw new Error(
      `${String(err)}; token: ${JSON.stringify(await board.get(bomb))}; pending: ${JSON.stringify(desc?.raw.pendingActivities?.map((a) => [a.activityType?.name, a.attempt, a.lastFailure?.message]))}`,
    );
  });

  const error = (await board.get(bomb))!.lastError!;
  expect(error.stage).toBe('04_decrypted');
  expect(error.type).toBe('ArchiveLimitError');
  expect(error.message).toMatch(/decompression bomb.*maxExpansionRatio/);
  const unpacked = Number(/unpacked to more than (\d+)/.exec(error.message)?.[1]);
  expect(unpacked).toBeGreaterThan(0);
  expect(unpacked).toBeLessThan(100_000_000);
  // Refused, not retried: one download, and nothing of it left unpacked on disk.
  const gets = sim.requestLog.filter((r) => r.method === 'GET' && r.path.endsWith(`${bomb}.tar.gz.gpg`));
  expect(gets.length).toBe(1);
  const paths = bookPaths(env.config.processingDir, bomb);
  expect(existsSync(paths.extracted)).toBe(false);
  expect(existsSync(paths.decrypted)).toBe(false);

  expect(await handle.result()).toMatchObject({ total: 2, stored: 1, failed: 1 });
  const stored = (await board.get(good))!;
  expect(stored.bucket).toBe('07_stored');
  expect(stored.checksumVerified).toBe(stored.extractedFiles! - 1); // every file but checksum.md5 itself
  expect(stored.checksumUnlisted).toBe(0);
});
