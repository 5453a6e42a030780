/**
 * The bridge between the pipeline's logger and the Temporal SDK: the SDK's Runtime logger (which
 * carries every workflow's and activity's log with its metadata: workflowId, activityType, attempt,
 * and the error) writes through ours, and parts that log outside Temporal (the GRIN client) log
 * through the current activity's logger when there is one, so their lines keep the book's metadata.
 */
import { log as activityLog } from '@temporalio/activity';
import { ApplicationFailure, type LogLevel as SdkLevel, type LogMetadata } from '@temporalio/common';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { failureDetails } from '../activities/failures';
import { activityFacts } from '../common/stages';
import type { Logger, LogLevel } from './logger';

/** Book workflow ids are `grin/<directory>/<barcode>` (contracts.ts bookWorkflowId). */
const BOOK_WORKFLOW_ID = /^grin\/[^/]+\/([^/]+)$/;

/** The SDK's metadata plus what a reader of the pipeline's log looks for first: the book and its stage. */
export function withBookFields(meta: LogMetadata | undefined): LogMetadata {
  const out: LogMetadata = { ...meta };
  const book = typeof out.workflowId === 'string' ? BOOK_WORKFLOW_ID.exec(out.workflowId) : null;
  if (book && out.barcode === undefined) out.barcode = book[1];
  const stage = typeof out.activityType === 'string' ? activityFacts(out.activityType)?.stage : undefined;
  if (stage && out.stage === undefined) out.stage = stage;
  return out;
}

/** The SDK's notice for our activity-only workers: expected, and said on every start. */
const ACTIVITY_ONLY_WORKER_NOTICE = 'No workflows registered, not polling for workflow tasks';

const TO_SDK: Record<LogLevel, SdkLevel> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };
const FROM_SDK: Record<SdkLevel, LogLevel> = { TRACE: 'debug', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/** webpack's listing of the workflow bundle (assets, modules), which the SDK's bundler logs at INFO. */
const WEBPACK_STATS = /\bwebpack [\d.]+ compiled\b/;

/**
 * The level an SDK entry is logged at here. webpack's bundle listing is for debugging the bundle;
 * a permanent failure (a PipelineError that parks the book) is expected and said once, with its
 * reason, by the park itself (activities/board-ops.ts): its "Activity failed" warning and stack
 * would only repeat it.
 */
export function pipelineLevel(entry: Pick<LogEntry, 'level' | 'message' | 'meta'>): LogLevel {
  const level = FROM_SDK[entry.level];
  if (level === 'info' && WEBPACK_STATS.test(entry.message)) return 'debug';
  const error = entry.meta?.error;
  if (level === 'warn' && entry.message === 'Activity failed' && error instanceof ApplicationFailure && error.nonRetryable) return 'debug';
  return level;
}

/**
 * The SDK logger for `Runtime.install`. Expected failures (not converted yet, queue full) are
 * BENIGN, which the SDK logs at DEBUG. Failures of a fault that hits every book (they carry
 * `waitingFor`) are left to the per-process fault reporter (activities/waiting.ts), which says it
 * once per interval, not once per book. Levels as `pipelineLevel` says.
 */
export function sdkLogger(logger: Logger): DefaultLogger {
  return new DefaultLogger(TO_SDK[logger.level], (entry: LogEntry) => {
    if (entry.message === ACTIVITY_ONLY_WORKER_NOTICE) return;
    const error = entry.meta?.error;
    if (error instanceof ApplicationFailure && failureDetails(error).waitingFor) return;
    const level = pipelineLevel(entry);
    if (LEVEL_ORDER[level] < LEVEL_ORDER[logger.level]) return;
    logger.log(level, entry.message, withBookFields(entry.meta));
  });
}

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A `warn` for shared clients (GRIN): inside an activity it goes through the activity's logger (and
 * so carries its workflowId, activityType and attempt), elsewhere straight to `fallback`.
 */
export function contextualWarn(fallback: Logger, meta: LogMetadata): { warn(message: string): void } {
  return {
    warn(message: string) {
      try {
        activityLog.warn(message, meta);
      } catch {
        fallback.warn(message, meta); // not in an activity (CLI, start-up)
      }
    },
  };
}
