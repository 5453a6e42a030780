/**
 * The books this host holds: taken off the shared file queue (or otherwise put on this host) and not
 * yet cleaned up. The worker takes a new book only while fewer than `limit` are held (see the slot
 * supplier in `src/worker.ts`), so a host works depth first: a book it holds goes on to decrypt,
 * unpack and upload before another is downloaded, and its local disk is bounded by `limit` books,
 * not by the batch window.
 *
 * In memory, one per worker process. After a crash or restart it starts again from what is on disk
 * (`seedFromDisk`): every book with a file under the processing folder. Hooks are one-line calls:
 * `admit` where a book comes onto this host (the host claim, a download starting, a book found
 * continuing here), `release` where its local files are removed for good (clean-up, discard,
 * cancel). Both are idempotent, so an activity run again after a crash calls them again harmlessly.
 *
 * A book can also leave without passing a `release` (parked in `failed`, moved to another host, sent
 * back to GRIN): `reconcile` looks at the tokens of the books held and lets go of those that say the
 * book is no longer here, so no slot is lost for good.
 */
import { readdir } from 'node:fs/promises';
import type { BookToken } from '../buckets/token';

/** The names `bookPaths` gives a book's local files (and the temp files beside them): the barcode first. */
const BOOK_FILE = /^\.?([A-Za-z0-9_-]+?)(?:\.tar\.gz\.gpg\.part|\.tar\.gz\.gpg|\.tar\.gz|_extracted|_unpacked\.json|_derivatives)(?:\..*)?$/;

/** The barcodes that have a file or folder directly under the processing folder (not `processed/`). */
export async function barcodesOnDisk(processingDir: string): Promise<string[]> {
  const names = await readdir(processingDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  const found = new Set<string>();
  for (const name of names) {
    const m = BOOK_FILE.exec(name);
    if (m) found.add(m[1]);
  }
  return [...found].sort();
}

/** Buckets in which a book's file stages run (or wait to) on the host its token names. */
const ON_HOST_BUCKETS = new Set<string>(['02_converted', '03_downloaded', '04_decrypted', '05_extracted', '06_processed']);

/** True when the token says the book is (still) with the host whose queue is `hostQueue`. */
export function tokenOnHost(token: BookToken | null, hostQueue: string): boolean {
  return !!token && token.fileQueue === hostQueue && ON_HOST_BUCKETS.has(token.bucket);
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class HostBooks {
  /** barcode → when it was (last) admitted, ms since the epoch; 0 for books found on disk at start. */
  private readonly held = new Map<string, number>();
  /** Slots granted for taking new books that have not been given back yet. */
  private reservedSlots = 0;
  private readonly waiters: Waiter[] = [];

  /** `limit`: books this host holds at most, counting slots reserved for taking new ones. */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`HostBooks limit must be a positive integer, got ${limit}`);
  }

  /** Starts from the books whose files are under `processingDir` (a worker starting after a crash). */
  async seedFromDisk(processingDir: string): Promise<this> {
    for (const barcode of await barcodesOnDisk(processingDir)) if (!this.held.has(barcode)) this.held.set(barcode, 0);
    return this;
  }

  /** A book is on this host now. Idempotent. */
  admit(barcode: string, now = Date.now()): void {
    this.held.set(barcode, now);
  }

  /** The book's local files are gone for good: its place goes to the next book. Idempotent. */
  release(barcode: string): void {
    if (this.held.delete(barcode)) this.wake();
  }

  /** Books held. */
  get count(): number {
    return this.held.size;
  }

  /** Slots granted for taking a new book and not yet given back. */
  get reserved(): number {
    return this.reservedSlots;
  }

  has(barcode: string): boolean {
    return this.held.has(barcode);
  }

  barcodes(): string[] {
    return [...this.held.keys()].sort();
  }

  /** Room for one more book, counting the slots already granted (each may bring one). */
  get hasRoom(): boolean {
    return this.held.size + this.reservedSlots < this.limit;
  }

  /** Takes a slot for a new book if there is room now; false otherwise. Give it back with `unreserve`. */
  tryReserve(): boolean {
    if (!this.hasRoom) return false;
    this.reservedSlots++;
    return true;
  }

  /**
   * Resolves, with a slot taken, once there is room for one more book; rejects with the signal's
   * reason if it is aborted first. Waiters are served in order.
   */
  reserve(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.waiters.length === 0 && this.tryReserve()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  /** Gives back a slot from `reserve`/`tryReserve` (its task ended; a book it took is counted by `admit`). */
  unreserve(): void {
    if (this.reservedSlots > 0) this.reservedSlots--;
    this.wake();
  }

  /**
   * Lets go of held books whose token says they are no longer on this host (parked, cancelled,
   * stored, sent back to GRIN, or claimed by another host); returns the barcodes let go. Only books
   * admitted before `now - graceMs` are considered, and only if not admitted again meanwhile, so a
   * claim whose token write lands just after its `admit` is never mistaken for a book gone.
   */
  async reconcile(
    lookup: (barcode: string) => Promise<BookToken | null>,
    hostQueue: string,
    opts: { graceMs?: number; now?: number } = {},
  ): Promise<string[]> {
    const cutoff = (opts.now ?? Date.now()) - (opts.graceMs ?? 0);
    const candidates = [...this.held].filter(([, at]) => at <= cutoff);
    const gone: string[] = [];
    for (const [barcode, at] of candidates) {
      const token = await lookup(barcode);
      if (tokenOnHost(token, hostQueue) || this.held.get(barcode) !== at) continue;
      this.held.delete(barcode);
      gone.push(barcode);
    }
    if (gone.length > 0) this.wake();
    return gone;
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.hasRoom) {
      const waiter = this.waiters.shift()!;
      if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
      this.reservedSlots++;
      waiter.resolve();
    }
  }
}
