/**
 * Stage 05: unpack the decrypted archive into the book's folder, refusing unsafe entries and
 * decompression bombs, then verify every file listed in checksum.md5.
 */
import { Context } from '@temporalio/activity';
import { rm } from 'node:fs/promises';
import { extractTarGz } from '../archive/extract';
import { verifyChecksums } from '../archive/verify';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';

export function createExtractActivity(deps: ActivityDeps) {
  return {
    async extractArchive(input: { barcode: string }): Promise<{ files: number; bytes: number; verified: number }> {
      return classified(async () => {
        // Heartbeat through this activity's own context: stream callbacks may run in another's.
        const activity = Context.current();
        const paths = bookPaths(deps.config.processingDir, input.barcode);
        // A retry starts from a clean folder: extraction never overwrites what is already there.
        await rm(paths.extracted, { recursive: true, force: true });
        const { files, bytes } = await extractTarGz(paths.decrypted, paths.extracted, deps.config.limits, {
          onProgress: (done) => activity.heartbeat({ bytes: done }),
        });
        const checks = await verifyChecksums(paths.extracted);
        await deps.board.move(input.barcode, '05_extracted', {
          status: checks.hadChecksumFile ? `extracted; ${checks.verified} checksums verified` : 'extracted; archive had no checksum.md5',
          extractedFiles: files,
          extractedBytes: bytes,
        });
        return { files, bytes, verified: checks.verified };
      });
    },
  };
}
