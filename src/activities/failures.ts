/**
 * The one place errors become Temporal failures. A PipelineError already says what it is (see
 * src/common/errors.ts); this turns it into an ApplicationFailure whose `type` is the error's class
 * name (those the workflows route on are declared in common/failure-types.ts), `nonRetryable` when retrying cannot fix it (the book parks), category BENIGN for expected
 * outcomes (quiet in the worker's log), `nextRetryDelay` when the error asks for one, and
 * FailureDetails (redownload, waitingFor) for the workflow and `grin-pipeline status`.
 * Anything else (a Node or library error we did not wrap) is taken as transient: Temporal retries
 * it with backoff, which is what a crash, a vanished file server or a network fault needs. It is
 * not retried unseen: its message names it as unexpected, with its class and attempt number, and
 * its details carry both (`unexpected`) for the token, the metrics and `grin-pipeline status`.
 * What goes to Temporal stays in its history for good, so every registered secret value is scrubbed
 * from the failure's message, stack, details and whole cause chain first (common/secret-values.ts).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory, CancelledFailure } from '@temporalio/common';
import { PipelineError, type FailureDetails } from '../common/errors';
import { FailureType } from '../common/failure-types';
import { scrubDeep, scrubError, scrubText } from '../common/secret-values';

/** True when retrying cannot fix `err` (the book parks): only a PipelineError can say so. */
export function isPermanent(err: unknown): boolean {
  if (err instanceof ApplicationFailure) return err.nonRetryable === true;
  return err instanceof PipelineError && !err.retryable;
}

/** The ApplicationFailure that reports `err` to Temporal (see the module comment), secrets scrubbed. */
export function toFailure(err: unknown): ApplicationFailure {
  return scrubFailure(unscrubbedFailure(err));
}

function unscrubbedFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof PipelineError) {
    const details: FailureDetails = {
      ...(err.redownload ? { redownload: true } : {}),
      ...(err.waitingFor ? { waitingFor: err.waitingFor } : {}),
    };
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: !err.retryable,
      category: err.benign ? ApplicationFailureCategory.BENIGN : undefined,
      nextRetryDelay: err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : undefined,
      details: [details],
    });
  }
  const e = err instanceof Error ? err : undefined;
  const name = unexpectedName(err);
  const attempt = currentAttempt();
  const details: FailureDetails = { unexpected: { name, attempt } };
  return ApplicationFailure.create({
    type: e?.name && e.name !== 'Error' ? e.name : FailureType.Unexpected,
    message: `unexpected ${name} (attempt ${attempt}, retried as transient): ${e ? e.message : String(err)}`,
    nonRetryable: false,
    details: [details],
    cause: e,
  });
}

/** The class (and system error code, when there is one) of an error nothing classified, for operators. */
export function unexpectedName(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? `${err.name} ${code}` : err.name;
}

/** The activity's attempt number (1 for the first); 1 outside an activity (unit use). */
function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * The failure with secrets replaced in its message, stack and details, and in every cause's message
 * and stack. A cause is scrubbed in place: it is ours to report, nobody else reads it afterwards.
 */
function scrubFailure(failure: ApplicationFailure): ApplicationFailure {
  failure.message = scrubText(failure.message);
  if (failure.stack) failure.stack = scrubText(failure.stack);
  if (failure.details?.length) {
    (failure as { details?: unknown[] }).details = scrubDeep(failure.details as unknown[]);
  }
  if (failure.cause instanceof Error) scrubError(failure.cause);
  return failure;
}

/** What an ApplicationFailure's details say (empty when it carries none of ours). */
export function failureDetails(failure: ApplicationFailure): FailureDetails {
  const first = failure.details?.[0];
  return typeof first === 'object' && first !== null ? (first as FailureDetails) : {};
}

/** What an activity reports for `err`: its ApplicationFailure, or `err` itself when the activity was cancelled. */
export function failureOf(err: unknown): unknown {
  if (err instanceof CancelledFailure || activityCancelled()) return err;
  return toFailure(err);
}

/** A cancelled activity must surface as cancelled, not as a failure, whatever error it ended with. */
function activityCancelled(): boolean {
  try {
    return Context.current().cancellationSignal.aborted;
  } catch {
    return false; // not inside an activity (unit use)
  }
}
