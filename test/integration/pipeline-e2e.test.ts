/**
 * The walking skeleton end to end on real servers: books go from 00_available to 07_stored through
 * the real Temporal dev server, with the GRIN simulator over HTTP and uploads to a real S3 server.
 */
import { createGunzip } from 'node:zlib';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { Board } from '../../src/buckets/board';
import type { RunningSimulator } from '../../devkit/simulator';
import { createStorage } from '../../src/storage';
import type { BookStorage } from '../../src/storage/types';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { bookWorkflowId, retrySignal, statusQuery } from '../../src/workflows/contracts';
import {
  startWorkers,
  temporalClient,
  testEnv,
  type RunningWorkers,
  type TestEnv,
  testS3Storage,
  startTestSimulator,
} from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

// Generous: a busy machine may take many times longer than an idle one; the tests wait for events.
jest.setTimeout(TEST_PATIENCE_MS);

const BOOKS = 10;
let sim: RunningSimulator;
let env: TestEnv;
let workers: RunningWorkers;
let storage: BookStorage;

async function tarEntries(gz: Buffer): Promise<string[]> {
  const names: string[] = [];
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    names.push(header.name);
    stream.on('end', next);
    stream.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  Readable.from(gz).pipe(createGunzip()).pipe(ex);
  await done;
  return names;
}

beforeAll(async () => {
  sim = await startTestSimulator('e2e', {
    books: 30,
    seed: 7,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 2, max: 4 },
    pageImageBytes: 16 * 1024,
  });
  env = testEnv(sim, 'e2e', {
    storage: testS3Storage({ bucket: `books-e2e-${Date.now()}`, prefix: 'library/' }),
  });
  storage = createStorage(env.config.storage);
  await (storage as unknown as { createBucketIfMissing(): Promise<void> }).createBucketIfMissing();
  workers = await startWorkers(env.config);
});

afterAll(async () => {
  await workers?.stop();
  await sim?.close();
  env?.cleanup();
});

test(`${BOOKS} books go from 00_available to 07_stored with their files in S3`, async () => {
  const client = await temporalClient();
  const barcodes = sim.barcodes.slice(0, BOOKS);
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 2 });
  const handle = await startBatch(client, env.config, barcodes, { batchId: 'e2e', settings });
  const summary = await handle.result();
  const board = await Board.open(env.config.pipelineDir);
  // Parked books' reasons first, so a failure says why.
  expect((await board.list('failed')).tokens.map((t) => `${t.barcode}: ${t.lastError?.message}`)).toEqual([]);
  expect(summary).toMatchObject({ total: BOOKS, started: BOOKS, stored: BOOKS, failed: 0 });

  const counts = await board.counts();
  expect(counts['07_stored']).toBe(BOOKS);
  expect(counts.failed).toBe(0);

  for (const barcode of barcodes) {
    const token = await board.get(barcode);
    expect(token).toMatchObject({ barcode, bucket: '07_stored', directory: sim.directory });
    // Every stage left its timestamp on the way.
    for (const b of [
      '01_requested',
      '02_converted',
      '03_downloaded',
      '04_decrypted',
      '05_extracted',
      '06_processed',
      '07_stored',
    ] as const) {
      expect(token!.stages[b]).toBeDefined();
    }
    expect(token!.grinEtag).toBe(sim.book(barcode).etag);

    const archive = await storage.head(`raw/${barcode}/${barcode}.tar.gz`);
    expect(archive?.metadata.grin_etag).toBe(token!.grinEtag);
    expect(archive?.metadata.barcode).toBe(barcode);
    const names = await tarEntries(await storage.getBytes(`raw/${barcode}/${barcode}.tar.gz`));
    expect(names).toContain('00000001.jp2');
    expect(names).toContain('checksum.md5');
    expect(names).toContain(`${sim.directory}_${barcode}.xml`);

    const ocrLines = gunzipSync(await storage.getBytes(`full/${barcode}/${barcode}_ocr.jsonl.gz`))
      .toString('utf8')
      .trim()
      .split('\n');
    expect(ocrLines.length).toBe(token!.pageCount);
    expect(typeof JSON.parse(ocrLines[0])).toBe('string');
    expect(JSON.parse(ocrLines[0]).length).toBeGreaterThan(10);

    const marc = JSON.parse((await storage.getBytes(`meta/${barcode}/${barcode}_marc.json`)).toString('utf8'));
    expect(marc.barcode).toBe(barcode);
    expect(marc.hasMarc).toBe(true);
    expect(marc.marc.title).toBeTruthy();

    const storedToken = JSON.parse((await storage.getBytes(`meta/${barcode}/${barcode}.token.json`)).toString('utf8'));
    expect(storedToken.barcode).toBe(barcode);
    expect(JSON.stringify(storedToken)).not.toContain(sim.passphrase);
  }

  // No secret reaches Temporal's history: not the GPG passphrase, the GRIN token or the S3 key.
  for (const id of [bookWorkflowId(sim.directory, barcodes[0]), handle.workflowId]) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const text = JSON.stringify(history, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
    expect(text).toContain(barcodes[0]); // payloads were decoded, so the check below means something
    for (const secret of [sim.passphrase, 'sim-token', 'test-secret-key']) expect(text).not.toContain(secret);
  }

  // Local files are gone from the processing folder once stored.
  const { readdirSync } = await import('node:fs');
  expect(readdirSync(env.config.processingDir).filter((f) => !f.startsWith('.'))).toEqual([]);

  // Re-running the same batch starts no second workflow and downloads nothing again.
  const downloadsBefore = sim.requestLog.filter((r) => r.method === 'GET' && r.path.endsWith('.tar.gz.gpg')).length;
  const again = await startBatch(client, env.config, barcodes, { batchId: 'e2e-again', settings });
  const second = await again.result();
  expect(second).toMatchObject({ started: 0, alreadyKnown: BOOKS });
  const downloadsAfter = sim.requestLog.filter((r) => r.method === 'GET' && r.path.endsWith('.tar.gz.gpg')).length;
  expect(downloadsAfter).toBe(downloadsBefore);
});

test('a book that cannot be decrypted is parked in failed with the reason, and a retry after the fix stores it', async () => {
  const { writeFileSync } = await import('node:fs');
  const client = await temporalClient();
  const barcode = sim.barcodes[20];
  // The operator's passphrase file is wrong.
  const passphraseFile = env.config.grin.gpgPassphrase.file!;
  writeFileSync(passphraseFile, 'not the passphrase');
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
  await startBatch(client, env.config, [barcode], { batchId: 'park', settings });
  const board = await Board.open(env.config.pipelineDir);
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, barcode));
  await waitUntil(async () => (await board.locate(barcode)) === 'failed', PATIENCE_MS, 'book parked');
  const parked = await board.get(barcode);
  expect(parked?.lastError?.stage).toBe('04_decrypted');
  expect(parked?.lastError?.message).toMatch(/passphrase/i);
  expect(parked?.lastError?.message).not.toContain('not the passphrase');
  expect((await book.query(statusQuery)).state).toBe('parked');

  writeFileSync(passphraseFile, sim.passphrase);
  await book.signal(retrySignal);
  expect(await book.result()).toBe('stored');
  expect(await board.locate(barcode)).toBe('07_stored');
  expect((await board.get(barcode))?.lastError).toBeUndefined();
});

test('damaged archives are parked with the reason: a checksum mismatch names the file, a non-gzip archive is refused', async () => {
  const client = await temporalClient();
  const [mismatch, notGzip] = [sim.barcodes[21], sim.barcodes[22]];
  sim.setFaults({ checksumMismatch: { barcodes: [mismatch] }, notGzip: { barcodes: [notGzip] } });
  const settings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1 });
  await startBatch(client, env.config, [mismatch, notGzip], { batchId: 'damaged', settings });
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(
    async () => (await board.locate(mismatch)) === 'failed' && (await board.locate(notGzip)) === 'failed',
    PATIENCE_MS,
    'both parked',
  );

  const m = (await board.get(mismatch))!.lastError!;
  expect(m.stage).toBe('05_extracted');
  expect(m.type).toBe('ChecksumMismatchError');
  expect(m.message).toContain('00000001.txt');

  const g = (await board.get(notGzip))!.lastError!;
  expect(g.stage).toBe('04_decrypted');
  expect(g.type).toBe('CorruptArchiveError');
  // Nothing of a refused book is left in storage or half-unpacked on disk.
  expect(await storage.head(`raw/${notGzip}/${notGzip}.tar.gz`)).toBeNull();
  const { existsSync } = await import('node:fs');
  const { bookPaths } = await import('../../src/activities/deps');
  expect(existsSync(bookPaths(env.config.processingDir, notGzip).extracted)).toBe(false);
  sim.setFaults({ checksumMismatch: undefined, notGzip: undefined });
});
