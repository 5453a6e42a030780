/**
 * Inputs, signals and queries of the pipeline's workflows: what the CLI, the worker and the
 * workflows agree on. Pure definitions, safe to import from workflow code and from clients.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Bucket, StageBucket } from '../buckets/token';

/**
 * Tunables a book workflow needs; derived from the config by the client that starts it, and fixed
 * for that workflow run (docs/workflow-changes.md says why and how an operator changes them).
 */
export interface BookSettings {
  grinTaskQueue: string;
  /** Shared file queue where a host is claimed for the book's file stages. */
  fileTaskQueue: string;
  pollIntervalSeconds: number;
  /** Wait before asking again when GRIN's conversion queue is full (HTTP 429). */
  queueFullRetrySeconds: number;
  /** Park the book if GRIN has not converted it after this long. */
  maxConversionWaitHours: number;
  /**
   * Park a book whose file stage keeps failing transiently for this many days; absent or 0: retry
   * without limit (transient faults never park a book).
   */
  fileStageMaxDays?: number;
  /** A host that has not picked up a book's file stage in this long is presumed gone. */
  hostPickupTimeoutSeconds: number;
  /** Heartbeat timeout for long file stages (download, decrypt, extract, upload). */
  heartbeatTimeoutSeconds: number;
  /** Longest wait between attempts of a failing GRIN call; absent (older runs): 30 minutes. */
  grinRetryMaxSeconds?: number;
  /** Longest wait between attempts of a failing file stage; absent (older runs): 5 minutes. */
  fileRetryMaxSeconds?: number;
}

export interface BookInput {
  barcode: string;
  directory: string;
  batchId?: string;
  /** The batch workflow to tell when this book settles (stored, parked or cancelled). */
  batchWorkflowId?: string;
  /** Upload again even if storage already holds this archive with the same GRIN ETag. */
  force?: boolean;
  settings: BookSettings;
}

export type BookOutcome = 'stored' | 'cancelled';

export interface BookStatus {
  barcode: string;
  directory: string;
  /** The bucket the book is in (or heading out of). */
  bucket: Bucket;
  state: 'running' | 'parked' | 'stored' | 'cancelled';
  /** What the workflow is doing now, in words. */
  activity: string;
  fileQueue?: string;
  grinFilename?: string;
  lastError?: { stage: StageBucket; message: string; type?: string };
  /** Times the book went back to GRIN because its package left the converted pool before download. */
  reRequests: number;
  /** Times the file stages moved to another host. */
  hostMoves: number;
}

export const retrySignal = defineSignal('retry');
export const cancelSignal = defineSignal<[reason?: string]>('cancel');
export const statusQuery = defineQuery<BookStatus>('status');

export interface BookSettled {
  barcode: string;
  /** `failed`: parked in the failed bucket (or its workflow ended without storing it). */
  outcome: 'stored' | 'failed' | 'cancelled';
}

/**
 * Starts per batch run for new batches. A run's history is about 6 events per start, and a batch
 * signalled while it continues as new is evicted and replays its run (about 1 ms of CPU per event):
 * at 1,000 starts that replay took 13-23 s on a busy 2-core host, longer than the task timeout, and
 * a 10,000-book batch stopped starting books for minutes. 250 keeps the replay near a second.
 */
export const BATCH_STARTS_PER_RUN = 250;
/** The batch's workflow task timeout (Temporal's default is 10 s): room for a replay of its run on a busy host. */
export const BATCH_WORKFLOW_TASK_TIMEOUT_MS = 60_000;

export interface BatchInput {
  batchId: string;
  directory: string;
  /** Barcode list (one per line) readable by the workers, written by `start-batch`. */
  barcodesFile: string;
  total: number;
  /** Books in flight at once. */
  window: number;
  force?: boolean;
  settings: BookSettings;
  /**
   * Book starts per workflow run before continuing as new (`start-batch` sends BATCH_STARTS_PER_RUN;
   * batches started before it existed have none and keep the workflow's old default, 1,000).
   */
  startsPerRun?: number;
  /**
   * How often the batch asks Temporal what its in-flight and parked books are really doing, so a
   * lost `bookSettled` signal delays the batch by at most this long (default 300; tests use 1-2).
   */
  reconcileIntervalSeconds?: number;
  /** Carried across continue-as-new. */
  state?: BatchState;
}

export interface BatchState {
  /** Index in the barcode list of the next book to start. */
  offset: number;
  /** Started and not settled yet. */
  inFlight: string[];
  /** Settled as parked (counted in `failed`); a later store or cancel moves the count. */
  parked?: string[];
  started: number;
  /** Books whose workflow already existed (running or finished): never started twice. */
  alreadyKnown: number;
  stored: number;
  failed: number;
  cancelled: number;
}

export type BatchProgress = BatchState & { batchId: string; total: number; window: number };

export interface BatchSummary {
  batchId: string;
  total: number;
  started: number;
  alreadyKnown: number;
  stored: number;
  failed: number;
  cancelled: number;
}

export const bookSettledSignal = defineSignal<[BookSettled]>('bookSettled');
/** Several books' news in one signal (the worker groups the notices it sends to one batch). */
export const booksSettledSignal = defineSignal<[BookSettled[]]>('booksSettled');
export const batchProgressQuery = defineQuery<BatchProgress>('progress');

/** What the batch-notify activity did: a finished batch is not an error for the book. */
export type BatchNotice = 'delivered' | 'batch-not-running';

export function bookWorkflowId(directory: string, barcode: string): string {
  return `grin/${directory}/${barcode}`;
}

export function batchWorkflowId(directory: string, batchId: string): string {
  return `grin-batch/${directory}/${batchId}`;
}

/**
 * The conversion watcher (workflows/conversion-watcher.ts): one per GRIN directory. It looks at GRIN's
 * listings once per poll interval for every book in 01_requested and tells each book whose
 * conversion ended (books from the `lean-book` patch on wait for this instead of polling).
 */
export type ConversionNotice = { state: 'converted'; filename: string } | { state: 'failed' | 'lost'; message: string };
export const conversionSeenSignal = defineSignal<[ConversionNotice]>('conversionSeen');
/** A book just asked GRIN to convert: the watcher must not finish before it has looked again. */
export const booksWaitingSignal = defineSignal('booksWaiting');

export interface ConversionWatchInput {
  directory: string;
  pollIntervalSeconds: number;
  grinTaskQueue: string;
}

export function conversionWatchWorkflowId(directory: string): string {
  return `grin-watch/${directory}`;
}
