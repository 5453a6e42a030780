/**
 * ConversionListings: one cached view of `_converted` and `_failed` per process, shared by every book
 * waiting for conversion. However many callers ask, GRIN is asked at most once per interval, and
 * concurrent callers share one fetch (issue 3: one `_converted` fetch per poll interval per worker).
 * A failed fetch fails every waiting caller with a transient GrinListingError, whatever went wrong:
 * the books are not at fault, so they all ask again and none parks. Only `_converted` is needed to
 * let a converted book go on: when just `_failed` cannot be read, books GRIN lists as converted are
 * answered, and only the others fail with the `_failed` listing's error (they might have failed).
 */
import { GrinListingError } from './errors';
import type { FailedEntry, GrinApi } from './types';

export type ConversionState =
  | { state: 'converted'; filename: string }
  | { state: 'failed'; entry: FailedEntry }
  /**
   * Not converted yet. `inProcess` tells whether GRIN's queue lists it (undefined when the queue is
   * not tracked); `seenAt` is when the snapshot was taken, so a caller can tell a request that GRIN
   * dropped (or a package evicted from the pool before download) from one made after the snapshot.
   */
  | { state: 'waiting'; inProcess?: boolean; seenAt: number };

export interface ConversionListingsOptions {
  /** Reuse a snapshot for this long. */
  intervalMs: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Also fetch `_in_process` (once per interval too), so lost requests can be noticed. */
  trackInProcess?: boolean;
}

interface Snapshot {
  converted: Map<string, string>;
  failed: Map<string, FailedEntry>;
  /** `_failed` could not be read: books not converted cannot be told apart from failed ones. */
  failedError?: GrinListingError;
  inProcess?: Set<string>;
  /** When the queue was read (the earlier read: what "not queued" is measured against). */
  seenAt: number;
  fetchedAt: number;
}

export class ConversionListings {
  private snapshot?: Snapshot;
  private inFlight?: Promise<Snapshot>;
  private stale = false;
  private readonly now: () => number;
  /** Fetches made so far (for tests and status output). */
  fetches = 0;

  constructor(
    private readonly client: Pick<GrinApi, 'listConverted' | 'listFailed'> & Partial<Pick<GrinApi, 'listInProcess'>>,
    private readonly opts: ConversionListingsOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Where `barcode` stands, from a snapshot at most `intervalMs` old. A failed fetch throws; a failed
   * `_failed` fetch throws only for books `_converted` does not list.
   */
  async check(barcode: string): Promise<ConversionState> {
    const snap = await this.current();
    const filename = snap.converted.get(barcode);
    if (filename !== undefined) return { state: 'converted', filename };
    if (snap.failedError) throw snap.failedError;
    const entry = snap.failed.get(barcode);
    if (entry) return { state: 'failed', entry };
    return { state: 'waiting', inProcess: snap.inProcess?.has(barcode), seenAt: snap.seenAt };
  }

  /** The next `check` fetches again (e.g. after requesting conversions). */
  invalidate(): void {
    this.stale = true;
  }

  /**
   * The current snapshot read `_converted` but not `_failed`: `check` answers (without a fetch) for
   * converted books and throws the `_failed` listing's error for the others.
   */
  get answersConvertedOnly(): boolean {
    const snap = this.snapshot;
    return !!snap?.failedError && !this.stale && this.now() - snap.fetchedAt < this.opts.intervalMs;
  }

  /** When the current snapshot was fetched, if any. */
  get fetchedAt(): number | undefined {
    return this.snapshot?.fetchedAt;
  }

  private current(): Promise<Snapshot> {
    const snap = this.snapshot;
    if (snap && !this.stale && this.now() - snap.fetchedAt < this.opts.intervalMs) return Promise.resolve(snap);
    if (this.inFlight) return this.inFlight;
    this.stale = false;
    const p = this.fetch().then(
      (s) => {
        this.snapshot = s;
        this.inFlight = undefined;
        return s;
      },
      (err: unknown) => {
        this.inFlight = undefined;
        throw err;
      },
    );
    this.inFlight = p;
    return p;
  }

  private async fetch(): Promise<Snapshot> {
    this.fetches++;
    const queueReadAt = this.now();
    // The queue is read before the converted list: a book leaving the queue between the two reads
    // then shows up as converted, never as "in neither list".
    const listInProcess = this.client.listInProcess?.bind(this.client);
    const inProcess = this.opts.trackInProcess && listInProcess ? new Set(await listing('_in_process', listInProcess)) : undefined;
    // The interval is counted from the `_converted` request, so those requests are never closer together.
    const fetchedAt = this.now();
    const [converted, failed] = await Promise.allSettled([
      listing('_converted', () => this.client.listConverted()),
      listing('_failed', () => this.client.listFailed()),
    ]);
    if (converted.status === 'rejected') throw converted.reason;
    return {
      converted: new Map(converted.value.map((e) => [e.barcode, e.filename])),
      failed: new Map(failed.status === 'fulfilled' ? failed.value.map((e) => [e.barcode, e]) : []),
      failedError: failed.status === 'rejected' ? (failed.reason as GrinListingError) : undefined,
      inProcess,
      seenAt: queueReadAt,
      fetchedAt,
    };
  }
}

/** Runs one listing fetch; any failure becomes a (transient) GrinListingError naming the listing. */
async function listing<T>(resource: string, fetch: () => Promise<T>): Promise<T> {
  try {
    return await fetch();
  } catch (err) {
    throw err instanceof GrinListingError ? err : new GrinListingError({ endpoint: `GET ${resource}` }, err);
  }
}
