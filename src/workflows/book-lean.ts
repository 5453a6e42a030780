/**
 * The book workflow's shape since `lean-book` (docs/workflow-changes.md): fewer history events and
 * round trips per book. Board bookkeeping and the batch notice are local activities; waiting for GRIN
 * is the conversion watcher's `conversionSeen` signal; the host claim and the download are one
 * activity on the shared file queue (no HEAD first); extract and process are one, upload and
 * clean-up one; `GrinStage` is upserted only when a book settles (stored, parked, cancelled) or
 * leaves `failed`. Deterministic code only.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow';
import type { Bucket } from '../buckets/token';
import { FailureType } from '../common/failure-types';
import { runBook, type BookRun, type BookShape, type StageRow } from './book-run';
import type { BookInput, BookOutcome } from './contracts';

/** The `GrinStage` values a lean book shows; between them, the stage is in its current details and on the board. */
const SETTLED_STAGES: readonly string[] = ['07_stored', 'failed', 'cancelled'];

/** The stages, one row per bucket a stage runs in. */
export function leanStages(run: BookRun): readonly StageRow[] {
  const { input, status, about } = run;
  const { barcode, settings } = input;
  const archive = () => status.grinFilename ?? `${barcode}.tar.gz.gpg`;
  return [
    {
      bucket: '00_available',
      next: '01_requested',
      queue: 'grin',
      onHost: false,
      doing: 'asking GRIN to convert',
      run: async () => {
        run.watch.notice = undefined;
        run.watch.requested = true;
        const asked = await run.grin.requestConversion.executeWithOptions(about('ask GRIN to convert'), [
          { barcode, queueFullRetrySeconds: settings.queueFullRetrySeconds, watch: true },
        ]);
        if (asked.converted) {
          // GRIN already had it converted, and the request moved the token on to 02_converted.
          status.grinFilename = asked.converted;
          return '02_converted';
        }
      },
    },
    {
      bucket: '01_requested',
      next: '02_converted',
      queue: 'grin-poll',
      onHost: false,
      doing: 'waiting for GRIN to convert',
      askAgainOn: FailureType.ConversionRequestLost,
      // A new run or a retry that starts here asks again (GRIN answers that it is converting or
      // converted): the request starts the watcher if none runs.
      instead: () => (run.watch.requested ? undefined : '00_available'),
      run: async () => {
        run.doing('waiting for GRIN to convert (the conversion watcher looks once per poll interval)');
        await condition(() => run.watch.notice !== undefined);
        const notice = run.watch.notice!;
        run.watch.notice = undefined;
        run.watch.requested = false;
        if (notice.state !== 'converted') {
          throw ApplicationFailure.nonRetryable(
            notice.message,
            notice.state === 'lost' ? FailureType.ConversionRequestLost : FailureType.GrinConversionFailed,
          );
        }
        await run.board.markConverted({ barcode, filename: notice.filename });
        status.grinFilename = notice.filename;
      },
    },
    {
      bucket: '02_converted',
      next: '03_downloaded',
      queue: 'fetch',
      onHost: false,
      doing: 'downloading',
      askAgainOn: FailureType.ArchiveNotFound,
      run: async () => {
        const filename = archive();
        run.doing('waiting for a host with room, then downloading');
        const fetched = await run.fetcher.fetchArchive.executeWithOptions(about(`download ${filename} on the first host with room`), [
          { barcode, filename },
        ]);
        run.onHost(fetched.fileQueue);
      },
    },
    {
      bucket: '03_downloaded',
      next: '04_decrypted',
      queue: 'files',
      onHost: true,
      doing: 'decrypting',
      run: async () => {
        await run.files().decryptArchive.executeWithOptions(about('decrypt'), [{ barcode }]);
      },
    },
    {
      bucket: '04_decrypted',
      next: '06_processed',
      parksAs: '05_extracted',
      queue: 'files',
      onHost: true,
      doing: 'extracting and verifying checksums',
      run: async () => {
        await run
          .files()
          .extractAndProcess.executeWithOptions(about('extract, verify checksums, make OCR and MARC derivatives'), [{ barcode }]);
      },
    },
    {
      // Only a book that reached 05_extracted before `lean-book` starts here.
      bucket: '05_extracted',
      next: '06_processed',
      queue: 'files',
      onHost: true,
      doing: 'making OCR and MARC derivatives',
      run: async () => {
        await run.files().processBook.executeWithOptions(about('make OCR and MARC derivatives'), [{ barcode }]);
      },
    },
    {
      bucket: '06_processed',
      next: '07_stored',
      queue: 'files',
      onHost: true,
      doing: 'uploading and verifying',
      run: async () => {
        await run
          .files()
          .storeBook.executeWithOptions(about('upload, verify in storage, remove local files'), [{ barcode, force: input.force }]);
      },
    },
  ];
}

const LEAN_SHAPE: BookShape = {
  localBookkeeping: true,
  // Upserted when a book settles or leaves a settled stage (the batch or `resume` set it at the start).
  upsertsStage: (shown: string | undefined, bucket: Bucket) =>
    shown !== bucket && (SETTLED_STAGES.includes(bucket) || SETTLED_STAGES.includes(shown ?? '')),
  stages: leanStages,
};

/** `patchesApplied`: a book from `lean-book-2` on (book.ts), for which every behaviour patch applies from the start. */
export function leanBook(input: BookInput, opts: { patchesApplied?: boolean } = {}): Promise<BookOutcome> {
  return runBook(input, opts.patchesApplied ? { ...LEAN_SHAPE, patchesApplied: true } : LEAN_SHAPE);
}
