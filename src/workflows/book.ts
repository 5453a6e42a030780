/**
 * One workflow per book, id `grin/<directory>/<barcode>`: a walk down a table of stages, each taking
 * the book from one bucket to the next. A new run continues from the bucket its token is in (after
 * a terminate, or Temporal losing its data); a stage that fails for a reason retrying cannot fix
 * parks the book in `failed` until an operator's `retry` (which starts that stage over from what is
 * true now) or `cancel`. Deterministic code only; see docs/workflow-changes.md before changing it.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { BoardActivities, FileActivities, FileHostActivities, GrinActivities } from '../activities';
import type { RegisterResult } from '../activities/board-ops';
import { STAGE_BUCKETS, type Bucket, type StageBucket } from '../buckets/token';
import type { FailureDetails } from '../common/errors';
import { cancelSignal, conversionSeenSignal, retrySignal, statusQuery, type BookInput, type ConversionNotice, type BookOutcome, type BookSettings, type BookSettled, type BookStatus } from './contracts';
import { GrinStage, parkedSearchAttributes, unparkedSearchAttributes } from './search-attributes';
import { bookCurrentDetails, HANDLER_DESCRIPTIONS } from './metadata';
import { tellBatch } from './batch-notify';

/** Times a book may go back to GRIN because its package left the converted pool before download (reset by `retry`). */
const MAX_RE_REQUESTS = 5;
/**
 * Host moves without a pause. Past this, a lost host is still no reason to park (maybe no
 * host is up right now): the book pauses, longer each time, before each further move (reset by `retry`).
 */
const MAX_HOST_MOVES = 5;
/** Longest pause between two host moves once MAX_HOST_MOVES is passed. */
const MAX_HOST_WAIT_SECONDS = 30 * 60;

/** Patch ids (docs/workflow-changes.md): each names a behaviour change that old histories replay without. */
const STAGE_UPSERT_ON_CHANGE = 'stage-upsert-on-change';
/** A book whose file hosts keep vanishing waits for one instead of parking after MAX_HOST_MOVES. */
const HOST_LOSS_NEVER_PARKS = 'host-loss-never-parks';
/**
 * Fewer history events and round trips per book (issue on per-book cost): board bookkeeping and the
 * batch notice as local activities; the host claim and the download as one activity on the shared
 * file queue, without a HEAD first; extract and process as one activity, upload and clean-up as
 * one; `GrinStage` upserted only when a book settles (stored, parked, cancelled) or leaves `failed`.
 * Decided once, at the start: a book started before it keeps the old way to its end.
 */
const LEAN_BOOK = 'lean-book';
/**
 * A cancel through Temporal (the Web UI's "Request Cancellation", `temporal workflow cancel`, a
 * client's `handle.cancel()`) does what the `cancel` signal does: the token goes to `cancelled` with
 * the reason, the local files are removed, the batch is told, and the run completes as `cancelled`.
 * Runs recorded before it closed as CANCELED with the board left as it was.
 */
const TEMPORAL_CANCEL_IS_CANCEL = 'temporal-cancel-is-cancel';
const TEMPORAL_CANCEL_REASON = 'cancelled through Temporal (a workflow cancel request, e.g. the Web UI\'s "Request Cancellation")';
/**
 * A stage that meets its token deleted or unreadable (changed by hand while the book ran) has it
 * rebuilt from what this run knows and runs again, instead of parking; after MAX_TOKEN_REBUILDS in a
 * row (something keeps removing it) the book parks with the reason.
 */
const REBUILD_LOST_TOKEN = 'rebuild-lost-token';
const MAX_TOKEN_REBUILDS = 3;
/** The errors the board raises for a token that is gone or cannot be read. */
const LOST_TOKEN_TYPES: readonly string[] = ['TokenFileError', 'BookNotOnBoardError'];
/**
 * A local file missing on the book's host (LocalCopyMissingError: removed by hand, a disk replaced,
 * or another live worker answering on the same host queue) means the host lost the book: a host
 * move (download again), never the integrity path that parks the book as damaged on a second miss.
 */
const LOCAL_COPY_MISSING_IS_HOST_LOSS = 'local-copy-missing-is-host-loss';
/** A parked book also shows its reason in the Web UI's list (`GrinParkReason`), removed when it is retried. */
const PARK_REASON_ATTRIBUTE = 'park-reason-attribute';
/** The `GrinStage` values a lean book shows; between them, the stage is in its current details and on the board. */
const SETTLED_STAGES: readonly string[] = ['07_stored', 'failed', 'cancelled'];

/** The task queues activities run on, each with its own timeouts and retry policy (below). */
type QueueKind = 'board' | 'grin' | 'grin-poll' | 'file-host' | 'fetch' | 'files';

interface Stage {
  name: 'request' | 'convert' | 'download' | 'decrypt' | 'extract' | 'process' | 'store';
  /** Where the book's activities run: `files` is the host queue holding the book's files. */
  queue: QueueKind;
  /** What `status` says while the stage runs. */
  doing: string;
}

/**
 * The stages in order: stage `i` runs while the book is in `STAGE_BUCKETS[i]` and, when it
 * succeeds, its activity has moved the token to `STAGE_BUCKETS[i + 1]`.
 */
const STAGES: readonly Stage[] = [
  { name: 'request', queue: 'grin', doing: 'asking GRIN to convert' }, // 00_available → 01_requested
  { name: 'convert', queue: 'grin-poll', doing: 'waiting for GRIN to convert' }, // → 02_converted
  { name: 'download', queue: 'files', doing: 'downloading' }, // → 03_downloaded (HEAD at GRIN and host claim first)
  { name: 'decrypt', queue: 'files', doing: 'decrypting' }, // → 04_decrypted
  { name: 'extract', queue: 'files', doing: 'extracting and verifying checksums' }, // → 05_extracted
  { name: 'process', queue: 'files', doing: 'making OCR and MARC derivatives' }, // → 06_processed
  { name: 'store', queue: 'files', doing: 'uploading and verifying' }, // → 07_stored (upload, then clean-up)
];
const STORED = STAGE_BUCKETS.indexOf('07_stored');
const DOWNLOAD = STAGE_BUCKETS.indexOf('02_converted');
const FIRST_LOCAL = STAGE_BUCKETS.indexOf('03_downloaded');

/** Timeouts and retries per queue. Transient failures retry without an attempt limit. */
function activityOptions(kind: QueueKind, settings: BookSettings): ActivityOptions {
  switch (kind) {
    case 'board':
      return { startToCloseTimeout: '1 minute', retry: { initialInterval: '1s', maximumInterval: '1 minute' } };
    case 'grin':
      return {
        taskQueue: settings.grinTaskQueue,
        startToCloseTimeout: '2 minutes',
        retry: backoff(10, settings.grinRetryMaxSeconds ?? 30 * 60),
      };
    case 'grin-poll':
      // Retries are the poll loop: each attempt looks at the cached `_converted` listing once.
      return {
        taskQueue: settings.grinTaskQueue,
        startToCloseTimeout: '2 minutes',
        scheduleToCloseTimeout: `${settings.maxConversionWaitHours} hours`,
        retry: { initialInterval: `${settings.pollIntervalSeconds}s`, backoffCoefficient: 1 },
      };
    case 'file-host':
      return { taskQueue: settings.fileTaskQueue, startToCloseTimeout: '30 seconds', retry: { maximumInterval: '1 minute' } };
    case 'fetch':
      // The download, on the shared file queue: it waits there until some host has room (no
      // schedule-to-start limit), and a host lost mid-download is retried on any host.
      return { ...fileStageLimits(settings), taskQueue: settings.fileTaskQueue };
    case 'files':
      // A host that never picks the task up, or stops heartbeating, is presumed gone (isHostLost).
      return { scheduleToStartTimeout: `${settings.hostPickupTimeoutSeconds}s`, ...fileStageLimits(settings) };
  }
}

/** Heartbeats, time limits and retries of a file stage. */
function fileStageLimits(settings: BookSettings): ActivityOptions {
  const days = settings.fileStageMaxDays ?? 0;
  return {
    heartbeatTimeout: `${settings.heartbeatTimeoutSeconds}s`,
    startToCloseTimeout: '7 days',
    ...(days > 0 ? { scheduleToCloseTimeout: `${days} days` } : {}),
    retry: backoff(5, settings.fileRetryMaxSeconds ?? 5 * 60),
  };
}

/** Board bookkeeping run by the workflow's own worker, recorded as one marker event each. */
const LOCAL_BOARD_OPTIONS: LocalActivityOptions = { startToCloseTimeout: '1 minute', retry: { initialInterval: '1s', maximumInterval: '1 minute' } };

/** Doubling waits between attempts, from `firstSeconds` up to `maxSeconds`. */
function backoff(firstSeconds: number, maxSeconds: number): ActivityOptions['retry'] {
  return { initialInterval: `${Math.min(firstSeconds, maxSeconds)}s`, backoffCoefficient: 2, maximumInterval: `${maxSeconds}s` };
}

class Cancelled extends Error {}

export async function bookWorkflow(input: BookInput): Promise<BookOutcome> {
  const { barcode, directory, settings } = input;
  const lean = patched(LEAN_BOOK);
  const board = lean ? proxyLocalActivities<BoardActivities>(LOCAL_BOARD_OPTIONS) : proxyActivities<BoardActivities>(activityOptions('board', settings));
  const fetcher = proxyActivities<FileHostActivities>(activityOptions('fetch', settings));
  const grin = proxyActivities<GrinActivities>(activityOptions('grin', settings));
  const waiter = proxyActivities<GrinActivities>(activityOptions('grin-poll', settings));
  const hosts = proxyActivities<FileHostActivities>(activityOptions('file-host', settings));
  const filesOn = (queue: string) => proxyActivities<FileActivities>({ ...activityOptions('files', settings), taskQueue: queue });

  const status: BookStatus = {
    barcode,
    directory,
    bucket: '00_available',
    state: 'running',
    activity: 'registering',
    reRequests: 0,
    hostMoves: 0,
  };
  let retryRequested = false;
  let operatorRetries = 0;
  let cancelReason: string | undefined;
  /** Tokens rebuilt in a row by this run (reset when a stage succeeds, and by `retry`). */
  let tokenRebuilds = 0;
  /** Set once an integrity failure sent the book back for a fresh download (reset by `retry`). */
  let redownloaded = false;
  let fileQueue: string | undefined;
  /** What the conversion watcher last said (lean books wait for it; cleared before each request). */
  let conversion: ConversionNotice | undefined;
  /** A lean book waits for the watcher only right after its own request, which makes sure a watcher runs. */
  let requested = false;
  /** The workflow's root scope: a cancel through Temporal cancels it (and every scope in it). */
  const root = CancellationScope.current();
  const stageScope = new CancellationScope();
  /** The Web UI's "current details": set at every change of `status` (it issues no command, so replay is unaffected). */
  const publish = () => setCurrentDetails(bookCurrentDetails(status, operatorRetries));
  const doing = (activity: string) => {
    status.activity = activity;
    publish();
  };
  setHandler(statusQuery, () => status, { description: HANDLER_DESCRIPTIONS.status });
  setHandler(retrySignal, () => {
    retryRequested = true;
  }, { description: HANDLER_DESCRIPTIONS.retry });
  setHandler(cancelSignal, (reason?: string) => {
    cancelReason = reason || 'cancelled by operator';
    // Interrupt whatever stage is running (a book may wait days for GRIN).
    if (status.state === 'running') stageScope.cancel();
  }, { description: HANDLER_DESCRIPTIONS.cancel });
  setHandler(conversionSeenSignal, (notice: ConversionNotice) => {
    conversion = notice;
  }, { description: HANDLER_DESCRIPTIONS.conversionSeen });
  publish();

  const show = (bucket: Bucket, activity: string) => {
    status.bucket = bucket;
    doing(activity);
    // The batch or `resume` set GrinStage when starting the book, and a retry shows the stage just
    // before it runs: upsert only a change. Runs recorded before this patch upserted every time.
    const shown = workflowInfo().typedSearchAttributes.get(GrinStage);
    if (lean && shown !== bucket && !SETTLED_STAGES.includes(bucket) && !SETTLED_STAGES.includes(shown ?? '')) return;
    if (shown === bucket && (lean || patched(STAGE_UPSERT_ON_CHANGE))) return;
    upsertSearchAttributes([{ key: GrinStage, value: bucket }]);
  };
  /**
   * True when `err` is this run being cancelled through Temporal, which is then handled as the
   * `cancel` signal is (the reason set unless a signal gave one). Asked only once a cancel arrived,
   * so the patch marker is recorded only in runs that were cancelled this way.
   */
  const cancelledThroughTemporal = (err: unknown): boolean => {
    if (!root.consideredCancelled || !isCancellation(err) || !patched(TEMPORAL_CANCEL_IS_CANCEL)) return false;
    cancelReason ??= TEMPORAL_CANCEL_REASON;
    return true;
  };
  const settle = (outcome: BookSettled['outcome']) => tellBatch(input, { barcode, outcome }, { local: lean });
  const runStage = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (cancelReason) throw new Cancelled();
    try {
      return await stageScope.run(fn);
    } catch (err) {
      if (cancelReason && isCancellation(err)) throw new Cancelled();
      if (cancelledThroughTemporal(err)) throw new Cancelled();
      throw err;
    }
  };
  const files = () => filesOn(fileQueue!);
  /** Per-call activity summary, shown on the activity's row in the Web UI's event history. */
  const about = (what: string): ActivityOptions => ({ summary: `${barcode}: ${what}` });

  /**
   * The body of each stage; when it returns, the token is in the next bucket, or in the bucket whose
   * index it returns (a lean book's extract stage processes too).
   */
  const run: Record<Stage['name'], () => Promise<number | void>> = {
    request: async () => {
      conversion = undefined;
      requested = true;
      const asked = await grin.requestConversion.executeWithOptions(about('ask GRIN to convert'), [{ barcode, queueFullRetrySeconds: settings.queueFullRetrySeconds, ...(lean ? { watch: true } : {}) }]);
      if (asked.converted) {
        // GRIN already had it converted, and the request moved the token on to 02_converted.
        status.grinFilename = asked.converted;
        return DOWNLOAD;
      }
    },
    convert: async () => {
      if (lean) {
        doing('waiting for GRIN to convert (the conversion watcher looks once per poll interval)');
        await condition(() => conversion !== undefined);
        const notice = conversion!;
        conversion = undefined;
        requested = false;
        if (notice.state !== 'converted') {
          throw ApplicationFailure.nonRetryable(notice.message, notice.state === 'lost' ? 'ConversionRequestLost' : 'GrinConversionFailed');
        }
        await board.markConverted({ barcode, filename: notice.filename });
        status.grinFilename = notice.filename;
        return;
      }
      status.grinFilename = (await waiter.waitForConversion.executeWithOptions(about('wait for GRIN to convert (each attempt is one look at the listing)'), [{ barcode, pollIntervalSeconds: settings.pollIntervalSeconds }])).filename;
    },
    download: async () => {
      const archive = status.grinFilename ?? `${barcode}.tar.gz.gpg`;
      if (lean) {
        doing('waiting for a host with room, then downloading');
        fileQueue = (await fetcher.fetchArchive.executeWithOptions(about(`download ${archive} on the first host with room`), [{ barcode, filename: archive }])).fileQueue;
        status.fileQueue = fileQueue;
        return;
      }
      // A rate-limited HEAD admits the download, and finds an evicted package before a host is claimed.
      doing('checking the archive at GRIN');
      const head = await grin.checkArchive.executeWithOptions(about(`HEAD ${archive} at GRIN`), [{ barcode, filename: archive }]);
      doing('choosing a host for the file stages');
      fileQueue = await hosts.claimFileHost.executeWithOptions(about('claim a host for the file stages'), [{ barcode }]);
      status.fileQueue = fileQueue;
      doing('downloading');
      await files().downloadArchive.executeWithOptions(about(`download ${archive}`), [{ barcode, filename: archive, expectEtag: head.etag }]);
    },
    decrypt: async () => {
      await files().decryptArchive.executeWithOptions(about('decrypt'), [{ barcode }]);
    },
    extract: async () => {
      if (lean) {
        await files().extractAndProcess.executeWithOptions(about('extract, verify checksums, make OCR and MARC derivatives'), [{ barcode }]);
        return STAGE_BUCKETS.indexOf('06_processed');
      }
      await files().extractArchive.executeWithOptions(about('extract and verify checksums'), [{ barcode }]);
    },
    process: async () => {
      await files().processBook.executeWithOptions(about('make OCR and MARC derivatives'), [{ barcode }]);
    },
    store: async () => {
      if (lean) {
        await files().storeBook.executeWithOptions(about('upload, verify in storage, remove local files'), [{ barcode, force: input.force }]);
        return;
      }
      await files().uploadBook.executeWithOptions(about('upload and verify in storage'), [{ barcode, force: input.force }]);
      doing('cleaning up local files');
      await files().cleanupBook.executeWithOptions(about('remove local files'), [{ barcode }]);
    },
  };

  const registered = await board.registerBook({ barcode, directory, workflowId: workflowInfo().workflowId, batchId: input.batchId });
  fileQueue = registered.fileQueue;
  status.fileQueue = fileQueue;
  status.grinFilename = registered.grinFilename;
  if (registered.bucket === '07_stored' && !input.force) {
    status.state = 'stored';
    show('07_stored', 'already stored');
    await settle('stored');
    return 'stored';
  }

  try {
    // Index into STAGE_BUCKETS of the bucket the book is in; STAGES[at] is the stage to run.
    let at = await startingPoint(registered);
    while (at < STORED) {
      if (lean && STAGES[at].name === 'convert' && !requested) {
        // A new run or a retry that starts at 01_requested asks again (GRIN answers that it is
        // converting or converted): the request starts the watcher if none runs.
        at = 0;
      }
      const stage = STAGES[at];
      show(STAGE_BUCKETS[at], stage.doing);
      try {
        const next = await runStage(run[stage.name]);
        at = typeof next === 'number' ? next : at + 1;
        tokenRebuilds = 0;
      } catch (err) {
        if (err instanceof Cancelled) throw err;
        at = await recover(at, err);
      }
    }
    status.state = 'stored';
    show('07_stored', 'stored');
    await settle('stored');
    return 'stored';
  } catch (err) {
    // A book stored before the cancel arrived stays stored (the run closes as CANCELED, the board agrees).
    if (!(err instanceof Cancelled) && (status.state === 'stored' || !cancelledThroughTemporal(err))) throw err;
    // After a cancel through Temporal every activity of the root scope is cancelled at once: the
    // clean-up must not be (the same commands either way, so a signal's cancel replays unchanged).
    return CancellationScope.nonCancellable(async () => {
      doing('cancelling');
      await board.cancelBook({ barcode, reason: cancelReason });
      status.state = 'cancelled';
      doing(`cancelled: ${cancelReason}`);
      upsertSearchAttributes([{ key: GrinStage, value: 'cancelled' }]);
      await settle('cancelled');
      return 'cancelled' as const;
    });
  }

  /** Where a new run starts: the token's bucket; a book parked by an earlier run stays parked. */
  async function startingPoint(reg: RegisterResult): Promise<number> {
    if (reg.bucket === 'failed') {
      const failedStage = STAGE_BUCKETS.indexOf(reg.lastError?.stage ?? '01_requested') - 1;
      await parkedUntilRetry(Math.max(failedStage, 0), reg.lastError?.message ?? 'parked by an earlier run', reg.lastError?.type);
      return continueFrom(Math.max(failedStage, 0));
    }
    // `07_stored` here means a forced re-upload: download again (requesting only if GRIN dropped it).
    const at = reg.bucket === '07_stored' ? DOWNLOAD : Math.max(STAGE_BUCKETS.indexOf(reg.bucket as StageBucket), 0);
    return continueFrom(at);
  }

  /**
   * Continue from bucket `at`, as things are now: stages past the download need the book's files on
   * the host that made them. If that host is unknown or gone, or the files are, go back as little as
   * possible (the download stage asks GRIN again only when its HEAD finds the package gone).
   */
  async function continueFrom(at: number): Promise<number> {
    if (at < FIRST_LOCAL) return at;
    let found: StageBucket = '02_converted';
    if (fileQueue) {
      doing('looking for the book\'s local files');
      try {
        found = (await runStage(() => files().findLocalProgress({ barcode, bucket: STAGE_BUCKETS[at] }))).bucket;
      } catch (err) {
        if (err instanceof Cancelled || !isHostLost(err)) throw err;
        log.warn('the host holding the book\'s files does not answer; downloading again', { barcode, fileQueue });
      }
    }
    const resumeAt = Math.min(STAGE_BUCKETS.indexOf(found), at);
    if (resumeAt < at) {
      await board.rewindBook({ barcode, to: STAGE_BUCKETS[resumeAt], status: `continuing from ${STAGE_BUCKETS[resumeAt]}: the files of later stages are not on ${fileQueue ?? 'any known host'}` });
    }
    if (resumeAt === DOWNLOAD) fileQueue = undefined;
    return resumeAt;
  }

  /** Decides what a failed stage leads to; returns the stage to run next. */
  async function recover(at: number, err: unknown): Promise<number> {
    const stage = STAGES[at];
    const type = failureType(err);
    if (type && LOST_TOKEN_TYPES.includes(type) && tokenRebuilds < MAX_TOKEN_REBUILDS && patched(REBUILD_LOST_TOKEN)) {
      // The token was deleted or truncated by hand: write it afresh where this run is, then run the stage again.
      tokenRebuilds++;
      log.warn('the book\'s token is gone or unreadable; rebuilding it from the workflow', { barcode, bucket: STAGE_BUCKETS[at], type });
      await board.rebuildToken({
        barcode,
        directory,
        workflowId: workflowInfo().workflowId,
        batchId: input.batchId,
        bucket: STAGE_BUCKETS[at],
        fileQueue,
        grinFilename: status.grinFilename,
        reason: failureMessage(err),
      });
      return at;
    }
    // The package left GRIN's converted pool before we got it, or GRIN lost the request: ask again.
    const lost = (stage.name === 'download' && type === 'ArchiveNotFoundError') || (stage.name === 'convert' && type === 'ConversionRequestLost');
    if (lost && status.reRequests < MAX_RE_REQUESTS) {
      status.reRequests++;
      log.info('GRIN no longer has the book converted or queued; requesting conversion again', { barcode, type });
      return 0;
    }
    const copyLost = stage.queue === 'files' && type === 'LocalCopyMissingError' && patched(LOCAL_COPY_MISSING_IS_HOST_LOSS);
    if (stage.queue === 'files' && (isHostLost(err) || copyLost) && (status.hostMoves < MAX_HOST_MOVES || patched(HOST_LOSS_NEVER_PARKS))) {
      // The host holding this book's files stopped answering, or no longer has them: start the file stages over elsewhere.
      // Losing hosts is never the book's fault: past MAX_HOST_MOVES it pauses before each move instead of parking.
      status.hostMoves++;
      // The pause starts at the time a host is given to pick work up, and doubles.
      const pauseSeconds = status.hostMoves > MAX_HOST_MOVES ? Math.min(settings.hostPickupTimeoutSeconds * 2 ** (status.hostMoves - MAX_HOST_MOVES - 1), MAX_HOST_WAIT_SECONDS) : 0;
      log.warn(copyLost ? 'the book\'s local copy is gone from its file host; downloading again' : 'file host did not pick up work; moving the book to another host', { barcode, fileQueue, hostMoves: status.hostMoves, pauseSeconds });
      const why = copyLost
        ? `its local copy is gone from ${fileQueue ?? 'its file host'} (${failureMessage(err)}; ${status.hostMoves} hosts lost so far)`
        : `its file host is gone (${status.hostMoves} hosts lost so far)`;
      fileQueue = undefined;
      const waiting = pauseSeconds > 0 ? `waiting ${pauseSeconds} s for a file host: ${why}` : undefined;
      if (at > DOWNLOAD) await board.rewindBook({ barcode, to: '02_converted', status: waiting ?? `${why}; downloading again on another host` });
      if (waiting) {
        doing(waiting);
        await condition(() => cancelReason !== undefined, pauseSeconds * 1000); // a cancel ends the pause
      }
      return DOWNLOAD;
    }
    if (stage.queue === 'files' && at > DOWNLOAD && wantsRedownload(err)) {
      if (!redownloaded) {
        // A bad transfer can explain a damaged archive: discard the local copy and fetch a fresh one, once.
        redownloaded = true;
        log.warn('archive failed an integrity check; discarding the local copy and downloading again', { barcode, type });
        await runStage(() => files().discardLocalFiles({ barcode })).catch((e: unknown) => {
          if (e instanceof Cancelled || !isHostLost(e)) throw e;
        });
        await board.rewindBook({ barcode, to: '02_converted', status: `integrity check failed (${failureMessage(err)}); downloading a fresh copy` });
        fileQueue = undefined;
        return DOWNLOAD;
      }
      await parkAndWait(at, err, ' (the freshly downloaded copy failed the same way, so the archive itself is damaged)');
    } else {
      await parkAndWait(at, err);
    }
    return continueFrom(at);
  }

  /** Parks the book in `failed` with the reason, then waits for `retry` or `cancel`. */
  async function parkAndWait(at: number, err: unknown, note = ''): Promise<void> {
    const message = failureMessage(err) + note;
    const type = failureType(err);
    await board.parkBook.executeWithOptions(about(`park in failed: ${type ?? 'error'}`), [{ barcode, stage: STAGE_BUCKETS[at + 1], message, type }]);
    await parkedUntilRetry(at, message, type);
  }

  /**
   * Waits in `failed` for an operator: `retry` returns (the token goes back to the stage's bucket,
   * and the counters start over, since the operator has looked at the cause); `cancel` throws.
   */
  async function parkedUntilRetry(at: number, message: string, type: string | undefined): Promise<void> {
    const stage = STAGE_BUCKETS[at + 1];
    status.state = 'parked';
    status.bucket = 'failed';
    status.lastError = { stage, message, type };
    doing(`parked: ${message}`);
    upsertSearchAttributes(parkedSearchAttributes(patched(PARK_REASON_ATTRIBUTE), stage, message, type));
    await settle('failed');
    retryRequested = false;
    await condition(() => retryRequested || cancelReason !== undefined);
    if (cancelReason) throw new Cancelled();
    operatorRetries++;
    await board.unparkBook({ barcode, backTo: STAGE_BUCKETS[at] });
    if (patched(PARK_REASON_ATTRIBUTE)) upsertSearchAttributes(unparkedSearchAttributes());
    status.state = 'running';
    status.reRequests = 0;
    status.hostMoves = 0;
    redownloaded = false;
    tokenRebuilds = 0;
    show(STAGE_BUCKETS[at], 'retrying');
  }
}

function rootCause(err: unknown): unknown {
  return err instanceof ActivityFailure && err.cause ? err.cause : err;
}

function failureType(err: unknown): string | undefined {
  const cause = rootCause(err);
  if (cause instanceof ApplicationFailure) return cause.type ?? undefined;
  if (cause instanceof TimeoutFailure) return `Timeout_${cause.timeoutType}`;
  return cause instanceof Error ? cause.name : undefined;
}

function failureMessage(err: unknown): string {
  const cause = rootCause(err);
  if (cause instanceof TimeoutFailure) {
    if (cause.timeoutType === 'SCHEDULE_TO_CLOSE') {
      const last = cause.cause instanceof Error ? `: ${cause.cause.message}` : '';
      return `gave up retrying after the configured limit (timeouts.fileStageMaxDays / conversionWaitDays)${last}`;
    }
    return `timed out (${cause.timeoutType}); the activity did not finish in time`;
  }
  return cause instanceof Error ? cause.message : String(cause);
}

/** An integrity failure a bad transfer could explain (the error protocol's `redownload`). */
function wantsRedownload(err: unknown): boolean {
  const cause = rootCause(err);
  if (!(cause instanceof ApplicationFailure)) return false;
  const details = cause.details?.[0] as FailureDetails | undefined;
  return details?.redownload === true;
}

function isHostLost(err: unknown): boolean {
  const cause = rootCause(err);
  return cause instanceof TimeoutFailure && (cause.timeoutType === 'SCHEDULE_TO_START' || cause.timeoutType === 'HEARTBEAT');
}
