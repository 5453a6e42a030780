/**
 * What activities need from the outside world, built once per worker process (`src/worker.ts`) and
 * handed to `createActivities(deps)`. Tests build the same thing against the simulator and real servers.
 */
import { join } from 'node:path';
import { bookFileNames } from '../common/identifiers';
import type { Board } from '../buckets/board';
import type { PipelineConfig } from '../config/types';
import type { GrinApi } from '../grin/types';
import type { ConversionListings } from '../grin/conversion-listings';
import type { BookStorage } from '../storage/types';
import type { HostBooks } from './host-books';
import type { Notifier } from '../notify/notifier';
import type { KillPoint } from './kill-points';

export interface ActivityDeps {
  config: PipelineConfig;
  board: Board;
  grin: GrinApi;
  /** Per-process cache of `_converted`/`_failed`, shared by every waiting book on this worker. */
  conversionListings: ConversionListings;
  storage: BookStorage;
  /** The GPG passphrase, read from its file or variable when first needed; never logged or returned. */
  passphrase: () => string;
  /** This host's file-stage task queue. */
  hostQueue: string;
  /** The books on this host, from admission to clean-up (admission waits for room: `src/worker.ts`). */
  hostBooks: HostBooks;
  /** The operator's notifications (src/notify): best effort, never awaited by a book. None: no notifications. */
  notifier?: Notifier;
  /**
   * Called the moment each named side effect of a file stage is done (kill-points.ts). None in
   * production; the crash tests' workers set one that kills the process (test/support/kill-switch.ts).
   */
  crashPoint?: (point: KillPoint, barcode: string) => void;
}

/** Where one book's local files live while it is processed, all under the processing folder. */
export function bookPaths(processingDir: string, barcode: string) {
  const names = bookFileNames(barcode);
  return {
    encrypted: join(processingDir, names.encrypted),
    partial: join(processingDir, names.partial),
    decrypted: join(processingDir, names.decrypted),
    extracted: join(processingDir, names.extracted),
    /** What the one-pass decrypt+unpack found (file count, bytes, MD5 per file), for stage 05. */
    unpacked: join(processingDir, names.unpacked),
    derivatives: join(processingDir, names.derivatives),
  };
}
