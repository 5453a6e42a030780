/**
 * Stages that run back to back in one activity, each still moving the token into its own bucket:
 * every activity a book runs costs six history events and a round trip through the Temporal
 * server, so the book workflow (from the `lean-book` patch on) joins the steps that never need the
 * workflow to decide anything between them.
 *
 *  - fetchArchive: the host claim and the download, on the shared file queue. Whichever host takes
 *    the task claims the book (its queue goes on the token and is returned, and the later stages
 *    run there); the host holds it once the download is complete. No HEAD first: the GET itself answers 404 when the package has left GRIN's pool.
 *  - extractAndProcess: stage 05 then stage 06.
 *  - storeBook: the upload, then the clean-up that moves the token to 07_stored.
 *
 * Each part is the stage's own activity function, so each keeps its own rerun-after-crash logic:
 * a retry of the joined activity finds the first part's outputs and passes through it quickly.
 */
import type { ActivityDeps } from './deps';
import { createCleanupActivity } from './cleanup';
import { createDownloadActivity, type DownloadOptions, type DownloadResultInfo } from './download';
import { createExtractActivity } from './extract';
import { recordFileHost } from './host';
import { createProcessActivity } from './process';
import { createUploadActivity, type UploadResult } from './upload';

export function createFetchActivity(deps: ActivityDeps, opts: DownloadOptions = {}) {
  const { downloadArchive } = createDownloadActivity(deps, opts);
  return {
    async fetchArchive(input: { barcode: string; filename: string }): Promise<DownloadResultInfo & { fileQueue: string }> {
      // While it downloads, the book is counted by the admission slot this task came in on (given
      // back when the attempt ends, however it ends: see admissionSlots in worker.ts); it is held
      // on this host once its archive is complete (downloadArchive admits it).
      const fileQueue = await recordFileHost(deps, input.barcode);
      const result = await downloadArchive({ barcode: input.barcode, filename: input.filename });
      return { ...result, fileQueue };
    },
  };
}

export function createJoinedFileStages(deps: ActivityDeps) {
  const { extractArchive } = createExtractActivity(deps);
  const { processBook } = createProcessActivity(deps);
  const { uploadBook } = createUploadActivity(deps);
  const { cleanupBook } = createCleanupActivity(deps);
  return {
    async extractAndProcess(input: { barcode: string }) {
      const extracted = await extractArchive(input);
      const processed = await processBook(input);
      return { ...extracted, ...processed };
    },
    async storeBook(input: { barcode: string; force?: boolean }): Promise<UploadResult> {
      const uploaded = await uploadBook(input);
      await cleanupBook({ barcode: input.barcode });
      return uploaded;
    },
  };
}
