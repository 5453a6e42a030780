/** Stage 04: decrypt the downloaded archive with the library's GPG passphrase, as a stream. */
import { Context } from '@temporalio/activity';
import { rm } from 'node:fs/promises';
import { decryptFile } from '../archive/decrypt';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';

export function createDecryptActivity(deps: ActivityDeps) {
  return {
    async decryptArchive(input: { barcode: string }): Promise<{ path: string; bytes: number }> {
      return classified(async () => {
        // Heartbeat through this activity's own context: stream callbacks may run in another's.
        const activity = Context.current();
        const paths = bookPaths(deps.config.processingDir, input.barcode);
        const { bytes } = await decryptFile(paths.encrypted, paths.decrypted, deps.passphrase(), {
          onProgress: (done) => activity.heartbeat({ bytes: done }),
        });
        // The encrypted copy is not needed once the decrypted one is complete (GRIN keeps its own).
        await rm(paths.encrypted, { force: true });
        await deps.board.move(input.barcode, '04_decrypted', { status: 'decrypted', decryptedBytes: bytes });
        return { path: paths.decrypted, bytes };
      });
    },
  };
}
