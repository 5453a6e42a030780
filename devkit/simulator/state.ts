/**
 * GRIN's conversion machinery over the catalogue: the conversion queue (capped), conversions per
 * simulated day, the converted pool (capped, oldest evicted), failures, and downloads. Time only
 * moves when `tick(now)` is called (the server calls it on every request), so the state at any
 * simulated instant is the same however requests happen to be spaced.
 */
import type { BookState, SimBook } from './inventory';
import { deriveSeed, pick, seededRandom, type Random } from './random';

export const PROCESS_STATUS = {
  success: 'Success',
  alreadyConverting: 'Already being converted',
  alreadyAvailable: 'Already available for download',
  notAllowed: 'Not allowed to be downloaded',
  otherError: 'Other error',
  /** Our wording for books refused because the queue is full (the whole answer is then HTTP 429). */
  queueFull: 'Queue limit reached',
} as const;

export interface ConversionRules {
  queueCap: number;
  conversionDelaySeconds: number;
  conversionsPerDay: number;
  poolCap: number;
  conversionFailureRate: number;
  failConversion: string[];
  seed: number;
  /** Simulated time the clock started; simulated days are counted from here. */
  clockStart: number;
}

export interface ProcessResult {
  statuses: { barcode: string; status: string }[];
  /** Some barcode was refused because the queue reached its cap: answer 429. */
  queueFull: boolean;
}

export interface LibraryStats {
  queued: number;
  queueHighWater: number;
  pool: number;
  conversionsCompleted: number;
  conversionsFailed: number;
  evictions: number;
  /** Evictions of a package nobody had downloaded since it was converted: a conversion wasted. */
  evictedBeforeDownload: number;
  /** Most books at once requested and not downloaded since (queued, or converted and not fetched). */
  undownloadedHighWater: number;
  downloads: number;
  queueFullRefusals: number;
}

export interface LibraryEvents {
  /** A package left the pool (evicted, or replaced by a newer conversion): its cached file can go. */
  packageGone?(barcode: string, conversion: number): void;
}

const DAY_MS = 86_400_000;

const FAILURE_REASONS: [string, string][] = [
  ['Error: Timeout', 'Process exceeded 3600s'],
  ['Error: Missing page images', 'Page image sequence incomplete'],
  ['Error: Conversion error', 'Package assembly failed'],
];

export class Library {
  private readonly books = new Map<string, SimBook>();
  /** Conversion queue in request order: barcode -> time the conversion may complete. */
  private readonly queue = new Map<string, number>();
  /** Converted pool in conversion order (oldest first). */
  private readonly pool = new Map<string, number>();
  private readonly failures = new Map<string, SimBook>();
  private readonly completedPerDay = new Map<number, number>();
  private readonly failureRandom: Random;
  private lastTick = -Infinity;
  private readonly counters = {
    queueHighWater: 0,
    conversionsCompleted: 0,
    conversionsFailed: 0,
    evictions: 0,
    evictedBeforeDownload: 0,
    undownloadedHighWater: 0,
    downloads: 0,
    queueFullRefusals: 0,
  };

  constructor(
    catalogue: SimBook[],
    private readonly rules: ConversionRules,
    private readonly events: LibraryEvents = {},
  ) {
    for (const [name, value] of Object.entries({
      queueCap: rules.queueCap,
      poolCap: rules.poolCap,
      conversionsPerDay: rules.conversionsPerDay,
    })) {
      if (!(Number.isInteger(value) && value > 0)) throw new Error(`${name} must be a positive integer, got ${value}`);
    }
    if (!(rules.conversionDelaySeconds >= 0)) throw new Error(`conversionDelaySeconds must be >= 0, got ${rules.conversionDelaySeconds}`);
    if (!(rules.conversionFailureRate >= 0 && rules.conversionFailureRate <= 1)) {
      throw new Error(`conversionFailureRate must be between 0 and 1, got ${rules.conversionFailureRate}`);
    }
    this.failureRandom = seededRandom(deriveSeed(rules.seed, 'conversion-failures'));
    for (const book of catalogue) this.books.set(book.barcode, book);
    const queued = catalogue.filter((b) => b.state === 'IN_PROCESS').sort((a, b) => a.requestedAt! - b.requestedAt!);
    for (const book of queued) this.queue.set(book.barcode, book.requestedAt! + rules.conversionDelaySeconds * 1000);
    const converted = catalogue.filter((b) => b.inPool).sort((a, b) => a.convertedDate! - b.convertedDate!);
    for (const book of converted) this.pool.set(book.barcode, book.convertedDate!);
    this.evictOverflow();
    this.counters.queueHighWater = this.queue.size;
  }

  get(barcode: string): SimBook | undefined {
    return this.books.get(barcode);
  }

  all(): IterableIterator<SimBook> {
    return this.books.values();
  }

  get size(): number {
    return this.books.size;
  }

  /** Books in the conversion queue, in request order. */
  *inProcess(): Generator<SimBook> {
    for (const barcode of this.queue.keys()) yield this.books.get(barcode)!;
  }

  /** Books whose package is in the converted pool, oldest conversion first. */
  *converted(): Generator<SimBook> {
    for (const barcode of this.pool.keys()) yield this.books.get(barcode)!;
  }

  /** Books whose last conversion failed and that nobody has asked to convert again. */
  *failed(): Generator<SimBook> {
    yield* this.failures.values();
  }

  /** Books a `_process` request would queue. */
  *available(): Generator<SimBook> {
    for (const book of this.books.values()) if (this.canQueue(book)) yield book;
  }

  stats(): LibraryStats {
    return { ...this.counters, queued: this.queue.size, pool: this.pool.size };
  }

  private canQueue(book: SimBook): boolean {
    return (book.state === 'NEW' || book.state === 'PREVIOUSLY_DOWNLOADED') && !book.inPool && !this.queue.has(book.barcode);
  }

  /** Completes every conversion due by `now`, in queue order, within each simulated day's quota. */
  tick(now: number): void {
    if (now <= this.lastTick) return;
    this.lastTick = now;
    for (const [barcode, readyAt] of this.queue) {
      const doneAt = this.firstSlotFrom(readyAt);
      // Later entries are ready no earlier and meet days at least as full, so they wait too.
      if (doneAt > now) break;
      this.queue.delete(barcode);
      const day = Math.floor((doneAt - this.rules.clockStart) / DAY_MS);
      this.completedPerDay.set(day, (this.completedPerDay.get(day) ?? 0) + 1);
      this.complete(this.books.get(barcode)!, doneAt);
    }
  }

  /** The earliest time at or after `t` that falls in a simulated day with conversions left. */
  private firstSlotFrom(t: number): number {
    const start = this.rules.clockStart;
    let day = Math.floor((t - start) / DAY_MS);
    let at = t;
    while ((this.completedPerDay.get(day) ?? 0) >= this.rules.conversionsPerDay) {
      day += 1;
      at = Math.max(at, start + day * DAY_MS);
    }
    return at;
  }

  private complete(book: SimBook, at: number): void {
    book.requestedAt = undefined;
    const fails =
      this.rules.failConversion.includes(book.barcode) ||
      (this.rules.conversionFailureRate > 0 && this.failureRandom() < this.rules.conversionFailureRate);
    if (fails) {
      const [info, detailedInfo] = pick(this.failureRandom, FAILURE_REASONS);
      book.state = book.stateBeforeConversion;
      book.failure = { date: at, info, detailedInfo };
      this.failures.set(book.barcode, book);
      this.counters.conversionsFailed += 1;
      return;
    }
    book.state = 'CONVERTED';
    book.inPool = true;
    book.conversions += 1;
    book.convertedDate = at;
    this.pool.set(book.barcode, at);
    this.counters.conversionsCompleted += 1;
    this.evictOverflow();
  }

  private evictOverflow(): void {
    while (this.pool.size > this.rules.poolCap) {
      const oldest = this.pool.keys().next().value as string;
      this.pool.delete(oldest);
      const book = this.books.get(oldest)!;
      book.inPool = false;
      if (book.state === 'CONVERTED') book.state = book.stateBeforeConversion;
      this.counters.evictions += 1;
      if (book.downloadedDate === undefined || book.downloadedDate < (book.convertedDate ?? 0)) this.counters.evictedBeforeDownload += 1;
      this.events.packageGone?.(oldest, book.conversions);
    }
  }

  /** `_process`: answers one status per barcode, in order; queues what it can up to the cap. */
  requestConversion(barcodes: string[], now: number): ProcessResult {
    this.tick(now);
    const statuses: ProcessResult['statuses'] = [];
    let queueFull = false;
    for (const barcode of barcodes) {
      const book = this.books.get(barcode);
      let status: string;
      if (!book) status = PROCESS_STATUS.otherError;
      else if (this.queue.has(barcode)) status = PROCESS_STATUS.alreadyConverting;
      else if (book.inPool) status = PROCESS_STATUS.alreadyAvailable;
      else if (!this.canQueue(book)) status = PROCESS_STATUS.notAllowed;
      else if (this.queue.size >= this.rules.queueCap) {
        status = PROCESS_STATUS.queueFull;
        queueFull = true;
        this.counters.queueFullRefusals += 1;
      } else {
        this.enqueue(book, now);
        status = PROCESS_STATUS.success;
      }
      statuses.push({ barcode, status });
    }
    return { statuses, queueFull };
  }

  private enqueue(book: SimBook, now: number): void {
    book.stateBeforeConversion = book.state === 'PREVIOUSLY_DOWNLOADED' ? 'PREVIOUSLY_DOWNLOADED' : 'NEW';
    book.state = 'IN_PROCESS';
    book.requestedAt = now;
    book.failure = undefined;
    this.failures.delete(book.barcode);
    this.queue.set(book.barcode, now + this.rules.conversionDelaySeconds * 1000);
    this.counters.queueHighWater = Math.max(this.counters.queueHighWater, this.queue.size);
    // Only a new request can raise it (a conversion moves a book from queue to pool; a download lowers it).
    let undownloaded = this.queue.size;
    for (const barcode of this.pool.keys()) {
      const b = this.books.get(barcode)!;
      if (b.downloadedDate === undefined || b.downloadedDate < (b.convertedDate ?? 0)) undownloaded += 1;
    }
    this.counters.undownloadedHighWater = Math.max(this.counters.undownloadedHighWater, undownloaded);
  }

  /** A client received the whole package: the state column now says PREVIOUSLY_DOWNLOADED. */
  markDownloaded(barcode: string, now: number): void {
    const book = this.books.get(barcode);
    if (!book) return;
    book.downloadedDate = now;
    book.stateBeforeConversion = 'PREVIOUSLY_DOWNLOADED';
    if (book.state !== 'IN_PROCESS') book.state = 'PREVIOUSLY_DOWNLOADED' satisfies BookState;
    this.counters.downloads += 1;
  }
}
