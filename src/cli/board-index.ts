/**
 * Where many books are on the board at once: one directory listing per bucket into a map, instead
 * of one lookup per book. `start-batch --dry-run` over a million barcodes and `start-batch --wait`'s
 * counts of one batch's books read the board this way.
 */
import type { Board } from '../buckets/board';
import { BUCKETS, type Bucket } from '../buckets/token';

/** Barcode → bucket for every token on the board (file names only; no token is read). */
export async function boardIndex(board: Board): Promise<Map<string, Bucket>> {
  const listed = await Promise.all(BUCKETS.map(async (bucket) => [bucket, await board.listBarcodes(bucket)] as const));
  const index = new Map<string, Bucket>();
  // A crash can leave a book in two buckets for a moment; the later bucket is where it is going.
  for (const [bucket, barcodes] of listed) for (const barcode of barcodes) index.set(barcode, bucket);
  return index;
}

/** Counts per bucket of the given books only (books not on the board are not counted). */
export async function countsOfBooks(board: Board, books: ReadonlySet<string>): Promise<Record<Bucket, number>> {
  const counts = Object.fromEntries(BUCKETS.map((b) => [b, 0])) as Record<Bucket, number>;
  for (const [barcode, bucket] of await boardIndex(board)) if (books.has(barcode)) counts[bucket]++;
  return counts;
}
