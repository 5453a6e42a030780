/**
 * Picks the host that will run a book's file stages. Runs on the shared file queue, so whichever
 * host's worker takes it answers with its own host queue; download, decrypt, extract, process,
 * upload and clean-up then all run there, on one disk.
 *
 * It runs only while this host has room for another book (the worker's slot supplier, see
 * `HostBooks`). `fetchArchive` (joined-stages.ts) records the host the same way and leaves the
 * counting to the download (a book is held once its archive is complete); `claimFileHost`, for
 * books started before the `lean-book` patch, counts the book as this host's from the claim.
 *
 * No side effects beyond the token's host and that count: run again after a crash, it answers again
 * (maybe another host, which is then the one the workflow uses; the count here then lets the book go
 * when its token names the other host, `HostBooks.reconcile`).
 */
import type { ActivityDeps } from './deps';

/** Puts this host on the book's token, so a later workflow run knows where the files are; returns this host's queue. */
export async function recordFileHost(deps: ActivityDeps, barcode: string): Promise<string> {
  await deps.board.update(barcode, { fileQueue: deps.hostQueue });
  return deps.hostQueue;
}

export function createHostActivity(deps: ActivityDeps) {
  return {
    /**
     * Books started before the `lean-book` patch: the claim, then the download on the host queue.
     * The book is held from the claim (its download there needs no further admission).
     */
    async claimFileHost(input?: { barcode: string }): Promise<string> {
      if (!input?.barcode) return deps.hostQueue;
      await recordFileHost(deps, input.barcode);
      deps.hostBooks.admit(input.barcode); // depth first: counts until clean-up (host-books.ts)
      return deps.hostQueue;
    },
  };
}
