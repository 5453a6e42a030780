/**
 * The book workflow's shape before `lean-book`, frozen: books started before that patch replay and
 * finish this way (docs/workflow-changes.md). Every board move is an activity of its own, waiting
 * for GRIN is a poll retried once per poll interval, the download is a HEAD at GRIN, a host claim
 * and the download on that host, and every stage upserts `GrinStage`. Change nothing here: no new
 * book takes this shape, and every change would have to replay the histories under
 * test/replay/histories/v1 and v2. Rows that read like book-lean.ts's (request, decrypt, process)
 * are copies on purpose, not shared: a change to the lean shape must never reach this one.
 * Deterministic code only.
 */
import { patched } from '@temporalio/workflow';
import type { Bucket } from '../buckets/token';
import { FailureType } from '../common/failure-types';
import { runBook, type BookRun, type BookShape, type StageRow } from './book-run';
import type { BookInput, BookOutcome } from './contracts';

/** Upsert `GrinStage` only when it changes (runs recorded before it upserted at every stage). */
const STAGE_UPSERT_ON_CHANGE = 'stage-upsert-on-change';

/** The stages, one row per bucket a stage runs in; each moves the token one bucket on. */
export function legacyStages(run: BookRun): readonly StageRow[] {
  const { input, status, about } = run;
  const { barcode, settings } = input;
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
          { barcode, queueFullRetrySeconds: settings.queueFullRetrySeconds },
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
      run: async () => {
        status.grinFilename = (
          await run.waiter.waitForConversion.executeWithOptions(
            about('wait for GRIN to convert (each attempt is one look at the listing)'),
            [{ barcode, pollIntervalSeconds: settings.pollIntervalSeconds }],
          )
        ).filename;
      },
    },
    {
      bucket: '02_converted',
      next: '03_downloaded',
      queue: 'files',
      onHost: false,
      doing: 'downloading',
      askAgainOn: FailureType.ArchiveNotFound,
      run: async () => {
        const archive = status.grinFilename ?? `${barcode}.tar.gz.gpg`;
        // A rate-limited HEAD admits the download, and finds an evicted package before a host is claimed.
        run.doing('checking the archive at GRIN');
        const head = await run.grin.checkArchive.executeWithOptions(about(`HEAD ${archive} at GRIN`), [{ barcode, filename: archive }]);
        run.doing('choosing a host for the file stages');
        run.onHost(await run.hosts.claimFileHost.executeWithOptions(about('claim a host for the file stages'), [{ barcode }]));
        run.doing('downloading');
        await run
          .files()
          .downloadArchive.executeWithOptions(about(`download ${archive}`), [{ barcode, filename: archive, expectEtag: head.etag }]);
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
      next: '05_extracted',
      queue: 'files',
      onHost: true,
      doing: 'extracting and verifying checksums',
      run: async () => {
        await run.files().extractArchive.executeWithOptions(about('extract and verify checksums'), [{ barcode }]);
      },
    },
    {
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
        await run.files().uploadBook.executeWithOptions(about('upload and verify in storage'), [{ barcode, force: input.force }]);
        run.doing('cleaning up local files');
        await run.files().cleanupBook.executeWithOptions(about('remove local files'), [{ barcode }]);
      },
    },
  ];
}

const LEGACY_SHAPE: BookShape = {
  localBookkeeping: false,
  // The batch or `resume` set GrinStage when starting the book, and a retry shows the stage just
  // before it runs: upsert only a change. Runs recorded before this patch upserted every time.
  upsertsStage: (shown: string | undefined, bucket: Bucket) => shown !== bucket || !patched(STAGE_UPSERT_ON_CHANGE),
  stages: legacyStages,
};

export function legacyBook(input: BookInput): Promise<BookOutcome> {
  return runBook(input, LEGACY_SHAPE);
}
