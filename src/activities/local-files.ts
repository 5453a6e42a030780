/**
 * What a book's host still holds on its disk, for a workflow that continues a book from its token's
 * bucket (a new run after Temporal lost the old one, or an operator's `retry`), and the discarding
 * of a local copy that failed an integrity check. Run on the book's host queue; they read the disk
 * and never move the token (the workflow decides, and `rewindBook` records it).
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { STAGE_BUCKETS, type StageBucket } from '../buckets/token';
import { bookPaths, type ActivityDeps } from './deps';

/** The local files the stage after each bucket needs: their presence means the bucket is still true. */
type Paths = ReturnType<typeof bookPaths>;
const NEEDED: Partial<Record<StageBucket, (p: Paths, barcode: string) => string[]>> = {
  '03_downloaded': (p) => [p.encrypted],
  '04_decrypted': (p) => [p.decrypted],
  '05_extracted': (p) => [p.decrypted, p.extracted, p.unpacked],
  '06_processed': (p, barcode) => [
    p.decrypted,
    join(p.derivatives, `${barcode}_ocr.jsonl.gz`),
    join(p.derivatives, `${barcode}_marc.json`),
  ],
};

export function createLocalFilesActivities(deps: ActivityDeps) {
  return {
    /**
     * The furthest bucket, no later than `bucket`, whose outputs are all on this host's disk (with
     * the sizes the token recorded); `02_converted` when none are: the book must download again.
     */
    async findLocalProgress(input: { barcode: string; bucket: StageBucket }): Promise<{ bucket: StageBucket }> {
      const paths = bookPaths(deps.config.processingDir, input.barcode);
      const token = await deps.board.get(input.barcode);
      const expectSize: Record<string, number | undefined> = {
        [paths.encrypted]: token?.encryptedBytes,
        [paths.decrypted]: token?.decryptedBytes,
      };
      for (let i = STAGE_BUCKETS.indexOf(input.bucket); i >= STAGE_BUCKETS.indexOf('03_downloaded'); i--) {
        const bucket = STAGE_BUCKETS[i];
        const needed = NEEDED[bucket]?.(paths, input.barcode) ?? [];
        if (needed.length > 0 && (await Promise.all(needed.map((f) => present(f, expectSize[f])))).every(Boolean)) {
          deps.hostBooks.admit(input.barcode); // the book continues here with its files (e.g. retried after being parked)
          return { bucket };
        }
      }
      return { bucket: '02_converted' };
    },

    /** Removes every local file of the book (a copy that failed an integrity check is not reused). */
    async discardLocalFiles(input: { barcode: string }): Promise<void> {
      const paths = bookPaths(deps.config.processingDir, input.barcode);
      await Promise.all(Object.values(paths).map((p) => rm(p, { recursive: true, force: true })));
      deps.hostBooks.release(input.barcode); // its files are gone: room for the next book (admitted again when claimed)
    },
  };
}

async function present(path: string, size: number | undefined): Promise<boolean> {
  const s = await stat(path).catch(() => undefined);
  return !!s && (size === undefined || !s.isFile() || s.size === size);
}
