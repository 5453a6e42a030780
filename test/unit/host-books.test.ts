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
import { barcodesOnDisk, HostBooks, removeStalePartials } from '../../src/activities/host-books';
import type { BookToken, Bucket } from '../../src/buckets/token';
import { DiskBudget, PEAK_ARCHIVE_SIZES } from '../../src/activities/disk-space';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'host-books-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('seeded from every book with a complete archive or a later file under the processing folder; a partial download holds nothing', async () => {
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
  // The leftover of a killed download is no held book: its book's retry waits for a slot on the shared queue.
  expect(books.barcodes()).toEqual(['DEC3', 'DER5', 'ENC-2', 'EXT4', 'TMP6']);
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
  // CLAIMED (02_converted naming this host): its next task is a download on the shared queue, which takes a slot of its own.
  expect(gone.sort()).toEqual(['BACK_AT_GRIN', 'CLAIMED', 'MOVED', 'NO_TOKEN', 'PARKED', 'STORED']);
  expect(books.barcodes()).toEqual(['RECENT', 'WORKING']);
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

test('the disk limits admission: n books only while the room left carries n peaks; a host with nothing always takes one', async () => {
  const MIB = 1024 * 1024;
  let available = 1000 * MIB;
  // 1,000 MiB disk, threshold 0.9: room = available − 100 MiB. Default archive 100 MiB: a peak of 300 MiB.
  const disk = new DiskBudget('/processing', 0.9, 100 * MIB, async () => ({ total: 1000 * MIB, available }));
  await disk.refresh();
  expect(disk.roomBytes).toBe(900 * MIB);
  expect(disk.bookPeakBytes).toBe(PEAK_ARCHIVE_SIZES * 100 * MIB);
  const books = new HostBooks(10, disk);
  expect(books.tryReserve()).toBe(true); // 1 × 300 ≤ 900
  expect(books.tryReserve()).toBe(true); // 2 × 300 ≤ 900
  expect(books.tryReserve()).toBe(true); // 3 × 300 ≤ 900
  expect(books.tryReserve()).toBe(false); // 4 × 300 > 900, although the limit is 10
  const waiting = books.reserve();
  // The first download is complete and was larger than assumed: the estimate grows with it.
  books.admit('A');
  books.unreserve();
  disk.noteArchive(200 * MIB);
  available = 700 * MIB;
  await disk.refresh();
  books.recheck();
  expect(books.count + books.reserved).toBe(3); // the waiter still waits: 600 MiB room < 4 × 600 MiB
  // Everything leaves; the disk is as small as ever, but a host holding nothing takes one book.
  books.release('A');
  books.unreserve();
  books.unreserve();
  await waiting;
  expect(books.count + books.reserved).toBe(1);
  books.unreserve();
  available = 100 * MIB; // no room at all
  await disk.refresh();
  expect(books.tryReserve()).toBe(true);
  expect(books.tryReserve()).toBe(false);
});

describe('removeStalePartials', () => {
  const at = (bucket: Bucket): BookToken => ({ barcode: 'x', directory: 'd', bucket }) as BookToken;

  test('removes the .part of a book past its download, settled or unknown; keeps one that may still download, and recent ones', async () => {
    const processing = join(dir, 'processing');
    mkdirSync(processing, { recursive: true });
    const part = (barcode: string) => join(processing, `${barcode}.tar.gz.gpg.part`);
    const buckets: Record<string, Bucket | null> = {
      BOOK0001: '07_stored',
      BOOK0002: '03_downloaded',
      BOOK0003: 'failed',
      BOOK0004: null,
      BOOK0005: '02_converted',
      BOOK0006: '01_requested',
    };
    for (const barcode of Object.keys(buckets)) writeFileSync(part(barcode), 'partial');
    writeFileSync(join(processing, 'BOOK0001.tar.gz.gpg'), 'a complete archive is not a partial download');
    const lookup = async (barcode: string) => (buckets[barcode] ? at(buckets[barcode]!) : null);

    // Every file is younger than the grace period: nothing goes (a download may be writing it).
    expect(await removeStalePartials(processing, lookup, { graceMs: 60_000 })).toEqual([]);

    const removed = await removeStalePartials(processing, lookup, { graceMs: 60_000, now: Date.now() + 120_000 });
    expect(removed.sort()).toEqual(['BOOK0001', 'BOOK0002', 'BOOK0003', 'BOOK0004'].map((b) => `${b}.tar.gz.gpg.part`));
    await expect(barcodesOnDisk(processing)).resolves.toEqual(['BOOK0001', 'BOOK0005', 'BOOK0006']);
  });
});
