/**
 * Stage 07, second half: once the upload is verified, the book's local files leave the processing
 * folder (deleted, or moved to `<processing>/processed` when a retention period is set), and the token
 * moves to `07_stored`. Old files in `processed` are purged here too, so no extra sweeper is needed.
 * Nothing is removed unless the token records the upload.
 *
 * The files go before the token moves (07_stored promises a clean processing folder; a token moved
 * first could strand files no later run looks for). Run again after a crash at any point, it: removes
 * (or moves) whatever is still there, never a copy already kept in `processed`, and moves the token
 * if it has not moved. A new workflow run that finds the token in 06_processed with the upload
 * recorded and the files gone is handled by the upload stage, which confirms the stored objects.
 */
import { Context } from '@temporalio/activity';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { bookPaths, type ActivityDeps } from './deps';
import { PipelineError } from '../common/errors';
import { exists, removeTempFiles } from './stage-state';
import { PRIVATE_DIR_MODE } from '../common/file-modes';

export function createCleanupActivity(deps: ActivityDeps) {
  return {
    async cleanupBook(input: { barcode: string }): Promise<void> {
      const { processingDir, retentionDays } = deps.config;
      const token = await deps.board.get(input.barcode);
      if (!token?.stored?.archive) throw new CleanupRefusedError(input.barcode, token ? token.bucket : undefined);
      // The unpacked record first: without it, nothing counts the other files as complete.
      const { unpacked, ...rest } = bookPaths(processingDir, input.barcode);
      const paths = [unpacked, ...Object.values(rest)];
      if (retentionDays > 0) {
        const keep = join(processingDir, 'processed');
        await mkdir(keep, { recursive: true, mode: PRIVATE_DIR_MODE });
        for (const p of paths) {
          // Already moved by an earlier attempt: keep that copy (removing the target first would lose it).
          if (!(await exists(p))) continue;
          const target = join(keep, basename(p));
          await rm(target, { recursive: true, force: true });
          await rename(p, target);
          // Retention counts from now, not from when the file was written (a download may be days old).
          await utimes(target, new Date(), new Date());
        }
        await purgeOlderThan(keep, retentionDays);
      } else {
        for (const p of paths) await rm(p, { recursive: true, force: true });
      }
      await removeTempFiles(processingDir, input.barcode);
      deps.hostBooks.release(input.barcode); // its files are gone for good: room for the next book
      deps.crashPoint?.('cleanup:after-files-removed', input.barcode);
      if (token.bucket !== '07_stored') {
        await deps.board.move(input.barcode, '07_stored', {
          status: retentionDays > 0 ? `stored; local copy kept ${retentionDays} days` : 'stored; local files removed',
        });
        // The one line an operator reads per stored book.
        Context.current().log.info('book stored', { barcode: input.barcode, pages: token.pageCount, encryptedBytes: token.encryptedBytes });
      }
      deps.crashPoint?.('cleanup:after-token-move', input.barcode);
    },
  };
}

/** The token does not say the book was uploaded: its local files may be the only copy. */
export class CleanupRefusedError extends PipelineError {
  constructor(barcode: string, bucket: string | undefined) {
    super(
      `Refusing to remove the local files of ${barcode}: its token (${bucket ? `in ${bucket}` : 'not on the board'}) records no stored upload, ` +
        'so they may be the only copy. Run the upload stage first (retry the book).',
      { retryable: false },
    );
  }
}

async function purgeOlderThan(dir: string, days: number): Promise<void> {
  const cutoff = Date.now() - days * 86_400_000;
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const s = await stat(p).catch(() => undefined);
    if (s && s.mtimeMs < cutoff) await rm(p, { recursive: true, force: true });
  }
}
