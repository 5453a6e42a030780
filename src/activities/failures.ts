/**
 * Turns errors from the pipeline's modules into Temporal failures with a stable `type`, deciding
 * which ones retrying cannot fix. Those park the book in `failed` at once instead of burning retries.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';

/** Error types that retrying the same activity cannot fix. */
const PERMANENT = new Set([
  'DecryptError',
  'UnsafeArchiveError',
  'ArchiveLimitError',
  'CorruptArchiveError',
  'ChecksumMismatchError',
  'NoOcrTextError',
  'InvalidBarcodeError',
  'ConfigError',
  'SecretError',
  'GrinAuthError',
  'GrinPermissionError',
  'ArchiveNotFoundError',
]);

export function isPermanent(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const flagged = (err as { retryable?: unknown }).retryable;
  if (flagged === false) return true;
  if (flagged === true) return false;
  return PERMANENT.has(err.name);
}

/** Re-throw `err` as an ApplicationFailure whose type is the error's class name. */
export function asFailure(err: unknown): never {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure || activityCancelled()) throw err;
  const e = err instanceof Error ? err : new Error(String(err));
  throw ApplicationFailure.create({
    message: e.message,
    type: e.name && e.name !== 'Error' ? e.name : 'ActivityError',
    nonRetryable: isPermanent(e),
    cause: e,
  });
}

/** Runs an activity body, converting whatever it throws. */
export async function classified<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    asFailure(err);
  }
}

/** A cancelled activity must surface as cancelled, not as a failure, whatever error it ended with. */
function activityCancelled(): boolean {
  try {
    return Context.current().cancellationSignal.aborted;
  } catch {
    return false; // not inside an activity (unit use)
  }
}
