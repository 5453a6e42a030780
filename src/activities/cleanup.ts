/**
 * Stage 07, second half: once the upload is verified, the book's local files leave the processing
 * folder (deleted, or moved to `<processing>/processed` when a retention period is set), and the token
 * moves to `07_stored`. Old files in `processed` are purged here too, so no extra sweeper is needed.
 * Nothing is removed unless the token records the upload.
 */
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { bookPaths, type ActivityDeps } from './deps';
import { PipelineError } from '../common/errors';
import { classified } from './failures';

export function createCleanupActivity(deps: ActivityDeps) {
  return {
    async cleanupBook(input: { barcode: string }): Promise<void> {
      await classified(async () => {
        const { processingDir, retentionDays } = deps.config;
        const token = await deps.board.get(input.barcode);
        if (!token?.stored?.archive) throw new CleanupRefusedError(input.barcode, token ? token.bucket : undefined);
        const paths = Object.values(bookPaths(processingDir, input.barcode));
        if (retentionDays > 0) {
          const keep = join(processingDir, 'processed');
          await mkdir(keep, { recursive: true });
          for (const p of paths) {
            const target = join(keep, basename(p));
            await rm(target, { recursive: true, force: true });
            const moved = await rename(p, target).then(
              () => true,
              (err: NodeJS.ErrnoException) => {
                if (err.code !== 'ENOENT') throw err;
                return false;
              },
            );
            // Retention counts from now, not from when the file was written (a download may be days old).
            if (moved) await utimes(target, new Date(), new Date());
          }
          await purgeOlderThan(keep, retentionDays);
        } else {
          await Promise.all(paths.map((p) => rm(p, { recursive: true, force: true })));
        }
        await deps.board.move(input.barcode, '07_stored', {
          status: retentionDays > 0 ? `stored; local copy kept ${retentionDays} days` : 'stored; local files removed',
        });
      });
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
