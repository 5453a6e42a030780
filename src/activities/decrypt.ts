/**
 * Stage 04: decrypt the downloaded archive with the library's GPG passphrase, as a stream. The
 * decrypted `.tar.gz` (kept for upload) is unpacked in the same pass, so the archive is not written
 * and then read back; the token moves to 04_decrypted when the decrypted archive is complete, and
 * stage 05 checks the unpacked files before the token moves on.
 */
import { Context } from '@temporalio/activity';
import { rm } from 'node:fs/promises';
import { decryptAndExtract } from '../archive/extract';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';
import { writeUnpackedRecord } from './unpacked-record';

export function createDecryptActivity(deps: ActivityDeps) {
  return {
    async decryptArchive(input: { barcode: string }): Promise<{ path: string; bytes: number }> {
      return classified(async () => {
        // Heartbeat through this activity's own context: stream callbacks may run in another's.
        const activity = Context.current();
        const paths = bookPaths(deps.config.processingDir, input.barcode);
        // A retry starts clean: unpacking never overwrites what is already there.
        await Promise.all([paths.decrypted, paths.extracted, paths.unpacked].map((p) => rm(p, { recursive: true, force: true })));
        const result = await decryptAndExtract(paths.encrypted, paths.decrypted, paths.extracted, deps.passphrase(), deps.config.limits, {
          onDecryptProgress: (done) => activity.heartbeat({ bytes: done }),
        });
        await writeUnpackedRecord(paths.unpacked, { files: result.files, bytes: result.bytes, md5: Object.fromEntries(result.md5) });
        // The encrypted copy is not needed once the decrypted one is complete (GRIN keeps its own).
        await rm(paths.encrypted, { force: true });
        await deps.board.move(input.barcode, '04_decrypted', { status: 'decrypted (and unpacked in the same pass)', decryptedBytes: result.decryptedBytes });
        return { path: paths.decrypted, bytes: result.decryptedBytes };
      });
    },
  };
}
