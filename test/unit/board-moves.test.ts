import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Board, BookNotOnBoardError, BUCKETS, InvalidBarcodeError, type Bucket } from '../../src/buckets';

let root: string;
let board: Board;

beforeEach(async () => {
  root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'board-moves-')), 'pipeline');
  board = await Board.open(root);
});
afterEach(() => {
  fs.rmSync(path.dirname(root), { recursive: true, force: true });
});

function filesOf(barcode: string): string[] {
  return BUCKETS.filter((bucket) => fs.existsSync(path.join(root, bucket, `${barcode}.json`)));
}

function allEntries(): string[] {
  return BUCKETS.flatMap((bucket) => fs.readdirSync(path.join(root, bucket)).map((name) => `${bucket}/${name}`));
}

test('open creates the pipeline folder and every bucket folder', () => {
  expect(fs.readdirSync(root).sort()).toEqual([...BUCKETS].sort());
});

test('create puts a token in 00_available, once', async () => {
  const { token, created } = await board.create({ barcode: 'AAA111', directory: 'PRNC', batchId: 'b1' });
  expect(created).toBe(true);
  expect(token).toMatchObject({ barcode: 'AAA111', directory: 'PRNC', batchId: 'b1', bucket: '00_available' });
  expect(token.stages['00_available']).toBe(token.updatedAt);
  expect(JSON.parse(fs.readFileSync(path.join(root, '00_available', 'AAA111.json'), 'utf8'))).toEqual(token);

  await board.move('AAA111', '01_requested');
  const again = await board.create({ barcode: 'AAA111', directory: 'PRNC', batchId: 'b2' });
  expect(again.created).toBe(false);
  expect(again.token).toMatchObject({ bucket: '01_requested', batchId: 'b1' });
  expect(filesOf('AAA111')).toEqual(['01_requested']);
});

test('move carries the token through the stages, one copy at a time, merging patches', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  const path1 = await board.move('AAA111', '01_requested', { status: 'requested' });
  expect(path1.stages['01_requested']).toBeDefined();
  const moved = await board.move('AAA111', '03_downloaded', { encryptedBytes: 1234, grinEtag: 'abc' });
  expect(moved).toMatchObject({ bucket: '03_downloaded', encryptedBytes: 1234, grinEtag: 'abc', status: 'requested' });
  expect(Object.keys(moved.stages)).toEqual(['00_available', '01_requested', '03_downloaded']);
  expect(filesOf('AAA111')).toEqual(['03_downloaded']);
  expect(await board.get('AAA111')).toEqual(moved);
  expect(await board.locate('AAA111')).toBe('03_downloaded');
  // No temp files left behind.
  expect(allEntries()).toEqual(['03_downloaded/AAA111.json']);
});

test('updatedAt strictly increases with every write', async () => {
  const first = (await board.create({ barcode: 'AAA111', directory: 'PRNC' })).token;
  let previous = first.updatedAt;
  for (const to of ['01_requested', '02_converted', '02_converted', '03_downloaded'] as Bucket[]) {
    const token = await board.move('AAA111', to);
    expect(Date.parse(token.updatedAt)).toBeGreaterThan(Date.parse(previous));
    previous = token.updatedAt;
  }
});

test('moving to the same bucket only applies the patch', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  const requested = await board.move('AAA111', '01_requested');
  const same = await board.move('AAA111', '01_requested', { status: 'still waiting' });
  expect(same.status).toBe('still waiting');
  expect(same.stages['01_requested']).toBe(requested.stages['01_requested']);
  expect(filesOf('AAA111')).toEqual(['01_requested']);
});

test('arriving in a stage bucket clears lastError unless the patch sets it', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  const lastError = { stage: '04_decrypted' as const, message: 'bad passphrase', type: 'DecryptError', at: new Date().toISOString() };
  const failed = await board.move('AAA111', 'failed', { lastError });
  expect(failed.lastError).toEqual(lastError);
  const retried = await board.move('AAA111', '03_downloaded');
  expect(retried.lastError).toBeUndefined();
  expect(JSON.parse(fs.readFileSync(path.join(root, '03_downloaded', 'AAA111.json'), 'utf8'))).not.toHaveProperty('lastError');
  const kept = await board.move('AAA111', '04_decrypted', { lastError });
  expect(kept.lastError).toEqual(lastError);
});

test('move places a book that is not on the board yet, which needs its directory', async () => {
  await expect(board.move('NEW111', '02_converted')).rejects.toThrow('patch.directory');
  expect(filesOf('NEW111')).toEqual([]);
  const token = await board.move('NEW111', '02_converted', { directory: 'PRNC', workflowId: 'grin/PRNC/NEW111' });
  expect(token).toMatchObject({ bucket: '02_converted', directory: 'PRNC', workflowId: 'grin/PRNC/NEW111' });
  expect(token.stages).toEqual({ '02_converted': token.updatedAt });
});

test('update rewrites in place and refuses books not on the board', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  await board.move('AAA111', '01_requested');
  const updated = await board.update('AAA111', { status: 'waiting for disk space', bucket: 'failed' });
  expect(updated).toMatchObject({ bucket: '01_requested', status: 'waiting for disk space' });
  expect(filesOf('AAA111')).toEqual(['01_requested']);
  await expect(board.update('NOPE111', { status: 'x' })).rejects.toThrow(BookNotOnBoardError);
});

test('a patch cannot change the barcode, and unknown buckets are refused', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  await expect(board.move('AAA111', '01_requested', { barcode: 'BBB222' })).rejects.toThrow('Cannot change the barcode');
  await expect(board.move('AAA111', '../elsewhere' as Bucket)).rejects.toThrow('Unknown bucket');
  expect(filesOf('AAA111')).toEqual(['00_available']);
});

test('concurrent operations on one barcode are serialized and leave one copy', async () => {
  await board.create({ barcode: 'AAA111', directory: 'PRNC' });
  const targets: Bucket[] = ['01_requested', '02_converted', '03_downloaded', '04_decrypted', '05_extracted'];
  await Promise.all(targets.map((to, index) => board.move('AAA111', to, { attempts: index })));
  expect(filesOf('AAA111')).toHaveLength(1);
  const token = await board.get('AAA111');
  expect(Object.keys(token?.stages ?? {})).toHaveLength(6);
});

test('counts, list and listBarcodes per bucket; temp files are not counted', async () => {
  for (const barcode of ['CCC333', 'AAA111', 'BBB222']) await board.create({ barcode, directory: 'PRNC' });
  await board.move('BBB222', '07_stored');
  fs.writeFileSync(path.join(root, '00_available', '.DDD444.json.123.abcdef012345.tmp'), '{');

  const expected = Object.fromEntries(BUCKETS.map((bucket) => [bucket, 0])) as Record<Bucket, number>;
  expected['00_available'] = 2;
  expected['07_stored'] = 1;
  expect(await board.counts()).toEqual(expected);

  expect((await board.listBarcodes('00_available')).sort()).toEqual(['AAA111', 'CCC333']);
  const { tokens, problems } = await board.list('00_available');
  expect(tokens.map((token) => token.barcode)).toEqual(['AAA111', 'CCC333']);
  expect(problems).toEqual([]);
  expect((await board.list('07_stored')).tokens[0]).toMatchObject({ barcode: 'BBB222', bucket: '07_stored' });
});

test('invalid barcodes are refused before any path is touched', async () => {
  const outside = path.join(path.dirname(root), 'x.json');
  fs.writeFileSync(outside, JSON.stringify({ barcode: '../x', directory: 'PRNC', bucket: '00_available', stages: {}, updatedAt: '' }));
  const before = allEntries();
  const fsCalls = (['lstat', 'stat', 'readFile', 'open', 'rename', 'rm', 'unlink', 'readdir', 'mkdir', 'access'] as const).map((method) =>
    jest.spyOn(fs.promises, method),
  );
  for (const bad of ['../x', '../../etc/passwd', 'a/b', 'ab', '']) {
    await expect(board.get(bad)).rejects.toThrow(InvalidBarcodeError);
    await expect(board.locate(bad)).rejects.toThrow(InvalidBarcodeError);
    await expect(board.create({ barcode: bad, directory: 'PRNC' })).rejects.toThrow(InvalidBarcodeError);
    await expect(board.move(bad, '01_requested', { directory: 'PRNC' })).rejects.toThrow(InvalidBarcodeError);
    await expect(board.update(bad, {})).rejects.toThrow(InvalidBarcodeError);
    expect(() => board.tokenPath('00_available', bad)).toThrow(InvalidBarcodeError);
  }
  for (const spy of fsCalls) {
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  }
  expect(allEntries()).toEqual(before);
  expect(fs.existsSync(outside)).toBe(true);
  expect(fs.readdirSync(path.dirname(root)).sort()).toEqual(['pipeline', 'x.json']);
});

test('an invalid library directory is refused on create', async () => {
  await expect(board.create({ barcode: 'AAA111', directory: '../PRNC' })).rejects.toThrow('Invalid library directory');
  expect(filesOf('AAA111')).toEqual([]);
});

test('rebuild writes a token that was deleted, in the bucket it is told', async () => {
  await board.create({ barcode: 'LOST11', directory: 'PRNC' });
  await board.move('LOST11', '03_downloaded');
  fs.rmSync(path.join(root, '03_downloaded', 'LOST11.json'));
  const { token, rebuilt, setAside } = await board.rebuild('LOST11', '03_downloaded', {
    directory: 'PRNC',
    workflowId: 'grin/PRNC/LOST11',
    status: 'rebuilt',
  });
  expect({ rebuilt, setAside }).toEqual({ rebuilt: true, setAside: [] });
  expect(token).toMatchObject({ bucket: '03_downloaded', directory: 'PRNC', workflowId: 'grin/PRNC/LOST11', status: 'rebuilt' });
  expect(await board.get('LOST11')).toEqual(token);
});

test('rebuild sets an unreadable token aside (kept for an operator) and writes a fresh one', async () => {
  await board.create({ barcode: 'TRUNC1', directory: 'PRNC' });
  await board.move('TRUNC1', 'failed');
  fs.writeFileSync(path.join(root, 'failed', 'TRUNC1.json'), '{"barcode": "TRU');
  await expect(board.get('TRUNC1')).rejects.toThrow(/cannot be used: unreadable JSON/);
  const { token, rebuilt, setAside } = await board.rebuild('TRUNC1', 'failed', { directory: 'PRNC', status: 'rebuilt' });
  expect(rebuilt).toBe(true);
  expect(setAside).toEqual([expect.stringMatching(/^failed\/TRUNC1\.json\.unreadable-\d+$/)]);
  expect(token.status).toBe(`rebuilt; the unreadable file was kept as ${setAside[0]}`);
  expect(fs.readFileSync(path.join(root, setAside[0]), 'utf8')).toBe('{"barcode": "TRU');
  expect((await board.get('TRUNC1'))?.bucket).toBe('failed');
});

test('rebuild leaves a readable token as it is', async () => {
  await board.create({ barcode: 'FINE11', directory: 'PRNC' });
  const before = await board.move('FINE11', '02_converted', { status: 'ready' });
  const { token, rebuilt } = await board.rebuild('FINE11', '05_extracted', { directory: 'PRNC', status: 'rebuilt' });
  expect(rebuilt).toBe(false);
  expect(token).toEqual(before);
  expect(filesOf('FINE11')).toEqual(['02_converted']);
});

test('a move of a book that is not on the board, without its directory, is a permanent BookNotOnBoardError', async () => {
  const err = await board.move('GONE11', '03_downloaded').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BookNotOnBoardError);
  expect((err as BookNotOnBoardError).retryable).toBe(false);
});
