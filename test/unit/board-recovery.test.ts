/**
 * Crash recovery and robustness of the board: a move interrupted between writing the new copy and
 * removing the old one, leftover temp files, strays and unreadable tokens.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Board, BUCKETS, TokenFileError, type BookToken } from '../../src/buckets';

let root: string;
let board: Board;

beforeEach(async () => {
  root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'board-recovery-')), 'pipeline');
  board = await Board.open(root);
});
afterEach(() => {
  fs.rmSync(path.dirname(root), { recursive: true, force: true });
});

function copiesOf(barcode: string): string[] {
  return BUCKETS.filter((bucket) => fs.existsSync(path.join(root, bucket, `${barcode}.json`)));
}

function readToken(bucket: string, barcode: string): BookToken {
  return JSON.parse(fs.readFileSync(path.join(root, bucket, `${barcode}.json`), 'utf8')) as BookToken;
}

/**
 * Simulates a crash in the middle of `move(barcode, to)`: the new token is written into `to` (first
 * step, through the same code a move uses) but the old copy is never removed (second step).
 */
async function crashMidMove(barcode: string, to: BookToken['bucket'], patch: Partial<BookToken> = {}): Promise<BookToken> {
  const current = (await board.get(barcode)) as BookToken;
  const later = new Date(Date.parse(current.updatedAt) + 5).toISOString();
  const next: BookToken = { ...current, ...patch, bucket: to, stages: { ...current.stages, [to]: later }, updatedAt: later };
  await board.writeTokenCopy(next);
  return next;
}

test('a crash between the two steps of a move leaves two copies; get keeps only the newest', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  await board.move('AAA111', '02_converted');
  const written = await crashMidMove('AAA111', '03_downloaded', { encryptedBytes: 42 });
  expect(copiesOf('AAA111')).toEqual(['02_converted', '03_downloaded']);

  expect(await board.get('AAA111')).toEqual(written);
  expect(copiesOf('AAA111')).toEqual(['03_downloaded']);
});

test('locate applies the same rule, even when the newer copy is in an earlier bucket (retry from failed)', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  await board.move('AAA111', 'failed', { lastError: { stage: '03_downloaded', message: 'x', at: new Date().toISOString() } });
  await crashMidMove('AAA111', '02_converted');
  expect(copiesOf('AAA111')).toEqual(['02_converted', 'failed']);
  expect(await board.locate('AAA111')).toBe('02_converted');
  expect(copiesOf('AAA111')).toEqual(['02_converted']);
});

test('equal updatedAt: the copy in the later bucket wins', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  const token = (await board.get('AAA111')) as BookToken;
  // A copy made by hand (cp) keeps the same updatedAt.
  fs.copyFileSync(path.join(root, '00_available', 'AAA111.json'), path.join(root, '04_decrypted', 'AAA111.json'));
  expect(await board.get('AAA111')).toEqual({ ...token, bucket: '04_decrypted' });
  expect(copiesOf('AAA111')).toEqual(['04_decrypted']);
});

test('a move after a crash continues from the newest copy and leaves one', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  await board.move('AAA111', '02_converted');
  await crashMidMove('AAA111', '03_downloaded', { encryptedBytes: 42 });
  const moved = await board.move('AAA111', '04_decrypted', { decryptedBytes: 40 });
  expect(moved).toMatchObject({ encryptedBytes: 42, decryptedBytes: 40, bucket: '04_decrypted' });
  expect(copiesOf('AAA111')).toEqual(['04_decrypted']);
});

test('reconcile resolves duplicates across the board and counts stay honest', async () => {
  for (const barcode of ['AAA111', 'BBB222', 'CCC333']) await board.create({ barcode, directory: 'PRNC' });
  await crashMidMove('AAA111', '01_requested');
  await crashMidMove('BBB222', '07_stored');
  const result = await board.reconcile();
  expect(result.duplicatesResolved.sort()).toEqual(['AAA111', 'BBB222']);
  expect(result.problems).toEqual([]);
  expect(copiesOf('AAA111')).toEqual(['01_requested']);
  expect(copiesOf('BBB222')).toEqual(['07_stored']);
  expect(copiesOf('CCC333')).toEqual(['00_available']);
  const counts = await board.counts();
  expect([counts['00_available'], counts['01_requested'], counts['07_stored']]).toEqual([1, 1, 1]);
});

test('an unreadable duplicate is renamed aside (kept for an operator), the readable copy wins', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  fs.writeFileSync(path.join(root, '05_extracted', 'AAA111.json'), '{"barcode": "AAA1');
  const result = await board.reconcile();
  expect(result.duplicatesResolved).toEqual(['AAA111']);
  expect(copiesOf('AAA111')).toEqual(['00_available']);
  const aside = fs.readdirSync(path.join(root, '05_extracted'));
  expect(aside).toHaveLength(1);
  expect(aside[0]).toMatch(/^AAA111\.json\.unreadable-\d+$/);
  expect(result.problems).toEqual([expect.objectContaining({ bucket: '05_extracted', file: aside[0] })]);
  // Afterwards it is an ordinary stray, reported and left alone.
  const again = await board.reconcile();
  expect(again.problems).toEqual([expect.objectContaining({ bucket: '05_extracted', file: aside[0] })]);
  expect(fs.existsSync(path.join(root, '05_extracted', aside[0]))).toBe(true);
});

test('leftover temp files: old ones are removed by reconcile, fresh ones (a move in progress) are kept', async () => {
  const dir = path.join(root, '03_downloaded');
  const old = '.AAA111.json.4242.0a1b2c3d4e5f.tmp';
  const fresh = '.BBB222.json.4242.3d4e5f6a7b8c.tmp';
  fs.writeFileSync(path.join(dir, old), '{"partial":');
  fs.writeFileSync(path.join(dir, fresh), '{"partial":');
  const twoMinutesAgo = new Date(Date.now() - 120_000);
  fs.utimesSync(path.join(dir, old), twoMinutesAgo, twoMinutesAgo);

  expect((await board.counts())['03_downloaded']).toBe(0);
  expect(await board.listBarcodes('03_downloaded')).toEqual([]);
  expect(await board.locate('AAA111')).toBeNull();

  const result = await board.reconcile();
  expect(result.tempFilesRemoved).toEqual([`03_downloaded/${old}`]);
  expect(result.problems).toEqual([]);
  expect(fs.readdirSync(dir)).toEqual([fresh]);
});

test('strays and unreadable tokens are reported by list and reconcile, never fatal, never deleted', async () => {
  await board.create({ barcode: 'GOOD01', directory: 'PRNC' });
  const dir = path.join(root, '00_available');
  const strays = {
    'notes.txt': 'hello',
    'BAD01.json': '{ not json',
    'ARRAY1.json': '[1, 2]',
    'OTHER1.json': JSON.stringify({ barcode: 'SOMEONE', directory: 'PRNC', bucket: '00_available', stages: {}, updatedAt: '' }),
    'PLACE1.json': JSON.stringify({ barcode: 'PLACE1', directory: 'PRNC', bucket: '06_processed', stages: {}, updatedAt: '' }),
    'a.json': '{}',
  };
  for (const [name, text] of Object.entries(strays)) fs.writeFileSync(path.join(dir, name), text);
  fs.mkdirSync(path.join(dir, 'DIR001.json'));

  const listed = await board.list('00_available');
  expect(listed.tokens.map((token) => token.barcode)).toEqual(['GOOD01', 'PLACE1']);
  expect(listed.tokens[1].bucket).toBe('00_available');
  const byFile = Object.fromEntries(listed.problems.map((problem) => [problem.file, problem.problem]));
  expect(Object.keys(byFile).sort()).toEqual([
    'ARRAY1.json',
    'BAD01.json',
    'DIR001.json',
    'OTHER1.json',
    'PLACE1.json',
    'a.json',
    'notes.txt',
  ]);
  expect(byFile['BAD01.json']).toMatch(/unreadable JSON/);
  expect(byFile['OTHER1.json']).toMatch(/token says barcode "SOMEONE"/);
  expect(byFile['PLACE1.json']).toMatch(/token says bucket "06_processed" but the file is in 00_available/);
  expect(byFile['notes.txt']).toMatch(/stray/);
  expect(byFile['DIR001.json']).toMatch(/not a regular file/);

  const result = await board.reconcile();
  expect(result.problems.map((problem) => problem.file).sort()).toEqual(Object.keys(byFile).sort());
  expect(result.problems.every((problem) => problem.bucket === '00_available')).toBe(true);
  expect(result.duplicatesResolved).toEqual([]);
  for (const name of [...Object.keys(strays), 'DIR001.json']) expect(fs.existsSync(path.join(dir, name))).toBe(true);

  // Counting goes by name only: well-named files count (even unreadable ones), strays and folders do not.
  expect((await board.counts())['00_available']).toBe(5);
});

test('a single unreadable token gives a clear error for that book only', async () => {
  fs.writeFileSync(path.join(root, '02_converted', 'BAD001.json'), 'garbage');
  await expect(board.get('BAD001')).rejects.toThrow(TokenFileError);
  await expect(board.move('BAD001', '03_downloaded')).rejects.toThrow(/BAD001\.json cannot be used: unreadable JSON/);
  expect(fs.readFileSync(path.join(root, '02_converted', 'BAD001.json'), 'utf8')).toBe('garbage');
  await board.create({ barcode: 'OK0001', directory: 'PRNC' });
  await board.move('OK0001', '01_requested');
  expect(readToken('01_requested', 'OK0001').bucket).toBe('01_requested');
});

test('a temp file of the request sequence cut by kill -9 (meta/) is removed by reconcile once old, a fresh one kept', async () => {
  const meta = path.join(root, 'meta');
  fs.mkdirSync(meta, { recursive: true });
  const old = '.grin-request-seq.4242.0a1b2c3d4e5f.tmp';
  const fresh = '.grin-request-seq.4243.3d4e5f6a7b8c.tmp';
  fs.writeFileSync(path.join(meta, 'grin-request-seq'), '7');
  fs.writeFileSync(path.join(meta, old), '8');
  fs.writeFileSync(path.join(meta, fresh), '9');
  const twoMinutesAgo = new Date(Date.now() - 120_000);
  fs.utimesSync(path.join(meta, old), twoMinutesAgo, twoMinutesAgo);

  const result = await board.reconcile();
  expect(result.tempFilesRemoved).toEqual([`meta/${old}`]);
  expect(fs.readdirSync(meta).sort()).toEqual([fresh, 'grin-request-seq'].sort());
});
