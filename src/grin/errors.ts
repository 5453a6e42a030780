/**
 * Errors the GRIN client throws. Every one names the endpoint (method + path, never the query with
 * barcodes lists or tokens), the barcode when there is one, and the HTTP status when there was one,
 * and decides here, once, whether trying again later can help (`retryable`, see PipelineError).
 */
import { PipelineError } from '../common/errors';
import type { ConversionOutcome } from './types';

export interface GrinErrorContext {
  /** e.g. `GET /PRNC/_converted` or `HEAD /PRNC/32101….tar.gz.gpg`. */
  endpoint: string;
  barcode?: string;
  status?: number;
}

function describe(ctx: GrinErrorContext): string {
  const parts = [`GRIN ${ctx.endpoint}`];
  if (ctx.barcode) parts.push(`barcode ${ctx.barcode}`);
  if (ctx.status !== undefined) parts.push(`HTTP ${ctx.status}`);
  return parts.join(', ');
}

/** What a book waits for while GRIN itself is failing (5xx, 429, network): every book sees it at once. */
export const WAITING_FOR_GRIN = 'GRIN to answer again (server errors, throttling or network trouble)';
/** What a book waits for while GRIN refuses our token: only an operator (or Google) can fix it. */
export const WAITING_FOR_CREDENTIALS = 'GRIN to accept our credentials (check grin.credentialsFile / re-run auth setup)';

export interface GrinErrorOptions {
  retryable: boolean;
  /**
   * Whether a retry within a command or call may try again soon (the CLI's retry helper, a download's
   * Range resume). Default: `retryable`. False for faults only an operator or Google can end
   * (credentials, ACL): a command should say so now rather than after minutes of backoff.
   */
  retryInCall?: boolean;
  waitingFor?: string;
  benign?: boolean;
  retryAfterSeconds?: number;
  cause?: unknown;
}

/** Base class: anything the GRIN client gave up on. */
export class GrinHttpError extends PipelineError {
  readonly endpoint: string;
  readonly barcode?: string;
  readonly status?: number;
  readonly retryInCall: boolean;

  constructor(ctx: GrinErrorContext, detail: string, opts: GrinErrorOptions) {
    super(`${describe(ctx)}: ${detail}`, opts);
    this.retryInCall = opts.retryInCall ?? opts.retryable;
    this.endpoint = ctx.endpoint;
    this.barcode = ctx.barcode;
    this.status = ctx.status;
  }

  /** The context this error was made with, to build a related error. */
  get context(): GrinErrorContext {
    return { endpoint: this.endpoint, barcode: this.barcode, status: this.status };
  }
}

/**
 * The token was refused (login redirect or 401) even after a refresh, or could not be refreshed
 * (the token endpoint said `invalid_grant`, or could not be reached). Transient: it hits every book
 * at once, so books wait, loudly, until the credentials work again; they never park for it.
 */
export class GrinAuthError extends GrinHttpError {
  constructor(ctx: GrinErrorContext, detail: string, cause?: unknown) {
    super(ctx, detail, { retryable: true, retryInCall: false, waitingFor: WAITING_FOR_CREDENTIALS, cause });
  }
}

/**
 * HTTP 403: the account is known but not allowed on this directory (yet). Account-wide, not the
 * book's fault, and Google's ACL changes take hours: books wait for it rather than park.
 */
export class GrinPermissionError extends GrinHttpError {
  constructor(ctx: GrinErrorContext) {
    super(
      ctx,
      'GRIN denied access. The Google account may not be allowed on this library directory yet ' +
        '(check the directory name, which is case-sensitive; ACL changes at Google can take up to 12 hours).',
      { retryable: true, retryInCall: false, waitingFor: 'GRIN to allow our Google account on this library directory (grin.directory)' },
    );
  }
}

/**
 * HTTP 404 on an archive: it is not in the converted pool (never converted, or evicted). Retrying
 * the download cannot bring it back; the book workflow requests the conversion again.
 */
export class ArchiveNotFoundError extends GrinHttpError {
  readonly filename: string;
  constructor(ctx: GrinErrorContext, filename: string) {
    super(ctx, `${filename} is not in the converted pool; request its conversion again`, { retryable: false });
    this.filename = filename;
  }
}

/**
 * HTTP 429 on `_process`: the conversion queue is full. Expected (GRIN holds 50,000 requests), so
 * benign: the caller asks again after `retryAfterSeconds`. `partial` holds outcomes of batches sent
 * before the refusal.
 */
export class QueueFullError extends GrinHttpError {
  readonly partial: ReadonlyMap<string, ConversionOutcome>;
  /** Barcodes that were not submitted because of the refusal. */
  readonly notSubmitted: readonly string[];
  constructor(
    ctx: GrinErrorContext,
    partial: ReadonlyMap<string, ConversionOutcome>,
    notSubmitted: readonly string[],
    retryAfterSeconds?: number,
  ) {
    super(ctx, `the conversion queue is full; ${notSubmitted.length} barcode(s) not submitted, try again later`, {
      retryable: true,
      benign: true,
      retryAfterSeconds,
    });
    this.partial = partial;
    this.notSubmitted = notSubmitted;
  }
}

/**
 * An archive's body arrived slower than the configured floor (grin.minDownloadRate): a trickle that
 * would keep the download, and its heartbeats, going for days. Transient: the client cuts the body
 * and resumes with Range from the bytes on disk; the book waits for GRIN to send at a usable rate.
 */
export class SlowTransferError extends GrinHttpError {
  constructor(ctx: GrinErrorContext, received: number, floor: { bytes: number; windowMs: number }) {
    const seconds = floor.windowMs / 1000;
    super(
      ctx,
      `the archive arrived at ${received} bytes in the last ${seconds} s, below the floor of ${floor.bytes} bytes ` +
        `per ${seconds} s (grin.minDownloadRate); cut to resume from the bytes on disk`,
      { retryable: true, waitingFor: `GRIN to send the archive faster than ${floor.bytes} bytes per ${seconds} s (grin.minDownloadRate)` },
    );
  }
}

/** The response body was not in a format this client understands (HTML where TSV was expected, ...). */
export class GrinFormatError extends GrinHttpError {
  constructor(ctx: GrinErrorContext, detail: string, retryable = false) {
    super(ctx, detail, { retryable });
  }
}

/**
 * A shared listing (`_converted`, `_failed`, `_in_process`) could not be read, whatever the reason.
 * Every book waiting for conversion depends on it, so it is always transient: they all ask again.
 */
export class GrinListingError extends GrinHttpError {
  constructor(ctx: GrinErrorContext, cause: unknown) {
    const why = typeof (cause as { message?: unknown })?.message === 'string' ? (cause as Error).message : String(cause);
    super(ctx, `the listing could not be read (${why})`, {
      retryable: true,
      waitingFor: (cause as { waitingFor?: string })?.waitingFor ?? `GRIN's ${ctx.endpoint} listing to be readable again`,
      cause,
    });
  }
}

/** GRIN answered `_process` for the book with a refusal (not allowed, unknown barcode, ...): permanent. */
export class GrinRefusedError extends GrinHttpError {
  readonly outcome: string;
  constructor(ctx: GrinErrorContext, outcome: Extract<ConversionOutcome, { text: string }>) {
    super(
      ctx,
      `GRIN refused to convert the book: "${outcome.text}"` +
        (outcome.kind === 'not_allowed' ? ' (Google does not release this volume for download)' : ''),
      { retryable: false },
    );
    this.outcome = outcome.kind;
  }
}

/** A call given bad input (an invalid directory, barcode or archive name): the same call fails every time. */
export class GrinUsageError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/**
 * The GRIN credentials or OAuth client file cannot be used (unreadable, not JSON, a field missing,
 * no access token issued). Like GrinAuthError it hits every book at once and only the operator can
 * end it, so books wait for it (never within a call: a command says so now) rather than park.
 */
export class GrinCredentialsError extends PipelineError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: true, waitingFor: WAITING_FOR_CREDENTIALS, cause });
  }
}

/** `auth setup` could not get a consent from the operator (nothing pasted, refused, timed out): run it again. */
export class GrinAuthSetupError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** A `_process` answer that is not a Barcode/Status table; the client words it with the endpoint (GrinFormatError). */
export class GrinAnswerError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: true });
  }
}

/**
 * A fault of the connection itself (reset before the end of a body, no data within the idle limit),
 * raised by our HTTP transport. It carries a system error `code` like Node's own socket errors, so it
 * is classified with them (a network fault: transient, named with the endpoint by `asGrinError`).
 */
export class ConnectionFault extends PipelineError {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message, { retryable: true, waitingFor: WAITING_FOR_GRIN });
  }
}

/** A request stopped by its abort signal (a cancelled activity, Ctrl-C): never retried within a call or command. */
export class GrinAbortError extends PipelineError {
  constructor() {
    super('aborted', { retryable: true });
  }
}

const TRANSIENT_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);

/**
 * True for errors worth another try soon, without Temporal (the CLI's retry helper, resuming a
 * download): our own errors that say so, and network-level failures.
 */
export function isTransientError(err: unknown): boolean {
  if (err instanceof GrinHttpError) return err.retryInCall;
  if (err instanceof ConnectionFault) return TRANSIENT_CODES.has(err.code);
  // A token endpoint that refused is for the caller to report (GrinAuthError); one not reached is retried like any network fault.
  if (err instanceof TokenEndpointError) return err.status === undefined && !!err.code && TRANSIENT_CODES.has(err.code);
  if (err instanceof GrinAbortError || err instanceof GrinCredentialsError) return false;
  if (err instanceof PipelineError) return err.retryable;
  // Not `instanceof Error`: errors from Node internals may come from another realm (e.g. under jest).
  if (typeof err !== 'object' || err === null) return false;
  if ((err as { name?: unknown }).name === 'AbortError') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  if (code === 'UND_ERR_ABORTED') return false;
  return TRANSIENT_CODES.has(code);
}

/**
 * The error to give up with: a PipelineError as it is; a network-level one wrapped so it names the
 * endpoint (transient: GRIN or the way to it is down); anything else (a bug, an abort) unchanged.
 */
export function asGrinError(err: unknown, ctx: GrinErrorContext): unknown {
  if ((err instanceof PipelineError && !(err instanceof ConnectionFault)) || !isTransientError(err)) return err;
  const e = err as { code?: string; name?: string; message?: string };
  return new GrinHttpError(ctx, `network error: ${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}`, {
    retryable: true,
    waitingFor: WAITING_FOR_GRIN,
    cause: err,
  });
}

/**
 * A token endpoint that refused or could not be reached. Its message names the endpoint, the HTTP
 * status, the content type and a standard OAuth error code, never the body (which may echo the
 * request: client secret and refresh token). `code` keeps a network error's code (ECONNREFUSED ...)
 * so callers still tell a network fault from a refusal.
 */
export class TokenEndpointError extends PipelineError {
  readonly status?: number;
  readonly code?: string;
  constructor(message: string, status?: number, code?: string) {
    // Transient: the endpoint comes back, or an operator renews the credentials; the book never parks for it.
    super(message, {
      retryable: true,
      waitingFor: 'the OAuth token endpoint to grant an access token (check the GRIN credentials if this lasts)',
    });
    this.status = status;
    this.code = code;
  }
}
