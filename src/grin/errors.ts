/**
 * Errors the GRIN client throws. Every one names the endpoint (method + path, never the query with
 * barcodes lists or tokens), the barcode when there is one, and the HTTP status when there was one,
 * and says whether trying again later can help (`retryable`).
 */

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

/** Base class: anything the GRIN client gave up on. */
export class GrinHttpError extends Error {
  readonly endpoint: string;
  readonly barcode?: string;
  readonly status?: number;
  /** True when the same call may succeed later (server error, network, truncated body, ...). */
  readonly retryable: boolean;

  constructor(ctx: GrinErrorContext, detail: string, opts: { retryable: boolean; cause?: unknown }) {
    super(`${describe(ctx)}: ${detail}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.endpoint = ctx.endpoint;
    this.barcode = ctx.barcode;
    this.status = ctx.status;
    this.retryable = opts.retryable;
  }
}

/** The token was refused (login redirect or 401) even after a refresh, or could not be refreshed. */
export class GrinAuthError extends GrinHttpError {
  constructor(ctx: GrinErrorContext, detail: string, cause?: unknown) {
    super(ctx, detail, { retryable: false, cause });
  }
}

/** HTTP 403: the account is known but not allowed on this directory (yet). */
export class GrinPermissionError extends GrinHttpError {
  constructor(ctx: GrinErrorContext) {
    super(
      ctx,
      'GRIN denied access. The Google account may not be allowed on this library directory yet ' +
        '(check the directory name, which is case-sensitive; ACL changes at Google can take up to 12 hours).',
      { retryable: false },
    );
  }
}

/** HTTP 404 on an archive: it is not in the converted pool (never converted, or evicted). */
export class ArchiveNotFoundError extends GrinHttpError {
  readonly filename: string;
  constructor(ctx: GrinErrorContext, filename: string) {
    super(ctx, `${filename} is not in the converted pool; request its conversion again`, { retryable: false });
    this.filename = filename;
  }
}

/**
 * HTTP 429 on `_process`: the conversion queue is full. The caller should back off and try later;
 * the client does not retry it. `partial` holds outcomes of batches sent before the refusal.
 */
export class QueueFullError extends GrinHttpError {
  readonly partial: ReadonlyMap<string, import('./types').ConversionOutcome>;
  /** Barcodes that were not submitted because of the refusal. */
  readonly notSubmitted: readonly string[];
  readonly retryAfterSeconds?: number;
  constructor(
    ctx: GrinErrorContext,
    partial: ReadonlyMap<string, import('./types').ConversionOutcome>,
    notSubmitted: readonly string[],
    retryAfterSeconds?: number,
  ) {
    super(ctx, `the conversion queue is full; ${notSubmitted.length} barcode(s) not submitted, try again later`, {
      retryable: true,
    });
    this.partial = partial;
    this.notSubmitted = notSubmitted;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The response body was not in a format this client understands (HTML where TSV was expected, ...). */
export class GrinFormatError extends GrinHttpError {
  constructor(ctx: GrinErrorContext, detail: string, retryable = false) {
    super(ctx, detail, { retryable });
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

/** True for errors worth another attempt: our own retryable errors and network-level failures. */
export function isTransientError(err: unknown): boolean {
  if (err instanceof GrinHttpError) return err.retryable;
  // Not `instanceof Error`: errors from Node internals may come from another realm (e.g. under jest).
  if (typeof err !== 'object' || err === null) return false;
  if ((err as { name?: unknown }).name === 'AbortError') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  if (code === 'UND_ERR_ABORTED') return false;
  return TRANSIENT_CODES.has(code);
}
