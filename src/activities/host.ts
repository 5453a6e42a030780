/**
 * Picks the host that will run a book's file stages. Runs on the shared file queue, so whichever
 * host's worker takes it answers with its own host queue; download, decrypt, extract, process,
 * upload and clean-up then all run there, on one disk.
 *
 * No side effects: run again after a crash, it answers again (maybe another host, which is then
 * the one the workflow uses).
 */
import type { ActivityDeps } from './deps';

export function createHostActivity(deps: ActivityDeps) {
  return {
    /** Records the host on the token too, so a later workflow run knows where the files are. */
    async claimFileHost(input?: { barcode: string }): Promise<string> {
      if (input?.barcode) await deps.board.update(input.barcode, { fileQueue: deps.hostQueue });
      return deps.hostQueue;
    },
  };
}
