/**
 * The pipeline's one error protocol. Every error a module throws on purpose extends PipelineError
 * and says, once, where it is thrown:
 *  - `retryable`: true for transient faults (network, 5xx, 429, expired tokens, S3 unreachable,
 *    disk above the threshold): Temporal retries them with backoff and the book never parks;
 *    false for permanent ones (content no retry can fix): the book parks with `message` as reason.
 *  - `redownload`: a permanent integrity failure (OpenPGP MDC, gzip, tar, checksum.md5) that a
 *    damaged transfer could explain: the workflow discards the local copy and downloads once more,
 *    and parks only if the fresh copy fails the same way.
 *  - `benign`: an expected outcome reported as a failure (not converted yet, queue full), logged
 *    quietly (ApplicationFailureCategory.BENIGN).
 *  - `waitingFor`: for transient faults, what the book is waiting for, in an operator's words.
 * `src/activities/failures.ts` turns these into Temporal failures; nothing else decides.
 */
export interface PipelineErrorOptions {
  retryable: boolean;
  redownload?: boolean;
  benign?: boolean;
  waitingFor?: string;
  /** Seconds Temporal should wait before the next attempt (overrides the policy's backoff once). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class PipelineError extends Error {
  readonly retryable: boolean;
  readonly redownload: boolean;
  readonly benign: boolean;
  readonly waitingFor?: string;
  readonly retryAfterSeconds?: number;

  constructor(message: string, options: PipelineErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable;
    this.redownload = options.redownload ?? false;
    this.benign = options.benign ?? false;
    this.waitingFor = options.waitingFor;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** What travels in an ApplicationFailure's details, for the workflow and the CLI to read. */
export interface FailureDetails {
  redownload?: boolean;
  waitingFor?: string;
  /**
   * Set for an error that is not a PipelineError (nothing said whether retrying helps): its class
   * name and the attempt that met it. It is retried as transient, and `status`, the token and the
   * `grin_unexpected_errors` metric name it, so that it gets looked at rather than retried unseen.
   */
  unexpected?: { name: string; attempt: number };
}
