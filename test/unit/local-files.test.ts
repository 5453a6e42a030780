/**
 * `findLocalProgress`: a book continued from its token's bucket resumes from the furthest stage whose
 * outputs are really on this host's disk, never further than the token says, and downloads again
 * when nothing usable is left.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import { bookPaths, type ActivityDeps } from '../../src/activities/deps';
import { createLocalFilesActivities } from '../../src/activities/local-files';
import { HostBooks } from '../../src/activities/host-books';

const BARCODE = '32044099990001';
let dir: string;
let board: Board;
let activities: ReturnType<typeof createLocalFilesActivities>;
let paths: ReturnType<typeof bookPaths>;
let hostBooks: HostBooks;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'local-files-'));
  board = await Board.open(join(dir, 'pipeline'));
  const processingDir = join(dir, 'processing');
  mkdirSync(processingDir);
  paths = bookPaths(processingDir, BARCODE);
  hostBooks = new HostBooks(4);
  activities = createLocalFilesActivities({ config: { processingDir }, board, hostBooks } as unknown as ActivityDeps);
  await board.move(BARCODE, '06_processed', { directory: 'TEST', encryptedBytes: 3, decryptedBytes: 5 });
  writeFileSync(paths.encrypted, 'abc');
  writeFileSync(paths.decrypted, '12345');
  mkdirSync(paths.extracted);
  writeFileSync(paths.unpacked, '{}');
  mkdirSync(paths.derivatives);
  writeFileSync(join(paths.derivatives, `${BARCODE}_ocr.jsonl.gz`), 'x');
  writeFileSync(join(paths.derivatives, `${BARCODE}_marc.json`), '{}');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const progress = async (bucket: '03_downloaded' | '04_decrypted' | '05_extracted' | '06_processed') =>
  (await activities.findLocalProgress({ barcode: BARCODE, bucket })).bucket;

test('everything on disk: continue where the token is, never further', async () => {
  expect(await progress('06_processed')).toBe('06_processed');
  expect(await progress('04_decrypted')).toBe('04_decrypted');
});

test('missing derivatives or unpacked files: go back only as far as needed', async () => {
  rmSync(paths.derivatives, { recursive: true });
  expect(await progress('06_processed')).toBe('05_extracted');
  rmSync(paths.extracted, { recursive: true });
  expect(await progress('06_processed')).toBe('04_decrypted');
});

test('a decrypted archive of the wrong size does not count; the encrypted one still may', async () => {
  writeFileSync(paths.decrypted, '123');
  expect(await progress('06_processed')).toBe('03_downloaded');
});

test('nothing usable left: download again', async () => {
  await activities.discardLocalFiles({ barcode: BARCODE });
  expect(await progress('05_extracted')).toBe('02_converted');
});

test('the host counts a book found continuing here, and lets it go when its files are discarded', async () => {
  expect(await progress('06_processed')).toBe('06_processed');
  expect(hostBooks.has(BARCODE)).toBe(true);
  await activities.discardLocalFiles({ barcode: BARCODE });
  expect(hostBooks.has(BARCODE)).toBe(false);
  // Nothing left here: not counted (the workflow claims a host again).
  expect(await progress('05_extracted')).toBe('02_converted');
  expect(hostBooks.count).toBe(0);
});
