/**
 * Stage 05: the book's files unpacked and checked: every file listed in checksum.md5 is verified.
 * Normally stage 04 unpacked them in its decrypting pass and recorded their MD5s; if that record or
 * folder is missing, the decrypted archive is unpacked here (record removed first, written last),
 * with the same refusal of unsafe entries and decompression bombs. Then the token moves to 05_extracted.
 *
 * Run again after a crash at any point, it: re-unpacks if the record is missing (a crash mid-unpack
 * leaves none), else verifies the recorded files again (cheap: the MD5s are in the record) and moves
 * the token only if it has not moved yet. Nothing is removed here.
 */
import { Context } from '@temporalio/activity';
import { rm } from 'node:fs/promises';
import { extractTarGzWithDigests } from '../archive/extract';
import { listNames } from '../archive/errors';
import type { ChecksumResult } from '../archive/types';
import { verifyChecksums } from '../archive/verify';
import { bookPaths, type ActivityDeps } from './deps';
import { exists, reached, requireLocalFile } from './stage-state';
import { readUnpackedRecord, writeUnpackedRecord, type UnpackedRecord } from './unpacked-record';

export function createExtractActivity(deps: ActivityDeps) {
  return {
    async extractArchive(input: { barcode: string }): Promise<{ files: number; bytes: number; verified: number; unlisted: number }> {
      const { barcode } = input;
      const activity = Context.current();
      const paths = bookPaths(deps.config.processingDir, barcode);
      let record = (await exists(paths.extracted)) ? await readUnpackedRecord(paths.unpacked) : undefined;
      if (!record) {
        // A stale record beside a half-unpacked folder would let an incomplete book pass: record first.
        await rm(paths.unpacked, { force: true });
        await rm(paths.extracted, { recursive: true, force: true });
        await requireLocalFile(barcode, paths.decrypted, 'decrypted archive');
        const result = await extractTarGzWithDigests(paths.decrypted, paths.extracted, deps.config.limits, {
          onProgress: (done) => activity.heartbeat({ bytes: done }),
        });
        deps.crashPoint?.('extract:after-unpack', barcode);
        record = { files: result.files, bytes: result.bytes, md5: Object.fromEntries(result.md5) } satisfies UnpackedRecord;
        await writeUnpackedRecord(paths.unpacked, record);
      }
      const checks = await verifyChecksums(paths.extracted, { knownMd5: new Map(Object.entries(record.md5)) });
      if (!reached(await deps.board.get(barcode), '05_extracted')) {
        await deps.board.move(barcode, '05_extracted', {
          status: extractedStatus(checks),
          extractedFiles: record.files,
          extractedBytes: record.bytes,
          ...(checks.hadChecksumFile ? { checksumVerified: checks.verified, checksumUnlisted: checks.unlisted.length } : {}),
        });
      }
      deps.crashPoint?.('extract:after-token-move', barcode);
      return { files: record.files, bytes: record.bytes, verified: checks.verified, unlisted: checks.unlisted.length };
    },
  };
}

/** The token's status line: what was verified, and what could not be (files checksum.md5 does not list). */
function extractedStatus(checks: ChecksumResult): string {
  if (!checks.hadChecksumFile) return 'unpacked; archive had no checksum.md5';
  const verified = `unpacked; ${checks.verified} checksums verified`;
  if (checks.unlisted.length === 0) return verified;
  return `${verified}; ${checks.unlisted.length} file(s) not listed in checksum.md5, not checked: ${listNames(checks.unlisted, 5)}`;
}
