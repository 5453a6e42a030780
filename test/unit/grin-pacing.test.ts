/**
 * Pacing of conversion requests against the board's counts: a book over a cap waits (a transient,
 * benign failure naming the setting), a book already at GRIN is never held back, requests made
 * at the same moment cannot overshoot a cap together, and a book downloaded late keeps later
 * requests from pushing its package out of GRIN's pool.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Board, type Bucket } from '../../src/buckets';
import { createGrinPacing, GrinRoomError } from '../../src/activities/grin-pacing';

let root: string;
let board: Board;

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'grin-pacing-'));
  board = await Board.open(path.join(root, 'pipeline'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

async function place(barcode: string, bucket: Bucket): Promise<void> {
  await board.create({ barcode, directory: 'TEST', batchId: 'b' });
  if (bucket !== '00_available') await board.move(barcode, bucket);
}

/** What the request activity does once admitted: ask GRIN (not here), then move the token with its request number. */
const requestOf = (barcode: string) => async (requestSeq: number) => {
  await board.move(barcode, '01_requested', { requestSeq });
  return barcode;
};

test('a book waits when the books requested and not downloaded reach the cap', async () => {
  await place('AAA0001', '01_requested');
  await place('AAA0002', '02_converted');
  await place('AAA0003', '03_downloaded'); // downloaded: no longer takes room at GRIN
  await place('BBB0001', '00_available');
  const paced = createGrinPacing(board, { maxRequestedNotDownloaded: 2, maxInGrinQueue: 10 });

  const refused = await paced('BBB0001', 42, requestOf('BBB0001')).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(GrinRoomError);
  const err = refused as GrinRoomError;
  expect(err.retryable).toBe(true);
  expect(err.benign).toBe(true);
  expect(err.retryAfterSeconds).toBe(42);
  expect(err.waitingFor).toBe("room in GRIN's converted pool");
  expect(err.message).toContain('grin.pacing.maxRequestedNotDownloaded is 2');
  expect(await board.locate('BBB0001')).toBe('00_available');

  // Room again once a book is downloaded.
  await board.move('AAA0002', '03_downloaded');
  await expect(paced('BBB0001', 42, requestOf('BBB0001'))).resolves.toBe('BBB0001');
  expect(await board.locate('BBB0001')).toBe('01_requested');
});

test('a book waits when the books not converted yet reach the queue cap', async () => {
  await place('AAA0001', '01_requested');
  await place('AAA0002', '01_requested');
  await place('BBB0001', '00_available');
  const paced = createGrinPacing(board, { maxRequestedNotDownloaded: 100, maxInGrinQueue: 2 });
  const err = (await paced('BBB0001', 5, requestOf('BBB0001')).catch((e: unknown) => e)) as GrinRoomError;
  expect(err).toBeInstanceOf(GrinRoomError);
  expect(err.waitingFor).toBe("room in GRIN's conversion queue");
  expect(err.message).toContain('grin.pacing.maxInGrinQueue is 2');
});

test('a book already requested or converted asks again whatever the counts (a repeated request takes no new room)', async () => {
  await place('AAA0001', '01_requested');
  await place('AAA0002', '02_converted');
  const paced = createGrinPacing(board, { maxRequestedNotDownloaded: 1, maxInGrinQueue: 1 });
  await expect(paced('AAA0001', 1, async () => 'again')).resolves.toBe('again');
  await expect(paced('AAA0002', 1, async () => 'again')).resolves.toBe('again');
});

test('requests at the same moment are admitted one at a time and never overshoot the cap', async () => {
  const books = Array.from({ length: 8 }, (_, i) => `CCC000${i}`);
  for (const b of books) await place(b, '00_available');
  const paced = createGrinPacing(board, { maxRequestedNotDownloaded: 3, maxInGrinQueue: 100 });
  const results = await Promise.allSettled(books.map((b) => paced(b, 1, requestOf(b))));
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
  expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof GrinRoomError)).toBe(
    true,
  );
  expect((await board.counts())['01_requested']).toBe(3);
});

test("a book not downloaded while later ones are holds back requests that would push its package out of GRIN's pool", async () => {
  const books = Array.from({ length: 6 }, (_, i) => `DDD000${i}`);
  for (const b of books) await place(b, '00_available');
  const paced = createGrinPacing(board, { maxRequestedNotDownloaded: 3, maxInGrinQueue: 100 });
  for (const b of books.slice(0, 3)) await paced(b, 1, requestOf(b));
  expect((await Promise.all(books.slice(0, 3).map((b) => board.get(b)))).map((t) => t?.requestSeq)).toEqual([1, 2, 3]);

  // The first book lags; the 2nd and 3rd are downloaded. Counting books not downloaded (1) would admit
  // two more, and GRIN would then hold 4 packages newer than or as new as the lagging one's.
  await board.move(books[1], '03_downloaded');
  await board.move(books[2], '03_downloaded');
  const err = (await paced(books[3], 7, requestOf(books[3])).catch((e: unknown) => e)) as GrinRoomError;
  expect(err).toBeInstanceOf(GrinRoomError);
  expect(err.retryAfterSeconds).toBe(7);
  expect(err.waitingFor).toBe(`book ${books[0]} to be downloaded (room in GRIN's converted pool)`);
  expect(err.message).toContain(`book ${books[0]} is not downloaded yet and 2 books were requested after it`);
  expect(await board.locate(books[3])).toBe('00_available');

  // Once it is downloaded, the oldest at GRIN is none: requests go on, numbered after the others.
  await board.move(books[0], '03_downloaded');
  await expect(paced(books[3], 7, requestOf(books[3]))).resolves.toBe(books[3]);
  expect((await board.get(books[3]))?.requestSeq).toBe(4);
  await expect(paced(books[4], 7, requestOf(books[4]))).resolves.toBe(books[4]);
  await expect(paced(books[5], 7, requestOf(books[5]))).resolves.toBe(books[5]);
  // Three at GRIN again (4, 5, 6): the count cap holds too.
  expect(await paced('DDD0009', 7, requestOf('DDD0009')).catch((e: unknown) => e)).toBeInstanceOf(GrinRoomError);
});

test('the request numbers survive a new worker (they are kept in the pipeline folder)', async () => {
  await place('EEE0001', '00_available');
  await place('EEE0002', '00_available');
  await createGrinPacing(board, { maxRequestedNotDownloaded: 10, maxInGrinQueue: 10 })('EEE0001', 1, requestOf('EEE0001'));
  await createGrinPacing(board, { maxRequestedNotDownloaded: 10, maxInGrinQueue: 10 })('EEE0002', 1, requestOf('EEE0002'));
  expect((await board.get('EEE0001'))?.requestSeq).toBe(1);
  expect((await board.get('EEE0002'))?.requestSeq).toBe(2);
});
