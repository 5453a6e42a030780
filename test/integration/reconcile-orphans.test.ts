/**
 * `reconcile` lists objects in storage that no stored token vouches for (a cancel during the upload,
 * a crash before the token went up, a storage switch), on the S3 test server and on local storage:
 * books with objects and no token object are orphans (with where the board has them), a book in
 * 06_processed is being uploaded (not an orphan), a complete book is fine, keys of no layout
 * template are listed apart. Orphans make the command exit 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import { runReconcile } from '../../src/cli/reconcile';
import { loadConfig } from '../../src/config/load';
import type { PipelineConfig } from '../../src/config/types';
import { createStorage, storageKey, type S3Storage } from '../../src/storage';
import { runCli, writeConfigFile } from '../support/cli';
import { testS3Storage } from '../support/pipeline';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'grin-orphans-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function plantBooks(config: PipelineConfig): Promise<void> {
  const storage = createStorage(config.storage);
  if (config.storage.kind === 's3') await (storage as S3Storage).createBucketIfMissing();
  const layout = config.storage.layout;
  const board = await Board.open(config.pipelineDir);
  const put = (kind: 'archive' | 'ocr' | 'marc' | 'token', barcode: string) =>
    storage.putBytes(`${kind} of ${barcode}`, storageKey(layout, kind, barcode));
  // Stored completely.
  await board.create({ barcode: 'GOOD01', directory: 'TEST' });
  await board.move('GOOD01', '07_stored');
  for (const kind of ['archive', 'ocr', 'marc', 'token'] as const) await put(kind, 'GOOD01');
  // Cancelled during its upload: archive and OCR up, no token.
  await board.create({ barcode: 'CANC01', directory: 'TEST' });
  await board.move('CANC01', 'cancelled');
  await put('archive', 'CANC01');
  await put('ocr', 'CANC01');
  // Left by an earlier pipeline (another board, or a storage switch): not on this board.
  await put('marc', 'LOST01');
  // Being uploaded right now.
  await board.create({ barcode: 'UPLD01', directory: 'TEST' });
  await board.move('UPLD01', '06_processed');
  await put('archive', 'UPLD01');
  // Someone else's file.
  await storage.putBytes('hello', 'notes/readme.txt');
}

const expectedScan = {
  orphans: [
    { barcode: 'CANC01', bucket: 'cancelled', keys: ['full/CANC01/CANC01_ocr.jsonl.gz', 'raw/CANC01/CANC01.tar.gz'] },
    { barcode: 'LOST01', bucket: null, keys: ['meta/LOST01/LOST01_marc.json'] },
  ],
  uploading: ['UPLD01'],
  unknownKeys: ['notes/readme.txt'],
  keysListed: 9,
};

test.each([
  ['the S3 test server', () => testS3Storage({ bucket: `books-orphans-${Date.now()}`, prefix: 'library/' })],
  ['local storage', () => ({ kind: 'local' as const, path: join(dir, 'storage') })],
])('reconcile lists books with objects and no stored token on %s', async (_where, storageSettings) => {
  const config = loadConfig({
    env: {},
    overrides: {
      pipelineDir: join(dir, 'pipeline'),
      processingDir: join(dir, 'processing'),
      storage: storageSettings(),
      temporal: { address: '127.0.0.1:1' },
    },
  });
  await plantBooks(config);

  const report = await runReconcile(config, {});
  expect(report.storageError).toBeUndefined();
  expect(report.storage).toEqual(expectedScan);

  const configFile = writeConfigFile(dir, config);
  const text = await runCli(['-c', configFile, 'reconcile']);
  expect(text.exitCode).toBe(1);
  expect(text.stdout).toContain(
    'storage: 9 objects, 2 books with objects and no stored token (orphans), 1 being uploaded, 1 keys outside the layout',
  );
  expect(text.stdout).toContain('orphan CANC01 (board: cancelled): full/CANC01/CANC01_ocr.jsonl.gz raw/CANC01/CANC01.tar.gz');
  expect(text.stdout).toContain('orphan LOST01 (not on the board): meta/LOST01/LOST01_marc.json');
  const json = await runCli(['-c', configFile, 'reconcile', '--json']);
  expect(json.exitCode).toBe(1);
  expect((JSON.parse(json.stdout) as { storage: unknown }).storage).toEqual(expectedScan);
  // --no-storage: the board check only, which finds nothing.
  const boardOnly = await runCli(['-c', configFile, 'reconcile', '--no-storage', '--json']);
  expect(boardOnly.exitCode).toBe(0);
  expect((JSON.parse(boardOnly.stdout) as { storage?: unknown }).storage).toBeUndefined();
});
