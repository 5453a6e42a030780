/**
 * Stage 05: the book's files unpacked and checked: every file listed in checksum.md5 is verified.
 * Normally stage 04 unpacked them in its decrypting pass and recorded their MD5s; if that record or
 * folder is missing (a retry after a clean-up), the decrypted archive is unpacked here, with the same
 * refusal of unsafe entries and decompression bombs.
 */
import { Context } from '@temporalio/activity';
import { rm, stat } from 'node:fs/promises';
import { extractTarGzWithDigests } from '../archive/extract';
import { verifyChecksums } from '../archive/verify';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';
import { readUnpackedRecord, writeUnpackedRecord, type UnpackedRecord } from './unpacked-record';

export function createExtractActivity(deps: ActivityDeps) {
  return {
    async extractArchive(input: { barcode: string }): Promise<{ files: number; bytes: number; verified: number }> {
      return classified(async () => {
        const activity = Context.current();
        const paths = bookPaths(deps.config.processingDir, input.barcode);
        let record = (await exists(paths.extracted)) ? await readUnpackedRecord(paths.unpacked) : undefined;
        if (!record) {
          await rm(paths.extracted, { recursive: true, force: true });
          const result = await extractTarGzWithDigests(paths.decrypted, paths.extracted, deps.config.limits, {
            onProgress: (done) => activity.heartbeat({ bytes: done }),
          });
          record = { files: result.files, bytes: result.bytes, md5: Object.fromEntries(result.md5) } satisfies UnpackedRecord;
          await writeUnpackedRecord(paths.unpacked, record);
        }
        const checks = await verifyChecksums(paths.extracted, { knownMd5: new Map(Object.entries(record.md5)) });
        await deps.board.move(input.barcode, '05_extracted', {
          status: checks.hadChecksumFile ? `unpacked; ${checks.verified} checksums verified` : 'unpacked; archive had no checksum.md5',
          extractedFiles: record.files,
          extractedBytes: record.bytes,
        });
        return { files: record.files, bytes: record.bytes, verified: checks.verified };
      });
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
