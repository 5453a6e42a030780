/**
 * The CLI's one retry layer for its GRIN work. No Temporal runs around a command, and the GRIN client
 * makes one attempt per call, so a command wraps its GRIN step (a whole listing, a chunk of look-ups)
 * in `retrying`: a transient failure (5xx, 429, network, a listing cut short) is tried again after an
 * exponential backoff, saying so on stderr; anything else, or the last attempt's failure, is thrown
 * as it is. Faults only an operator can end (credentials, ACL) are not retried: the command says so
 * at once (`isTransientError`: an error's `retryInCall`).
 */
import { setTimeout as wait } from 'node:timers/promises';
import { isTransientError } from '../grin/errors';

export interface CliRetryPolicy {
  /** Total attempts including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const CLI_RETRY: CliRetryPolicy = { attempts: 5, baseDelayMs: 1_000, maxDelayMs: 60_000 };

export interface RetryingOptions {
  policy?: Partial<CliRetryPolicy>;
  /** Where the "retrying in N s" lines go; default stderr. */
  log?: (line: string) => void;
  /** Ends a wait at once (rejecting with the abort's reason); no attempt starts after it. */
  signal?: AbortSignal;
}

/** Runs `fn`, again after a backoff while it fails with a transient error; `what` names the step in the retry lines. */
export async function retrying<T>(what: string, fn: (attempt: number) => Promise<T>, opts: RetryingOptions = {}): Promise<T> {
  const policy = { ...CLI_RETRY, ...opts.policy };
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted || !isTransientError(err) || attempt >= policy.attempts) throw err;
      const delayMs = Math.max(backoffMs(policy, attempt), Math.min(policy.maxDelayMs, retryAfterMs(err)));
      log(`${what}: retrying in ${seconds(delayMs)} s (${reason(err)}); attempt ${attempt + 1} of ${policy.attempts}`);
      await wait(delayMs, undefined, { signal: opts.signal }).catch(() => {
        throw opts.signal?.reason instanceof Error ? opts.signal.reason : err;
      });
    }
  }
}

/** Exponential backoff with jitter: base·2^(n-1), capped, times a random factor in [0.5, 1). */
export function backoffMs(policy: CliRetryPolicy, attempt: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp * (0.5 + Math.random() * 0.5));
}

/** A wait the error asks for (GRIN's Retry-After on a full conversion queue), honoured up to the longest backoff. */
function retryAfterMs(err: unknown): number {
  const s = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return typeof s === 'number' && Number.isFinite(s) && s > 0 ? s * 1000 : 0;
}

function seconds(ms: number): string {
  return ms >= 10_000 ? String(Math.round(ms / 1000)) : (ms / 1000).toFixed(1);
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n', 1)[0];
}
