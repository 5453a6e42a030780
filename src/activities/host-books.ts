/**
 * The books this host holds, and the admission of new ones. A book is held from the moment its
 * archive is complete on this host's disk (its download finished here, or a run continuing it finds
 * its files here) until its local files are removed (clean-up, discard) or its token says it left.
 * A download in progress is not a held book: it is counted by the admission slot its task came in
 * on (see `admissionSlots` in `src/worker.ts`), which goes back when the attempt ends, however it
 * ends. So a failed download attempt never keeps a place, a book's download retries take the next
 * free slot like any other download, and a held book's own later stages run on the host queue,
 * which needs no admission: every held book has a way forward that no slot can block.
 *
 * Admission: the worker polls the shared file queue for a new book only while
 *   held + slots granted < limit (`concurrency.booksOnHost`), and
 *   the disk can carry one more book (`DiskBudget`, below): depth first, and bounded by the disk.
 *
 * In memory, one per worker process. After a crash or restart it starts again from what is on disk
 * (`seedFromDisk`): every book with a complete archive or a later file under the processing folder;
 * a partial download (`.part`, the leftover of a killed download) is not a held book (its book's
 * retry waits on the shared queue, where it needs a slot anyway). The worker then checks the
 * seeded books' tokens at once (`reconcile`). Hooks are one-line, idempotent calls: `admit` where
 * a book's archive becomes complete here (the download's last step, a run finding its files here),
 * `release` where its local files are removed for good (clean-up, discard, cancel).
 *
 * A book can also leave without passing a `release` (parked in `failed`, moved to another host, sent
 * back to GRIN, or back in 02_converted for a download): `reconcile` looks at the tokens of the books
 * held and lets go of those that say the book is not past its download here, so no place is lost.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BookToken, Bucket } from '../buckets/token';
import { BOOK_FILE, BOOK_FILE_SUFFIXES } from '../common/identifiers';
import { SlotWaiters } from '../common/slot-waiters';
import { isOnHostBucket } from '../common/stages';
import type { DiskBudget } from './disk-space';

/** A partial download: the leftover of a download that did not finish. It makes no book held. */
const isPartialDownload = (name: string) => name.endsWith(BOOK_FILE_SUFFIXES.partial);

/** The barcodes that have a file or folder directly under the processing folder (not `processed/`). */
export async function barcodesOnDisk(processingDir: string): Promise<string[]> {
  return barcodesIn(await namesIn(processingDir));
}

/** The barcodes held by the files named (the names directly under a processing folder): partial downloads hold none. */
export function heldBarcodesIn(names: readonly string[]): string[] {
  return barcodesIn(names.filter((name) => !isPartialDownload(name)));
}

function barcodesIn(names: readonly string[]): string[] {
  const found = new Set<string>();
  for (const name of names) {
    const m = BOOK_FILE.exec(name);
    if (m) found.add(m[1]);
  }
  return [...found].sort();
}

/** Buckets in which a book may still download, here or on another host: its partial download may be resumed. */
const MAY_DOWNLOAD: readonly Bucket[] = ['00_available', '01_requested', '02_converted'];

/**
 * Removes the partial downloads (`.part`) under `processingDir` that no download will resume: the
 * book's token is past its download (finished on another host after a kill here), settled, or gone.
 * A `.part` whose book may still download is kept (a retry that lands here resumes it with Range),
 * and so is one changed within `graceMs` (a download writing it now). Returns the files removed.
 */
export async function removeStalePartials(
  processingDir: string,
  lookup: (barcode: string) => Promise<BookToken | null>,
  opts: { graceMs?: number; now?: number } = {},
): Promise<string[]> {
  const cutoff = (opts.now ?? Date.now()) - (opts.graceMs ?? 0);
  const removed: string[] = [];
  for (const name of (await namesIn(processingDir)).filter(isPartialDownload)) {
    const barcode = BOOK_FILE.exec(name)?.[1];
    if (!barcode) continue;
    const file = join(processingDir, name);
    const changed = await stat(file).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    if (changed === undefined || changed > cutoff) continue;
    const token = await lookup(barcode);
    if (token && MAY_DOWNLOAD.includes(token.bucket)) continue;
    await rm(file, { force: true });
    removed.push(name);
  }
  return removed;
}

async function namesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
}

/** True when the token says the book is (still) held by the host whose queue is `hostQueue`. */
export function tokenOnHost(token: BookToken | null, hostQueue: string): boolean {
  return !!token && token.fileQueue === hostQueue && isOnHostBucket(token.bucket);
}

export class HostBooks {
  /** barcode → when it was (last) admitted, ms since the epoch; 0 for books found on disk at start. */
  private readonly held = new Map<string, number>();
  /** Slots granted for taking new books that have not been given back yet. */
  private reservedSlots = 0;
  private readonly waiters = new SlotWaiters();
  /** The operator's controls (src/control): new books held back, and a cap on downloads in flight. */
  private operatorPaused = false;
  private downloadCap: number | undefined;

  /**
   * `limit`: books this host holds at most, counting slots granted for taking new ones; `disk`:
   * what the processing disk can still carry (none: the limit alone decides).
   */
  constructor(
    readonly limit: number,
    readonly disk?: DiskBudget,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`HostBooks limit must be a positive integer, got ${limit}`);
  }

  /** Starts from the books held by the files under `processingDir` (a worker starting after a crash). */
  async seedFromDisk(processingDir: string): Promise<this> {
    return this.seed(heldBarcodesIn(await namesIn(processingDir)));
  }

  /** Starts from these books (found on disk): held as admitted long ago, so the first `reconcile` checks them. */
  seed(barcodes: readonly string[]): this {
    for (const barcode of barcodes) if (!this.held.has(barcode)) this.held.set(barcode, 0);
    return this;
  }

  /** A book's archive is complete on this host (or it continues here with its files). Idempotent. */
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

  /**
   * Room for one more book, counting the slots already granted (each may bring one): fewer than
   * `limit`, and a disk that can carry one more. A host with nothing held and no slot granted
   * always has room: waiting could not make room there, and the download's own disk check says
   * what the book waits for when even one book does not fit.
   */
  get hasRoom(): boolean {
    // A pause by the operator is a named outside cause: no new book, however empty the host.
    if (this.operatorPaused) return false;
    if (this.downloadCap !== undefined && this.reservedSlots >= this.downloadCap) return false;
    const books = this.held.size + this.reservedSlots;
    if (books >= this.limit) return false;
    return books === 0 || !this.disk || this.disk.carries(books + 1);
  }

  /**
   * The operator's controls, re-read by the worker every few seconds: `paused` takes no new book;
   * `maxDownloads` caps the slots granted (downloads in flight), below `limit`. Running downloads finish.
   */
  setOperatorControls(controls: { paused: boolean; maxDownloads?: number }): void {
    this.operatorPaused = controls.paused;
    this.downloadCap = controls.maxDownloads;
    this.wake();
  }

  get pausedByOperator(): boolean {
    return this.operatorPaused;
  }

  get operatorDownloadCap(): number | undefined {
    return this.downloadCap;
  }

  /** Serves waiting slot requests if there is room now (the worker calls it after measuring the disk again). */
  recheck(): void {
    this.wake();
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
    if (this.waiters.size === 0 && this.tryReserve()) return Promise.resolve();
    return this.waiters.wait(signal);
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
    this.waiters.serve(() => this.tryReserve());
  }
}
