/**
 * HostBooks: the count of books a host holds (admission to clean-up), seeded from the processing
 * folder after a restart, the slots it grants for taking new books, and letting go of books whose
 * token says they left this host.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import { bookPaths } from '../../src/activities/deps';
import { barcodesOnDisk, HostBooks } from '../../src/activities/host-books';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'host-books-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('seeded from every book with a file under the processing folder, whatever its stage', async () => {
  const processing = join(dir, 'processing');
  mkdirSync(processing);
  const p = (b: string) => bookPaths(processing, b);
  writeFileSync(p('PARTIAL_1').partial, 'x'); // download under way
  writeFileSync(p('ENC-2').encrypted, 'x'); // downloaded
  writeFileSync(p('DEC3').decrypted, 'x'); // decrypted, encrypted already gone
  mkdirSync(p('EXT4').extracted);
  writeFileSync(p('EXT4').unpacked, '{}');
  mkdirSync(p('DER5').derivatives);
  writeFileSync(join(processing, '.TMP6_unpacked.json.123.0123456789ab.tmp'), '{}'); // a crash's temp file
  // Not books: kept copies (retention) and anything else.
  mkdirSync(join(processing, 'processed'));
  writeFileSync(join(processing, 'processed', 'KEPT7.tar.gz'), 'x');
  writeFileSync(join(processing, 'notes.txt'), 'x');

  expect(await barcodesOnDisk(processing)).toEqual(['DEC3', 'DER5', 'ENC-2', 'EXT4', 'PARTIAL_1', 'TMP6']);
  const books = await new HostBooks(10).seedFromDisk(processing);
  expect(books.count).toBe(6);
  expect(await barcodesOnDisk(join(dir, 'missing'))).toEqual([]);
});

test('admit and release are idempotent; the count is of books, not calls', () => {
  const books = new HostBooks(3);
  books.admit('A');
  books.admit('A');
  books.admit('B');
  expect(books.count).toBe(2);
  books.release('A');
  books.release('A');
  books.release('NEVER');
  expect(books.barcodes()).toEqual(['B']);
});

test('slots are granted only while books held + slots granted < limit, in order, and abortable', async () => {
  const books = new HostBooks(3);
  books.admit('A');
  expect(books.tryReserve()).toBe(true);
  await books.reserve(); // A + 2 slots = 3
  expect(books.tryReserve()).toBe(false);

  const order: string[] = [];
  const first = books.reserve().then(() => order.push('first'));
  const second = books.reserve().then(() => order.push('second'));
  const aborts = new AbortController();
  const aborted = books.reserve(aborts.signal);
  aborts.abort(new Error('poller stopped'));
  await expect(aborted).rejects.toThrow('poller stopped');

  // A slot's task took book B: the slot is given back but the book keeps its place.
  books.admit('B');
  books.unreserve();
  await Promise.resolve();
  expect(order).toEqual([]);
  // A leaves (cleaned up): one place for the first waiter.
  books.release('A');
  await first;
  expect(order).toEqual(['first']);
  expect(books.reserved).toBe(2);
  // A slot that brought no book (its poll timed out) frees a place too.
  books.unreserve();
  await second;
  expect(order).toEqual(['first', 'second']);
  expect(books.count + books.reserved).toBe(3);
  await expect(books.reserve(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
});

test('reconcile lets go of books whose token says they left, never of one admitted meanwhile', async () => {
  const board = await Board.open(join(dir, 'pipeline'));
  const here = 'files-host-a';
  await board.move('PARKED', 'failed', { directory: 'T', fileQueue: here });
  await board.move('STORED', '07_stored', { directory: 'T', fileQueue: here });
  await board.move('MOVED', '03_downloaded', { directory: 'T', fileQueue: 'files-host-b' });
  await board.move('BACK_AT_GRIN', '01_requested', { directory: 'T', fileQueue: here });
  await board.move('WORKING', '04_decrypted', { directory: 'T', fileQueue: here });
  await board.move('CLAIMED', '02_converted', { directory: 'T', fileQueue: here });
  const books = new HostBooks(10);
  for (const b of ['PARKED', 'STORED', 'MOVED', 'BACK_AT_GRIN', 'WORKING', 'CLAIMED', 'NO_TOKEN']) books.admit(b, 1000);
  books.admit('RECENT', 5000); // its token write has not landed yet

  // Holds every slot: a waiter is served once reconcile makes room.
  for (let i = books.count; i < 10; i++) await books.reserve();
  const waiting = books.reserve();

  const gone = await books.reconcile((b) => board.get(b), here, { now: 5500, graceMs: 1000 });
  expect(gone.sort()).toEqual(['BACK_AT_GRIN', 'MOVED', 'NO_TOKEN', 'PARKED', 'STORED']);
  expect(books.barcodes()).toEqual(['CLAIMED', 'RECENT', 'WORKING']);
  await waiting;

  // Admitted again while its token was being read: kept.
  books.release('RECENT');
  books.admit('AGAIN', 1000);
  const lookup = async (b: string) => {
    if (b === 'AGAIN') books.admit('AGAIN', 6000);
    return board.get(b);
  };
  expect(await books.reconcile(lookup, here, { now: 6000, graceMs: 0 })).toEqual([]);
  expect(books.has('AGAIN')).toBe(true);
});
