/**
 * A finished batch leaves its report in storage (a real S3 server): JSON, CSV and a summary under
 * `meta/reports/`, with a row per book, the parked book's reason, and no secret.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { createStorage } from '../../src/storage';
import type { Report } from '../../src/report';
import { temporalClient, testS3Storage, useSimulatedPipeline } from '../support/pipeline';

jest.setTimeout(600_000);

const bucket = `reports-${Date.now()}`;
const p = useSimulatedPipeline(
  'report',
  { books: 4, seed: 5, initialState: 'all-available', conversionDelaySeconds: 1, pages: { min: 2, max: 3 }, pageImageBytes: 4 * 1024 },
  { storage: testS3Storage({ bucket, prefix: 'lib/' }) },
);

// Before any book is stored (the workers touch storage only to store one).
beforeAll(async () => {
  await (createStorage(p.env.config.storage) as unknown as { createBucketIfMissing(): Promise<void> }).createBucketIfMissing();
});

test('a finished batch writes its report to storage under meta/reports/', async () => {
  const { sim, env } = p;
  const client = await temporalClient();
  const barcodes = sim.barcodes.slice(0, 3);
  sim.setFaults({ notGzip: { barcodes: [barcodes[2]] } });
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
  const handle = await startBatch(client, env.config, barcodes, { batchId: 'rep', settings });
  expect(await handle.result()).toMatchObject({ stored: 2, failed: 1 });

  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: env.config.storage.kind === 's3' ? env.config.storage.endpoint : undefined,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test-access-key', secretAccessKey: 'test-secret-key' },
  });
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'lib/meta/reports/' }));
  const keys = (listed.Contents ?? []).map((o) => o.Key!.slice('lib/'.length)).sort();
  expect(keys.map((k) => k.replace(/-\d{4}-.*\./, '-<time>.'))).toEqual([
    'meta/reports/batch-rep-<time>.csv',
    'meta/reports/batch-rep-<time>.json',
    'meta/reports/batch-rep-<time>.txt',
  ]);

  const storage = createStorage(env.config.storage);
  const report = JSON.parse((await storage.getBytes(keys[1])).toString('utf8')) as Report;
  expect(report.summary).toMatchObject({ batchId: 'rep', books: 3, remaining: 0, parkedByReason: { CorruptArchiveError: 1 } });
  expect(report.summary.buckets['07_stored']).toBe(2);
  expect(report.summary.storedLastHour).toBe(2);
  const stored = report.rows.find((r) => r.barcode === barcodes[0])!;
  expect(stored).toMatchObject({ bucket: '07_stored', grinEtag: sim.book(barcodes[0]).etag });
  expect(stored.encryptedBytes).toBeGreaterThan(0);
  expect(stored.pageCount).toBeGreaterThan(0);
  expect(stored.title).toBeTruthy();
  expect(Object.values(stored.stored ?? {})).toContain(`raw/${barcodes[0]}/${barcodes[0]}.tar.gz`);
  const parked = report.rows.find((r) => r.barcode === barcodes[2])!;
  expect(parked).toMatchObject({ bucket: 'failed', parkedType: 'CorruptArchiveError', parkedStage: '04_decrypted' });

  const csv = (await storage.getBytes(keys[0])).toString('utf8');
  expect(csv.trimEnd().split('\r\n')).toHaveLength(4);
  const all = csv + JSON.stringify(report) + (await storage.getBytes(keys[2])).toString('utf8');
  for (const secret of [sim.passphrase, 'sim-token', 'test-secret-key']) expect(all).not.toContain(secret);
  sim.setFaults({ notGzip: undefined });
});
