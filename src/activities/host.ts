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
    async claimFileHost(): Promise<string> {
      return deps.hostQueue;
    },
  };
}
