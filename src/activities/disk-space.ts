/**
 * Free-space guard for the processing disk. A download never waits for space while holding a file
 * slot: over the threshold it fails its attempt with a transient DiskFullError (keeping any partial
 * file), so the slot goes to the stages that free space (decrypt removes the encrypted copy, clean-up
 * the rest), and Temporal tries the download again later; the next attempt resumes with Range.
 */
import { statfs } from 'node:fs/promises';
import { PipelineError } from '../common/errors';

export async function diskUsage(path: string): Promise<number> {
  const s = await statfs(path);
  if (!s.blocks) return 0;
  return 1 - s.bavail / s.blocks;
}

/** A disk's size and the bytes an unprivileged writer may still write on it. */
export interface DiskBytes {
  total: number;
  available: number;
}

export async function diskBytes(path: string): Promise<DiskBytes> {
  const s = await statfs(path);
  return { total: s.blocks * s.bsize, available: s.bavail * s.bsize };
}

/**
 * Files a book has on disk at its peak, in sizes of its encrypted archive: decrypt unpacks in the
 * same pass, so the encrypted archive, the decrypted `.tar.gz` (about as large: page images do not
 * compress) and the unpacked files (about as large again) are all there until decrypt removes the
 * encrypted one; derivatives are small beside them.
 */
export const PEAK_ARCHIVE_SIZES = 3;

/**
 * What the processing disk can still carry, for admission (`HostBooks.hasRoom`). The rule:
 *  - room = bytes that can be written before usage reaches `limits.diskUsageThreshold`, measured
 *    (`refresh`, every few seconds by the worker);
 *  - a book's peak need = PEAK_ARCHIVE_SIZES × its archive size, estimated before the book is known
 *    (a slot is granted before its task arrives) as the largest archive seen on this host so far,
 *    or `limits.archiveBytesEstimate` before any has been seen;
 *  - `n` books fit when room ≥ n × peak. The books already held count with their whole peak although
 *    part of it is already written (so already out of room): safe, never optimistic.
 * A measuring failure keeps the last figure; before the first one, the disk does not limit admission.
 */
export class DiskBudget {
  private room: number | undefined;
  private largestArchive = 0;

  constructor(
    readonly dir: string,
    readonly threshold: number,
    readonly defaultArchiveBytes: number,
    private readonly read: (path: string) => Promise<DiskBytes> = diskBytes,
  ) {}

  /** Measures the disk again. */
  async refresh(): Promise<void> {
    const { total, available } = await this.read(this.dir);
    this.room = Math.max(0, available - total * (1 - this.threshold));
  }

  /** An archive of `bytes` was downloaded (or found) on this host: later estimates are at least this large. */
  noteArchive(bytes: number): void {
    if (Number.isFinite(bytes) && bytes > this.largestArchive) this.largestArchive = bytes;
  }

  /** Bytes a book needs on this disk at its peak, as estimated now. */
  get bookPeakBytes(): number {
    return PEAK_ARCHIVE_SIZES * (this.largestArchive || this.defaultArchiveBytes);
  }

  /** Bytes that can still be written before the threshold, as last measured (undefined before the first). */
  get roomBytes(): number | undefined {
    return this.room;
  }

  /** True when the disk can carry `books` books at their peak. */
  carries(books: number): boolean {
    return this.room === undefined || this.room >= books * this.bookPeakBytes;
  }
}

const percent = (fraction: number, digits: number) => `${(fraction * 100).toFixed(digits)}%`;

export class DiskFullError extends PipelineError {
  constructor(
    readonly dir: string,
    readonly usage: number,
    readonly threshold: number,
    retryAfterSeconds: number,
  ) {
    super(
      `The processing disk (${dir}) is ${percent(usage, 1)} full, over the ${percent(threshold, 0)} threshold: ` +
        `the download waits (trying again every ${retryAfterSeconds} s) until other books free space or an operator does.`,
      {
        retryable: true,
        waitingFor: `disk space on ${dir} (usage ${percent(usage, 1)} over threshold ${percent(threshold, 0)})`,
        retryAfterSeconds,
      },
    );
  }
}
