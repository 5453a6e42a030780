/**
 * What every book run does whatever its shape (book-lean.ts, book-legacy.ts): register the book,
 * walk its shape's stage table from the bucket the token is in to `07_stored`, and decide what a
 * failed stage leads to (ask GRIN again, move to another host, download once more, park until
 * `retry` or `cancel`). The shape says which activities a stage runs; this module never names one
 * except the board's. Deterministic code only; see docs/workflow-changes.md before changing it:
 * both shapes replay through here.
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
  type ActivityInterfaceFor,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { BoardActivities, FileActivities, FileHostActivities, GrinActivities } from '../activities';
import type { RegisterResult } from '../activities/board-ops';
import type { Bucket, StageBucket } from '../buckets/token';
import type { FailureDetails } from '../common/errors';
import { FailureType, LOST_TOKEN_TYPES, type FailureTypeName } from '../common/failure-types';
import {
  cancelSignal,
  conversionSeenSignal,
  retrySignal,
  statusQuery,
  type BookInput,
  type ConversionNotice,
  type BookOutcome,
  type BookSettings,
  type BookSettled,
  type BookStatus,
} from './contracts';
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

/** A book whose file hosts keep vanishing waits for one instead of parking after MAX_HOST_MOVES. */
const HOST_LOSS_NEVER_PARKS = 'host-loss-never-parks';
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
/**
 * A local file missing on the book's host (LocalCopyMissingError: removed by hand, a disk replaced,
 * or another live worker answering on the same host queue) means the host lost the book: a host
 * move (download again), never the integrity path that parks the book as damaged on a second miss.
 */
const LOCAL_COPY_MISSING_IS_HOST_LOSS = 'local-copy-missing-is-host-loss';
/** A parked book also shows its reason in the Web UI's list (`GrinParkReason`), removed when it is retried. */
const PARK_REASON_ATTRIBUTE = 'park-reason-attribute';

/** Where a book goes to ask GRIN again, and where it downloads again (on another host). */
const REQUEST: RunBucket = '00_available';
const DOWNLOAD: RunBucket = '02_converted';

/** The task queues activities run on, each with its own timeouts and retry policy (below). */
export type QueueKind = 'board' | 'grin' | 'grin-poll' | 'file-host' | 'fetch' | 'files';

/** The buckets a stage runs in: every stage bucket but the last. */
export type RunBucket = Exclude<StageBucket, '07_stored'>;

/** One row of a shape's stage table. */
export interface StageRow {
  /** The bucket the book is in while the stage runs. */
  bucket: RunBucket;
  /** The bucket the stage's activity moves the token to when it succeeds. */
  next: StageBucket;
  /**
   * The stage's name in a park (`lastError.stage`, read back by the next run to resume at this
   * row): `next` unless the stage does the work of two (then the bucket of the first).
   */
  parksAs?: StageBucket;
  /** Where its activities run (`files`: the host holding the book's files; `fetch`: any host with room). */
  queue: QueueKind;
  /** The book's files are on its host while it is in `bucket`: continuing here checks they still are. */
  onHost: boolean;
  /** What `status` says while the stage runs. */
  doing: string;
  /** A failure of this type means GRIN no longer has the book converted or queued: ask it again. */
  askAgainOn?: FailureTypeName;
  /** A row to run instead, asked each time just before this one would run. */
  instead?: () => RunBucket | undefined;
  /** Runs the stage: returns the bucket the token went to when that is not `next`. */
  run: () => Promise<StageBucket | void>;
}

/** What a shape's stages act through. */
export interface BookRun {
  readonly input: BookInput;
  readonly status: BookStatus;
  readonly board: ActivityInterfaceFor<BoardActivities>;
  readonly grin: ActivityInterfaceFor<GrinActivities>;
  readonly waiter: ActivityInterfaceFor<GrinActivities>;
  readonly hosts: ActivityInterfaceFor<FileHostActivities>;
  readonly fetcher: ActivityInterfaceFor<FileHostActivities>;
  /** The file activities on the host holding the book's files. */
  files(): ActivityInterfaceFor<FileActivities>;
  /** Records the host the book's files are on from now. */
  onHost(fileQueue: string): void;
  /** Sets what `status` says the book is doing. */
  doing(activity: string): void;
  /** Per-call activity summary, shown on the activity's row in the Web UI's event history. */
  about(what: string): ActivityOptions;
  /** What the conversion watcher said, and whether this run asked GRIN (cleared before each request). */
  readonly watch: { notice?: ConversionNotice; requested: boolean };
}

/** A workflow shape: its stage table and how it keeps the board and the search attribute. */
export interface BookShape {
  /** Board bookkeeping and the batch notice as local activities (one marker event each). */
  localBookkeeping: boolean;
  /**
   * Every behaviour patch below taken as applied, without asking `patched()` where it applies (books
   * from `lean-book-2` on, docs/workflow-changes.md). A patch first asked right after a local
   * activity can be answered differently on replay: the activity's marker and the code after it
   * may be recorded in two workflow tasks (a query or a heartbeat completes the first task early),
   * and replay runs that code before it has seen the patch marker of the second.
   */
  patchesApplied?: boolean;
  /** Whether showing `bucket` upserts `GrinStage`, given the value it has. */
  upsertsStage(shown: string | undefined, bucket: Bucket): boolean;
  /** The stage table (one row per bucket a stage runs in). */
  stages(run: BookRun): readonly StageRow[];
}

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
const LOCAL_BOARD_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '1 minute' },
};

/** Doubling waits between attempts, from `firstSeconds` up to `maxSeconds`. */
function backoff(firstSeconds: number, maxSeconds: number): ActivityOptions['retry'] {
  return { initialInterval: `${Math.min(firstSeconds, maxSeconds)}s`, backoffCoefficient: 2, maximumInterval: `${maxSeconds}s` };
}

class Cancelled extends Error {}

/** Runs one book through `shape` until it is stored or cancelled (a parked book waits in between). */
export async function runBook(input: BookInput, shape: BookShape): Promise<BookOutcome> {
  const { barcode, directory, settings } = input;
  /** Whether a behaviour patch applies to this run (see BookShape.patchesApplied). */
  const applies = (patchId: string): boolean => shape.patchesApplied === true || patched(patchId);
  const board = shape.localBookkeeping
    ? proxyLocalActivities<BoardActivities>(LOCAL_BOARD_OPTIONS)
    : proxyActivities<BoardActivities>(activityOptions('board', settings));
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
  const watch: BookRun['watch'] = { requested: false };
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
  setHandler(
    retrySignal,
    () => {
      retryRequested = true;
    },
    { description: HANDLER_DESCRIPTIONS.retry },
  );
  setHandler(
    cancelSignal,
    (reason?: string) => {
      cancelReason = reason || 'cancelled by operator';
      // Interrupt whatever stage is running (a book may wait days for GRIN).
      if (status.state === 'running') stageScope.cancel();
    },
    { description: HANDLER_DESCRIPTIONS.cancel },
  );
  setHandler(
    conversionSeenSignal,
    (notice: ConversionNotice) => {
      watch.notice = notice;
    },
    { description: HANDLER_DESCRIPTIONS.conversionSeen },
  );
  publish();

  const show = (bucket: Bucket, activity: string) => {
    status.bucket = bucket;
    doing(activity);
    if (shape.upsertsStage(workflowInfo().typedSearchAttributes.get(GrinStage), bucket))
      upsertSearchAttributes([{ key: GrinStage, value: bucket }]);
  };
  /**
   * True when `err` is this run being cancelled through Temporal, which is then handled as the
   * `cancel` signal is (the reason set unless a signal gave one). In books from before `lean-book-2`
   * the patch is asked only once a cancel arrived, so only runs cancelled this way record its marker.
   */
  const cancelledThroughTemporal = (err: unknown): boolean => {
    if (!root.consideredCancelled || !isCancellation(err) || !applies(TEMPORAL_CANCEL_IS_CANCEL)) return false;
    cancelReason ??= TEMPORAL_CANCEL_REASON;
    return true;
  };
  const settle = (outcome: BookSettled['outcome']) => tellBatch(input, { barcode, outcome }, { local: shape.localBookkeeping });
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

  const table = shape.stages({
    input,
    status,
    board,
    grin: proxyActivities<GrinActivities>(activityOptions('grin', settings)),
    waiter: proxyActivities<GrinActivities>(activityOptions('grin-poll', settings)),
    hosts: proxyActivities<FileHostActivities>(activityOptions('file-host', settings)),
    fetcher: proxyActivities<FileHostActivities>(activityOptions('fetch', settings)),
    files,
    onHost: (queue) => {
      fileQueue = queue;
      status.fileQueue = queue;
    },
    doing,
    about: (what) => ({ summary: `${barcode}: ${what}` }),
    watch,
  });
  const rowAt = (bucket: RunBucket): StageRow => {
    const row = table.find((r) => r.bucket === bucket);
    if (!row) throw new Error(`no stage runs in ${bucket}`); // a shape's table lacks a row: a bug, retried as a workflow task
    return row;
  };
  const parksAs = (row: StageRow): StageBucket => row.parksAs ?? row.next;

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
    let bucket: StageBucket = await startingPoint(registered);
    while (bucket !== '07_stored') {
      bucket = rowAt(bucket).instead?.() ?? bucket;
      const row = rowAt(bucket);
      show(row.bucket, row.doing);
      try {
        bucket = (await runStage(row.run)) ?? row.next;
        tokenRebuilds = 0;
      } catch (err) {
        if (err instanceof Cancelled) throw err;
        bucket = await recover(row, err);
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
  async function startingPoint(reg: RegisterResult): Promise<RunBucket> {
    if (reg.bucket === 'failed') {
      // The park names the stage that failed; no known stage means the first.
      const failedStage = reg.lastError?.stage ?? parksAs(rowAt(REQUEST));
      const row = table.find((r) => parksAs(r) === failedStage) ?? rowAt(REQUEST);
      await parkedUntilRetry(row, reg.lastError?.message ?? 'parked by an earlier run', reg.lastError?.type);
      return continueFrom(row.bucket);
    }
    // `07_stored` here means a forced re-upload: download again (requesting only if GRIN dropped it).
    if (reg.bucket === '07_stored') return continueFrom(DOWNLOAD);
    return continueFrom(table.find((r) => r.bucket === reg.bucket)?.bucket ?? REQUEST);
  }

  /**
   * Continue from `bucket`, as things are now: stages past the download need the book's files on
   * the host that made them. If that host is unknown or gone, or the files are, go back as little as
   * possible (the download stage asks GRIN again only when its HEAD finds the package gone).
   */
  async function continueFrom(bucket: RunBucket): Promise<RunBucket> {
    if (!rowAt(bucket).onHost) return bucket;
    let found: StageBucket = DOWNLOAD;
    if (fileQueue) {
      doing("looking for the book's local files");
      try {
        found = (await runStage(() => files().findLocalProgress({ barcode, bucket }))).bucket;
      } catch (err) {
        if (err instanceof Cancelled || !isHostLost(err)) throw err;
        log.warn("the host holding the book's files does not answer; downloading again", { barcode, fileQueue });
      }
    }
    // The host reports the furthest bucket, up to `bucket`, whose files it holds.
    const resumeAt = found === '07_stored' ? bucket : found;
    if (resumeAt !== bucket) {
      await board.rewindBook({
        barcode,
        to: resumeAt,
        status: `continuing from ${resumeAt}: the files of later stages are not on ${fileQueue ?? 'any known host'}`,
      });
    }
    if (resumeAt === DOWNLOAD) fileQueue = undefined;
    return resumeAt;
  }

  /** Decides what a failed stage leads to; returns the bucket whose stage runs next. */
  async function recover(row: StageRow, err: unknown): Promise<RunBucket> {
    const type = failureType(err);
    if (type && LOST_TOKEN_TYPES.includes(type) && tokenRebuilds < MAX_TOKEN_REBUILDS && applies(REBUILD_LOST_TOKEN)) {
      // The token was deleted or truncated by hand: write it afresh where this run is, then run the stage again.
      tokenRebuilds++;
      log.warn("the book's token is gone or unreadable; rebuilding it from the workflow", { barcode, bucket: row.bucket, type });
      await board.rebuildToken({
        barcode,
        directory,
        workflowId: workflowInfo().workflowId,
        batchId: input.batchId,
        bucket: row.bucket,
        fileQueue,
        grinFilename: status.grinFilename,
        reason: failureMessage(err),
      });
      return row.bucket;
    }
    // The package left GRIN's converted pool before we got it, or GRIN lost the request: ask again.
    if (row.askAgainOn !== undefined && type === row.askAgainOn && status.reRequests < MAX_RE_REQUESTS) {
      status.reRequests++;
      log.info('GRIN no longer has the book converted or queued; requesting conversion again', { barcode, type });
      return REQUEST;
    }
    const hostBound = row.queue === 'files' || row.queue === 'fetch';
    const copyLost = hostBound && type === FailureType.LocalCopyMissing && applies(LOCAL_COPY_MISSING_IS_HOST_LOSS);
    if (hostBound && (isHostLost(err) || copyLost) && (status.hostMoves < MAX_HOST_MOVES || applies(HOST_LOSS_NEVER_PARKS))) {
      // The host holding this book's files stopped answering, or no longer has them: start the file stages over elsewhere.
      // Losing hosts is never the book's fault: past MAX_HOST_MOVES it pauses before each move instead of parking.
      status.hostMoves++;
      // The pause starts at the time a host is given to pick work up, and doubles.
      const pauseSeconds =
        status.hostMoves > MAX_HOST_MOVES
          ? Math.min(settings.hostPickupTimeoutSeconds * 2 ** (status.hostMoves - MAX_HOST_MOVES - 1), MAX_HOST_WAIT_SECONDS)
          : 0;
      log.warn(
        copyLost
          ? "the book's local copy is gone from its file host; downloading again"
          : 'file host did not pick up work; moving the book to another host',
        { barcode, fileQueue, hostMoves: status.hostMoves, pauseSeconds },
      );
      const why = copyLost
        ? `its local copy is gone from ${fileQueue ?? 'its file host'} (${failureMessage(err)}; ${status.hostMoves} hosts lost so far)`
        : `its file host is gone (${status.hostMoves} hosts lost so far)`;
      fileQueue = undefined;
      const waiting = pauseSeconds > 0 ? `waiting ${pauseSeconds} s for a file host: ${why}` : undefined;
      if (row.onHost) await board.rewindBook({ barcode, to: DOWNLOAD, status: waiting ?? `${why}; downloading again on another host` });
      if (waiting) {
        doing(waiting);
        await condition(() => cancelReason !== undefined, pauseSeconds * 1000); // a cancel ends the pause
      }
      return DOWNLOAD;
    }
    if (row.onHost && wantsRedownload(err)) {
      if (!redownloaded) {
        // A bad transfer can explain a damaged archive: discard the local copy and fetch a fresh one, once.
        redownloaded = true;
        log.warn('archive failed an integrity check; discarding the local copy and downloading again', { barcode, type });
        await runStage(() => files().discardLocalFiles({ barcode })).catch((e: unknown) => {
          if (e instanceof Cancelled || !isHostLost(e)) throw e;
        });
        await board.rewindBook({
          barcode,
          to: DOWNLOAD,
          status: `integrity check failed (${failureMessage(err)}); downloading a fresh copy`,
        });
        fileQueue = undefined;
        return DOWNLOAD;
      }
      await parkAndWait(row, err, ' (the freshly downloaded copy failed the same way, so the archive itself is damaged)');
    } else {
      await parkAndWait(row, err);
    }
    return continueFrom(row.bucket);
  }

  /** Parks the book in `failed` with the reason, then waits for `retry` or `cancel`. */
  async function parkAndWait(row: StageRow, err: unknown, note = ''): Promise<void> {
    const message = failureMessage(err) + note;
    const type = failureType(err);
    await board.parkBook.executeWithOptions({ summary: `${barcode}: park in failed: ${type ?? 'error'}` }, [
      { barcode, stage: parksAs(row), message, type },
    ]);
    await parkedUntilRetry(row, message, type);
  }

  /**
   * Waits in `failed` for an operator: `retry` returns (the token goes back to the stage's bucket,
   * and the counters start over, since the operator has looked at the cause); `cancel` throws.
   */
  async function parkedUntilRetry(row: StageRow, message: string, type: string | undefined): Promise<void> {
    const stage = parksAs(row);
    status.state = 'parked';
    status.bucket = 'failed';
    status.lastError = { stage, message, type };
    doing(`parked: ${message}`);
    upsertSearchAttributes(parkedSearchAttributes(applies(PARK_REASON_ATTRIBUTE), stage, message, type));
    await settle('failed');
    retryRequested = false;
    await condition(() => retryRequested || cancelReason !== undefined);
    if (cancelReason) throw new Cancelled();
    operatorRetries++;
    await board.unparkBook({ barcode, backTo: row.bucket });
    if (applies(PARK_REASON_ATTRIBUTE)) upsertSearchAttributes(unparkedSearchAttributes());
    status.state = 'running';
    status.reRequests = 0;
    status.hostMoves = 0;
    redownloaded = false;
    tokenRebuilds = 0;
    show(row.bucket, 'retrying');
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

const GAVE_UP = 'gave up retrying after the configured limit (timeouts.fileStageMaxDays / conversionWaitDays)';

function failureMessage(err: unknown): string {
  const cause = rootCause(err);
  if (cause instanceof TimeoutFailure) {
    if (cause.timeoutType === 'SCHEDULE_TO_CLOSE') {
      const last = cause.cause instanceof Error ? `: ${cause.cause.message}` : '';
      return `${GAVE_UP}${last}`;
    }
    return `timed out (${cause.timeoutType}); the activity did not finish in time`;
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  // The server stops retrying, with the last attempt's failure as the cause, when the next attempt
  // would start past the schedule-to-close limit: a transient failure that outlasted the limit.
  // (Only the park reason's text changes: replay does not compare activity inputs.)
  if (err instanceof ActivityFailure && err.retryState === 'TIMEOUT') return `${GAVE_UP}: ${message}`;
  return message;
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
