/**
 * The board's lookup of a book in all ten buckets (regularFiles): which entries count as copies,
 * and that a failure other than "missing" fails the lookup instead of hiding a copy.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Board, BUCKETS } from '../../src/buckets';
import { regularFiles } from '../../src/buckets/board';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'board-lookup-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('regularFiles: files are found in order; missing entries, folders and symbolic links are not copies', async () => {
  fs.writeFileSync(path.join(dir, 'a.json'), '{}');
  fs.mkdirSync(path.join(dir, 'folder.json'));
  fs.symlinkSync(path.join(dir, 'a.json'), path.join(dir, 'link.json'));
  fs.writeFileSync(path.join(dir, 'b.json'), '{}');
  const names = ['missing.json', 'a.json', 'folder.json', 'link.json', 'b.json', 'also-missing.json'];
  expect(await regularFiles(names.map((n) => path.join(dir, n)))).toEqual([false, true, false, false, true, false]);
  expect(await regularFiles([])).toEqual([]);
});

test('regularFiles: an error other than a missing entry rejects with that error', async () => {
  fs.writeFileSync(path.join(dir, 'plain'), '');
  await expect(regularFiles([path.join(dir, 'a.json'), path.join(dir, 'plain', 'x.json')])).rejects.toMatchObject({ code: 'ENOTDIR' });
});

test('a lookup finds the token beside a folder named like it, and keeps only the newest of two copies', async () => {
  const board = await Board.open(path.join(dir, 'pipeline'));
  await board.create({ barcode: 'LOOKUP1', directory: 'lib' });
  fs.mkdirSync(path.join(dir, 'pipeline', '03_downloaded', 'LOOKUP1.json'));
  expect((await board.get('LOOKUP1'))?.bucket).toBe('00_available');

  const moved = await board.move('LOOKUP1', '02_converted');
  // A crash between a move's two steps: the older copy is left behind in 00_available.
  const older = { ...moved, bucket: '00_available' as const, updatedAt: new Date(Date.parse(moved.updatedAt) - 1000).toISOString() };
  fs.writeFileSync(path.join(dir, 'pipeline', '00_available', 'LOOKUP1.json'), JSON.stringify(older));
  expect(await board.locate('LOOKUP1')).toBe('02_converted');
  expect(BUCKETS.filter((b) => fs.existsSync(path.join(dir, 'pipeline', b, 'LOOKUP1.json')))).toEqual(['02_converted', '03_downloaded']);
});

test('a bucket that cannot be read fails the lookup rather than passing over a copy', async () => {
  const board = await Board.open(path.join(dir, 'pipeline'));
  await board.create({ barcode: 'LOOKUP2', directory: 'lib' });
  const bucket = path.join(dir, 'pipeline', '05_extracted');
  fs.rmSync(bucket, { recursive: true });
  fs.writeFileSync(bucket, 'not a folder');
  await expect(board.get('LOOKUP2')).rejects.toMatchObject({ code: 'ENOTDIR' });
});
