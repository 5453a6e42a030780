/**
 * Stage 04: decrypt the downloaded archive with the library's GPG passphrase, as a stream. The
 * decrypted `.tar.gz` (kept for upload) is unpacked in the same pass, so the archive is not written
 * and then read back. Order: decrypted archive and unpacked files, then the unpacked record (written
 * atomically: it is what says the outputs are complete), then the token to 04_decrypted, and only
 * then the encrypted input is removed (GRIN keeps its own copy).
 *
 * Run again after a crash at any point, it:
 *  - before the record exists: clears the partial outputs (record first) and decrypts again;
 *  - after the record, whether or not the token moved or the input was removed: keeps the outputs,
 *    moves the token if it has not moved, removes the encrypted copy if it is still there (once the
 *    token moved, the decrypted archive alone is enough: stage 05 unpacks it again if need be);
 *  - with no record and no encrypted copy (removed by hand): fails with LocalCopyMissingError, which
 *    sends the book back to be downloaded again.
 */
import { Context } from '@temporalio/activity';
import { rm, stat } from 'node:fs/promises';
import { decryptAndExtract } from '../archive/extract';
import { partialPath } from '../archive/output-files';
import { bookPaths, type ActivityDeps } from './deps';
import { exists, reached, requireLocalFile } from './stage-state';
import { readUnpackedRecord, writeUnpackedRecord } from './unpacked-record';

export function createDecryptActivity(deps: ActivityDeps) {
  return {
    async decryptArchive(input: { barcode: string }): Promise<{ path: string; bytes: number }> {
      const { barcode } = input;
      // Heartbeat through this activity's own context: stream callbacks may run in another's.
      const activity = Context.current();
      const paths = bookPaths(deps.config.processingDir, barcode);
      const token = await deps.board.get(barcode);
      const unpacked = !!(await readUnpackedRecord(paths.unpacked)) && (await exists(paths.extracted));
      // Done when the record says the outputs are complete, or when the token moved on (then the
      // decrypted archive is complete; unpacked files lost since are unpacked again by stage 05).
      const done = (await exists(paths.decrypted)) && (unpacked || reached(token, '04_decrypted'));
      if (!done) {
        // Start clean, the record first: unpacking never overwrites what is already there.
        await rm(paths.unpacked, { force: true });
        await Promise.all(
          [paths.decrypted, partialPath(paths.decrypted), paths.extracted].map((p) => rm(p, { recursive: true, force: true })),
        );
        await requireLocalFile(barcode, paths.encrypted, 'downloaded archive');
        const result = await decryptAndExtract(paths.encrypted, paths.decrypted, paths.extracted, deps.passphrase(), deps.config.limits, {
          onDecryptProgress: (bytes) => activity.heartbeat({ bytes }),
          // Timed out or cancelled (Temporal says so in a heartbeat's answer): stop, free the slot.
          signal: activity.cancellationSignal,
        });
        deps.crashPoint?.('decrypt:after-output', barcode);
        await writeUnpackedRecord(paths.unpacked, {
          files: result.files,
          bytes: result.bytes,
          md5: Object.fromEntries(result.md5),
          decryptedSha256: result.decryptedSha256,
          decryptedMd5: result.decryptedMd5,
        });
        deps.crashPoint?.('decrypt:after-record', barcode);
      }
      const decryptedBytes = (await stat(paths.decrypted)).size;
      if (!reached(token, '04_decrypted')) {
        // The digests decryption took travel on the token: the upload sends and checks against them.
        const record = await readUnpackedRecord(paths.unpacked);
        await deps.board.move(barcode, '04_decrypted', {
          status: 'decrypted (and unpacked in the same pass)',
          decryptedBytes,
          decryptedSha256: record?.decryptedSha256,
          ...(record?.decryptedMd5 ? { decryptedMd5: record.decryptedMd5 } : {}),
        });
      }
      deps.crashPoint?.('decrypt:after-token-move', barcode);
      await rm(paths.encrypted, { force: true });
      deps.crashPoint?.('decrypt:after-input-removed', barcode);
      return { path: paths.decrypted, bytes: decryptedBytes };
    },
  };
}
