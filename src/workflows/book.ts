/**
 * One workflow per book, id `grin/<directory>/<barcode>`: request conversion, wait for it, then the
 * file stages on one host. A stage that fails for a reason retries cannot fix parks the book in
 * `failed` and waits for an operator's `retry` or `cancel` signal. Deterministic code only.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BoardActivities, FileActivities, FileHostActivities, GrinActivities } from '../activities';
import { STAGE_BUCKETS, type StageBucket } from '../buckets/token';
import {
  cancelSignal,
  retrySignal,
  statusQuery,
  type BookInput,
  type BookOutcome,
  type BookStatus,
} from './contracts';
import { GrinStage } from './search-attributes';
import { tellBatch } from './batch-notify';

/** Times a book may go back to GRIN because its package left the converted pool before download. */
const MAX_RE_REQUESTS = 5;
const MAX_HOST_MOVES = 5;

const board = proxyActivities<BoardActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 20 },
});

class Cancelled extends Error {}

export async function bookWorkflow(input: BookInput): Promise<BookOutcome> {
  const { barcode, directory, settings } = input;
  const grin = proxyActivities<GrinActivities>({
    taskQueue: settings.grinTaskQueue,
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '30 minutes' },
  });
  const waiter = proxyActivities<GrinActivities>({
    taskQueue: settings.grinTaskQueue,
    startToCloseTimeout: '2 minutes',
    scheduleToCloseTimeout: `${settings.maxConversionWaitHours} hours`,
    // Retries are the poll loop: each attempt looks at the cached `_converted` listing once.
    retry: { initialInterval: `${settings.pollIntervalSeconds}s`, backoffCoefficient: 1 },
  });
  const hosts = proxyActivities<FileHostActivities>({
    taskQueue: settings.fileTaskQueue,
    startToCloseTimeout: '30 seconds',
    retry: { maximumInterval: '1 minute' },
  });
  const filesOn = (queue: string) =>
    proxyActivities<FileActivities>({
      taskQueue: queue,
      scheduleToStartTimeout: `${settings.hostPickupTimeoutSeconds}s`,
      startToCloseTimeout: '7 days',
      heartbeatTimeout: `${settings.heartbeatTimeoutSeconds}s`,
      // No attempt limit: only permanent errors (nonRetryable) park a book; transient ones wait.
      retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
    });

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
  let cancelReason: string | undefined;
  const stageScope = new CancellationScope();
  setHandler(statusQuery, () => status);
  setHandler(retrySignal, () => {
    retryRequested = true;
  });
  setHandler(cancelSignal, (reason?: string) => {
    cancelReason = reason || 'cancelled by operator';
    // Interrupt whatever stage is running (a book may wait days for GRIN).
    if (status.state === 'running') stageScope.cancel();
  });

  const setStage = (bucket: StageBucket, activity: string) => {
    status.bucket = bucket;
    status.activity = activity;
    upsertSearchAttributes([{ key: GrinStage, value: bucket }]);
  };
  const runStage = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (cancelReason) throw new Cancelled();
    try {
      return await stageScope.run(fn);
    } catch (err) {
      if (cancelReason && isCancellation(err)) throw new Cancelled();
      throw err;
    }
  };

  const registered = await board.registerBook({ barcode, directory, workflowId: workflowInfo().workflowId, batchId: input.batchId });
  if (registered.bucket === '07_stored' && !input.force) {
    setStage('07_stored', 'already stored');
    status.state = 'stored';
    await tellBatch(input, { barcode, outcome: 'stored' });
    return 'stored';
  }

  // The stage being worked on: the bucket the book goes to when it succeeds.
  let next: StageBucket = '01_requested';
  let filename: string | undefined;
  let fileQueue: string | undefined;
  try {
    for (;;) {
      try {
        switch (next) {
          case '01_requested':
            setStage('00_available', 'asking GRIN to convert');
            await runStage(() => grin.requestConversion({ barcode, queueFullRetrySeconds: settings.queueFullRetrySeconds }));
            next = '02_converted';
            break;
          case '02_converted':
            setStage('01_requested', 'waiting for GRIN to convert');
            filename = (await runStage(() => waiter.waitForConversion({ barcode, pollIntervalSeconds: settings.pollIntervalSeconds }))).filename;
            status.grinFilename = filename;
            next = '03_downloaded';
            break;
          case '03_downloaded': {
            const archive = filename ?? `${barcode}.tar.gz.gpg`;
            // A rate-limited HEAD admits the download, and finds an evicted package before a host is claimed.
            setStage('02_converted', 'checking the archive at GRIN');
            const head = await runStage(() => grin.checkArchive({ barcode, filename: archive }));
            status.activity = 'choosing a host for the file stages';
            fileQueue = await runStage(() => hosts.claimFileHost());
            status.fileQueue = fileQueue;
            status.activity = 'downloading';
            await runStage(() => filesOn(fileQueue!).downloadArchive({ barcode, filename: archive, expectEtag: head.etag }));
            next = '04_decrypted';
            break;
          }
          case '04_decrypted':
            setStage('03_downloaded', 'decrypting');
            await runStage(() => filesOn(fileQueue!).decryptArchive({ barcode }));
            next = '05_extracted';
            break;
          case '05_extracted':
            setStage('04_decrypted', 'extracting and verifying checksums');
            await runStage(() => filesOn(fileQueue!).extractArchive({ barcode }));
            next = '06_processed';
            break;
          case '06_processed':
            setStage('05_extracted', 'making OCR and MARC derivatives');
            await runStage(() => filesOn(fileQueue!).processBook({ barcode }));
            next = '07_stored';
            break;
          case '07_stored':
            setStage('06_processed', 'uploading and verifying');
            await runStage(() => filesOn(fileQueue!).uploadBook({ barcode, force: input.force }));
            status.activity = 'cleaning up local files';
            await runStage(() => filesOn(fileQueue!).cleanupBook({ barcode }));
            setStage('07_stored', 'stored');
            status.state = 'stored';
            await tellBatch(input, { barcode, outcome: 'stored' });
            return 'stored';
          default:
            throw new Error(`unexpected stage ${next}`);
        }
      } catch (err) {
        if (err instanceof Cancelled) throw err;
        const type = failureType(err);
        // The package left GRIN's converted pool before we got it, or GRIN lost the request: ask again.
        const lost = (next === '03_downloaded' && type === 'ArchiveNotFoundError') || (next === '02_converted' && type === 'ConversionRequestLost');
        if (lost && status.reRequests < MAX_RE_REQUESTS) {
          status.reRequests++;
          log.info('GRIN no longer has the book converted or queued; requesting conversion again', { barcode, type });
          next = '01_requested';
          continue;
        }
        if (isHostLost(err) && next >= '03_downloaded' && status.hostMoves < MAX_HOST_MOVES) {
          // The host holding this book's files stopped answering: start the file stages over elsewhere.
          status.hostMoves++;
          log.warn('file host did not pick up work; moving the book to another host', { barcode, fileQueue });
          fileQueue = undefined;
          next = '03_downloaded';
          continue;
        }
        await park(next, err);
        // After a retry of a file stage whose host is unknown, begin the file stages again.
        if (next > '03_downloaded' && !fileQueue) next = '03_downloaded';
      }
    }
  } catch (err) {
    if (!(err instanceof Cancelled)) throw err;
    status.activity = 'cancelling';
    await board.cancelBook({ barcode, reason: cancelReason });
    status.state = 'cancelled';
    status.activity = `cancelled: ${cancelReason}`;
    upsertSearchAttributes([{ key: GrinStage, value: 'cancelled' }]);
    await tellBatch(input, { barcode, outcome: 'cancelled' });
    return 'cancelled';
  }

  /** Park in `failed`, then wait for `retry` (returns) or `cancel` (throws Cancelled). */
  async function park(stage: StageBucket, err: unknown): Promise<void> {
    const message = failureMessage(err);
    const type = failureType(err);
    status.state = 'parked';
    status.activity = `parked: ${message}`;
    status.lastError = { stage, message, type };
    upsertSearchAttributes([{ key: GrinStage, value: 'failed' }]);
    await board.parkBook({ barcode, stage, message, type });
    await tellBatch(input, { barcode, outcome: 'failed' });
    retryRequested = false;
    await condition(() => retryRequested || cancelReason !== undefined);
    if (cancelReason) throw new Cancelled();
    const backTo = STAGE_BUCKETS[STAGE_BUCKETS.indexOf(stage) - 1];
    await board.unparkBook({ barcode, backTo });
    status.state = 'running';
    setStage(backTo, 'retrying');
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
    return `timed out (${cause.timeoutType}); the activity did not finish in time`;
  }
  return cause instanceof Error ? cause.message : String(cause);
}

function isHostLost(err: unknown): boolean {
  const cause = rootCause(err);
  return cause instanceof TimeoutFailure && (cause.timeoutType === 'SCHEDULE_TO_START' || cause.timeoutType === 'HEARTBEAT');
}
