/**
 * The GRIN client (PROTOCOL.md §2–4): listings in text and HTML form, `_process`, HEAD/GET of
 * archives with resumable downloads, and `_barcode_search`. Every call uses the configured base URL,
 * carries the bearer token (http.ts) and fails with an error naming endpoint, barcode and status.
 * Each call is one attempt: the caller's retry layer (Temporal's activity retry policy in the
 * pipeline, src/cli/retry.ts in the CLI) decides whether and when to try again, so there is one.
 * A download that made progress resumes with Range inside its attempt (progress, not a retry).
 * A listing that fails throws; it never looks empty.
 */
import { promises as fs, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import pLimit from 'p-limit';
import { BARCODE_RULE, isValidBarcode, isValidDirectory } from '../common/identifiers';
import type { AccessTokenSource } from './auth';
import {
  ArchiveNotFoundError,
  GrinFormatError,
  GrinHttpError,
  GrinUsageError,
  QueueFullError,
  SlowTransferError,
  asGrinError,
  isTransientError,
  type GrinErrorContext,
} from './errors';
import {
  DEFAULT_TIMEOUTS,
  GrinHttp,
  checkLength,
  headerValue,
  readBodyText,
  statusError,
  type GrinResponse,
  type HttpTimeouts,
} from './http';
import {
  DEFAULT_ALL_BOOKS_COLUMN_MAPS,
  LineSplitter,
  findHeader,
  looksLikeHtml,
  parseAllBooksLine,
  parseBarcodeLine,
  parseConvertedLine,
  parseConvertedModeAllLine,
  parseFailedModeAllLine,
  parseTsvWithHeader,
  barcodeFromFilename,
  type AllBooksColumnMap,
  type AllBooksRecord,
} from './parse-text';
import {
  HtmlTooDeepError,
  REQUEST_UNAVAILABLE_TEXT,
  parseListingPage,
  resolveNextUrl,
  type HtmlListingPage,
  type HtmlListingRow,
} from './parse-html';
import { parseProcessResponse } from './process-status';
import { packBarcodesIntoUrls } from './enrich';
import type { ArchiveHead, ConversionOutcome, ConvertedEntry, DownloadProgress, DownloadResult, FailedEntry, GrinApi } from './types';
import { PRIVATE_FILE_MODE, PRIVATE_DIR_MODE } from '../common/file-modes';

export const DEFAULT_BASE_URL = 'https://books.google.com/libraries';
/** GT packs `_barcode_search` URLs up to this length (PROTOCOL.md §2.9). */
export const MAX_SEARCH_URL_LENGTH = 7_500;
const PROGRESS_STEP_BYTES = 1024 * 1024;
const MAX_HTML_PAGES = 100_000;
/** 256 KiB a minute (about 4 KiB/s): below that an archive of hundreds of MB would take days. */
export const DEFAULT_MIN_DOWNLOAD_RATE = { bytes: 256 * 1024, windowMs: 60_000 };
/** Immediate Range resumes within one download call, each after new bytes arrived. */
const MAX_RESUMES_PER_CALL = 20;

export type ListingFormat = 'text' | 'text-all' | 'html';

export interface GrinClientOptions {
  /** Default `https://books.google.com/libraries`. */
  baseUrl?: string;
  /** Library directory, case-sensitive. */
  directory: string;
  tokens: AccessTokenSource;
  timeouts?: Partial<HttpTimeouts>;
  /** Barcodes per `_process` request (default 100). */
  processBatchSize?: number;
  /** Listing fetches in flight at once from this client (default 2). */
  listingConcurrency?: number;
  /** Which representation each GrinApi listing reads (defaults: converted text, failed html, in-process text). */
  listingFormats?: { converted?: ListingFormat; failed?: ListingFormat; inProcess?: 'text' | 'html' };
  /** `result_count` per HTML page: `_all_books` 10,000, `_converted` 50,000 by default. */
  htmlPageSize?: { allBooks?: number; converted?: number };
  /** Layouts for header-less `_all_books?format=text&mode=all` rows, chosen by column count. */
  allBooksColumnMaps?: readonly AllBooksColumnMap[];
  /**
   * The slowest archive body that goes on: fewer than `bytes` in any `windowMs` and it is cut and
   * resumed with Range (default DEFAULT_MIN_DOWNLOAD_RATE; `bytes` 0 turns the floor off).
   */
  minDownloadRate?: { bytes: number; windowMs: number };
  /** Longest `_barcode_search` URL (default 7,500 characters). */
  maxSearchUrlLength?: number;
  /** Told about download resumes and listings stopped early; nothing secret is passed. */
  logger?: { warn(message: string): void };
  /** Told each HTTP answer's status (or `error` when none came), by endpoint (metrics). */
  onResponse?: (endpoint: string, status: number | 'error') => void;
}

export class GrinClient implements GrinApi {
  readonly baseUrl: string;
  readonly directory: string;
  private readonly http: GrinHttp;
  private readonly processBatchSize: number;
  /** Bounds concurrent listing fetches of this client (not a rate limiter). */
  private readonly listingSlots: ReturnType<typeof pLimit>;
  private readonly formats: Required<NonNullable<GrinClientOptions['listingFormats']>>;
  private readonly pageSize: { allBooks: number; converted: number };
  private readonly allBooksMaps: readonly AllBooksColumnMap[];
  private readonly maxSearchUrlLength: number;
  private readonly minDownloadRate: { bytes: number; windowMs: number };
  private readonly logger?: { warn(message: string): void };

  constructor(opts: GrinClientOptions) {
    if (!isValidDirectory(opts.directory)) {
      throw new GrinUsageError(
        `GRIN directory ${JSON.stringify(opts.directory)} is not valid: use letters, digits, '_' or '-' (case-sensitive)`,
      );
    }
    this.baseUrl = (opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    new URL(this.baseUrl); // fail early on a malformed base URL
    this.directory = opts.directory;
    this.http = new GrinHttp(this.baseUrl, opts.tokens, { ...DEFAULT_TIMEOUTS, ...opts.timeouts }, opts.onResponse);
    this.processBatchSize = opts.processBatchSize ?? 100;
    this.listingSlots = pLimit(opts.listingConcurrency ?? 2);
    this.formats = { converted: 'text', failed: 'html', inProcess: 'text', ...opts.listingFormats };
    this.pageSize = { allBooks: 10_000, converted: 50_000, ...opts.htmlPageSize };
    this.allBooksMaps = opts.allBooksColumnMaps ?? DEFAULT_ALL_BOOKS_COLUMN_MAPS;
    this.maxSearchUrlLength = opts.maxSearchUrlLength ?? MAX_SEARCH_URL_LENGTH;
    this.minDownloadRate = opts.minDownloadRate ?? DEFAULT_MIN_DOWNLOAD_RATE;
    this.logger = opts.logger;
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.http.close();
  }

  /** `<base>/<DIR>/<resource>?<query>`; commas and spaces in values are sent as `,` and `%20`. */
  resourceUrl(resource: string, params: Record<string, string | number> = {}): string {
    const query = Object.entries(params)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v)).replace(/%2C/gi, ',')}`)
      .join('&');
    return `${this.baseUrl}/${this.directory}/${resource}${query ? `?${query}` : ''}`;
  }

  private ctx(method: string, resource: string, barcode?: string): GrinErrorContext {
    return { endpoint: `${method} /${this.directory}/${resource}`, ...(barcode ? { barcode } : {}) };
  }

  // -------------------------------------------------------------------------------------------
  // Credentials check

  /**
   * Cheap request that proves the token and the directory work (`/<DIR>/?format=text&result_count=1`).
   * Unlike grin-transfer (§11.3), a redirect to the login page is a failure here.
   */
  async checkAccess(): Promise<void> {
    const ctx = this.ctx('GET', '');
    await attempt(ctx, async () => {
      const res = await this.http.send({ method: 'GET', url: this.resourceUrl('', { format: 'text', result_count: 1 }), ctx });
      await res.body.dump();
      if (res.statusCode !== 200) throw statusError(ctx, res.statusCode);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Listings: text

  /**
   * Non-blank lines of a text listing, streamed. A failure mid-stream ends the listing with an error
   * (the caller's retry reads it again from the start); the lines before it were delivered.
   */
  async *textLines(resource: string, params: Record<string, string | number> = {}): AsyncGenerator<string> {
    const ctx = this.ctx('GET', resource);
    const url = this.resourceUrl(resource, { format: 'text', ...params });
    const release = await this.listingSlot();
    let res: GrinResponse | undefined;
    let finished = false;
    try {
      res = await this.okResponse({ method: 'GET', url, ctx }, 'retry');
      const decoder = new StringDecoder('utf8');
      const splitter = new LineSplitter();
      let bytes = 0;
      let firstLine = true;
      const take = (lines: string[]): string[] => {
        const out: string[] = [];
        for (const line of lines) {
          if (line.trim() === '') continue;
          if (firstLine) {
            firstLine = false;
            if (looksLikeHtml(line)) {
              throw new GrinFormatError({ ...ctx, status: 200 }, 'expected a text listing but got an HTML page', true);
            }
          }
          if (line.includes(REQUEST_UNAVAILABLE_TEXT)) {
            throw new GrinFormatError({ ...ctx, status: 200 }, `GRIN answered "${REQUEST_UNAVAILABLE_TEXT}"`, true);
          }
          out.push(line);
        }
        return out;
      };
      for await (const chunk of res.body) {
        bytes += (chunk as Buffer).length;
        yield* take(splitter.push(decoder.write(chunk as Buffer)));
      }
      const tail = take([...splitter.push(decoder.end()), ...splitter.end()]);
      checkLength(res, bytes, ctx);
      yield* tail;
      finished = true;
    } catch (err) {
      throw asGrinError(err, ctx);
    } finally {
      if (res && !finished) res.body.destroy();
      release();
    }
  }

  /** Every barcode in the directory (`_all_books?format=text`), streamed. */
  async *listAllBarcodes(): AsyncGenerator<string> {
    for await (const line of this.textLines('_all_books')) {
      const barcode = parseBarcodeLine(line, this.directory);
      if (barcode) yield barcode;
    }
  }

  /**
   * `_all_books` with dates: text `mode=all` (layout by column count) or HTML pages (by header name).
   */
  async *listAllBooks(format: 'text' | 'html' = 'text'): AsyncGenerator<AllBooksRecord> {
    if (format === 'text') {
      for await (const line of this.textLines('_all_books', { mode: 'all' })) {
        const record = parseAllBooksLine(line, this.allBooksMaps);
        if (record) yield record;
      }
      return;
    }
    for await (const row of this.htmlRows('_all_books', this.pageSize.allBooks)) yield allBooksRecordFromRow(row);
  }

  async listConverted(format: ListingFormat = this.formats.converted): Promise<ConvertedEntry[]> {
    const out: ConvertedEntry[] = [];
    if (format === 'html') {
      for await (const row of this.htmlRows('_converted', this.pageSize.converted)) {
        const filename = row.texts.filename ?? `${row.barcode}.tar.gz.gpg`;
        out.push({ barcode: row.barcode, filename });
      }
      return out;
    }
    const parse = format === 'text-all' ? parseConvertedModeAllLine : parseConvertedLine;
    for await (const line of this.textLines('_converted', format === 'text-all' ? { mode: 'all' } : {})) {
      const entry = parse(line, this.directory);
      if (entry) out.push(entry);
    }
    return out;
  }

  async listInProcess(format: 'text' | 'html' = this.formats.inProcess): Promise<string[]> {
    if (format === 'html') {
      const out: string[] = [];
      for await (const row of this.htmlRows('_in_process', -1)) out.push(row.barcode);
      return out;
    }
    return this.collectBarcodes('_in_process');
  }

  /** Barcodes GRIN would convert (`_available?format=text`). */
  async listAvailable(): Promise<string[]> {
    return this.collectBarcodes('_available');
  }

  async listFailed(format: ListingFormat = this.formats.failed): Promise<FailedEntry[]> {
    const out: FailedEntry[] = [];
    if (format === 'html') {
      for await (const row of this.htmlRows('_failed', -1)) {
        const t = row.texts;
        const entry: FailedEntry = { barcode: row.barcode };
        if (t.convert_failed_date) entry.failedDate = t.convert_failed_date;
        if (t.convert_failed_info) entry.info = t.convert_failed_info;
        const detailed = t.detailed_convert_failed_info ?? t.detailed_conversion_info;
        if (detailed) entry.detailedInfo = detailed;
        out.push(entry);
      }
      return out;
    }
    for await (const line of this.textLines('_failed', format === 'text-all' ? { mode: 'all' } : {})) {
      const entry = format === 'text-all' ? parseFailedModeAllLine(line) : barcodeEntry(parseBarcodeLine(line, this.directory));
      if (entry) out.push(entry);
    }
    return out;
  }

  private async collectBarcodes(resource: string): Promise<string[]> {
    const out: string[] = [];
    for await (const line of this.textLines(resource)) {
      const barcode = parseBarcodeLine(line, this.directory);
      if (barcode) out.push(barcode);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Listings: HTML pages

  /**
   * Rows of an HTML listing, following "Next" links (`first=` or `ctoken=`) until there is none, a
   * page has no rows, or GRIN answers "Your request is unavailable". `pageSize` -1 asks for one page.
   * The first page must be a real listing (else an error, never an empty result).
   */
  async *htmlRows(resource: string, pageSize: number, params: Record<string, string | number> = {}): AsyncGenerator<HtmlListingRow> {
    const ctx = this.ctx('GET', resource);
    let url: string | null = this.resourceUrl(resource, { ...params, result_count: pageSize });
    const visited = new Set<string>();
    for (let pageNo = 1; url && pageNo <= MAX_HTML_PAGES; pageNo++) {
      visited.add(url);
      const pageUrl: string = url;
      const page = await this.withListingSlot(() =>
        attempt(ctx, async () => {
          const res = await this.okResponse({ method: 'GET', url: pageUrl, ctx }, 'retry');
          const parsed = parseHtmlPage(await readBodyText(res, ctx), this.directory, { ...ctx, status: 200 }, pageNo);
          if (pageNo === 1 && parsed.unavailable && parsed.rows.length === 0) {
            throw new GrinFormatError({ ...ctx, status: 200 }, `GRIN answered "${REQUEST_UNAVAILABLE_TEXT}"`, true);
          }
          if (pageNo === 1 && !parsed.hasTable) {
            throw new GrinFormatError({ ...ctx, status: 200 }, 'the page has no listing table (no row with class "heading")', true);
          }
          return parsed;
        }),
      );
      if (page.unavailable) {
        this.logger?.warn(`${ctx.endpoint}: page ${pageNo} says "${REQUEST_UNAVAILABLE_TEXT}"; stopping the listing there`);
        for (const row of page.rows) yield row;
        return;
      }
      for (const row of page.rows) yield row;
      if (page.rows.length === 0 || !page.nextHref) return;
      const next = resolveNextUrl(page.nextHref, pageUrl, this.baseUrl);
      if (!next) throw new GrinFormatError(ctx, `the "Next" link points outside ${this.baseUrl}; not following it`);
      if (visited.has(next)) {
        this.logger?.warn(`${ctx.endpoint}: the "Next" link of page ${pageNo} points to a page already read; stopping`);
        return;
      }
      url = next;
    }
  }

  private withListingSlot<T>(fn: () => Promise<T>): Promise<T> {
    return this.listingSlots(fn);
  }

  /** A listing slot held across a streamed listing's yields; resolves to the function that frees it. */
  private listingSlot(): Promise<() => void> {
    return new Promise((granted) => {
      void this.listingSlots(() => new Promise<void>((free) => granted(() => free())));
    });
  }

  // -------------------------------------------------------------------------------------------
  // _process

  /**
   * Asks GRIN to convert `barcodes` (GET `_process?barcodes=A,B,C`, batches of `processBatchSize`).
   * Every barcode gets an outcome; one missing from GRIN's answer is `unknown`. HTTP 429 (queue full)
   * throws QueueFullError at once, carrying the outcomes of the batches already accepted.
   */
  async requestConversion(barcodes: string[]): Promise<Map<string, ConversionOutcome>> {
    const unique = [...new Set(barcodes)];
    unique.forEach(assertBarcode);
    const results = new Map<string, ConversionOutcome>();
    for (let i = 0; i < unique.length; i += this.processBatchSize) {
      const batch = unique.slice(i, i + this.processBatchSize);
      const ctx = this.ctx('GET', '_process', batch.length === 1 ? batch[0] : undefined);
      const url = this.resourceUrl('_process', { barcodes: batch.join(',') });
      const answer = await attempt(ctx, async () => {
        const res = await this.http.send({ method: 'GET', url, ctx });
        if (res.statusCode === 429) {
          const ra = Number(headerValue(res.headers, 'retry-after'));
          const accepted = await acceptedBeforeQueueFull(res, ctx);
          for (const [barcode, outcome] of accepted) results.set(barcode, outcome);
          const notSubmitted = unique.slice(i).filter((b) => !accepted.has(b));
          throw new QueueFullError({ ...ctx, status: 429 }, results, notSubmitted, Number.isFinite(ra) && ra > 0 ? ra : undefined);
        }
        if (res.statusCode !== 200) {
          await res.body.dump();
          throw statusError(ctx, res.statusCode);
        }
        const body = await readBodyText(res, ctx);
        try {
          return parseProcessResponse(body);
        } catch (err) {
          throw new GrinFormatError({ ...ctx, status: 200 }, `cannot read the answer: ${(err as Error).message}`, true);
        }
      });
      const byLower = new Map([...answer].map(([b, o]) => [b.toLowerCase(), o]));
      for (const barcode of batch) {
        results.set(
          barcode,
          answer.get(barcode) ??
            byLower.get(barcode.toLowerCase()) ?? { kind: 'unknown', text: '(GRIN returned no status for this barcode)' },
        );
      }
    }
    return results;
  }

  // -------------------------------------------------------------------------------------------
  // Archives

  private archiveUrl(filename: string): string {
    if (!/^[^/\\?#]+$/.test(filename) || filename.startsWith('_') || filename === '.' || filename === '..') {
      throw new GrinUsageError(`archive file name ${JSON.stringify(filename)} is not valid: give the name as listed in _converted`);
    }
    return `${this.baseUrl}/${this.directory}/${encodeURIComponent(filename)}`;
  }

  /** HEAD of an archive: its ETag (quotes stripped) and size, or null when it is not in the pool (404). */
  async headArchive(filename: string): Promise<ArchiveHead | null> {
    const url = this.archiveUrl(filename);
    const ctx = this.ctx('HEAD', filename, barcodeFromFilename(filename, this.directory));
    return attempt(ctx, async () => {
      const res = await this.http.send({ method: 'HEAD', url, ctx });
      await res.body.dump();
      if (res.statusCode === 404) return null;
      if (res.statusCode !== 200) throw statusError(ctx, res.statusCode);
      const etag = stripEtag(headerValue(res.headers, 'etag'));
      if (!etag) throw new GrinHttpError({ ...ctx, status: 200 }, 'no ETag header in the answer', { retryable: true });
      const size = Number(headerValue(res.headers, 'content-length'));
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new GrinHttpError({ ...ctx, status: 200 }, 'no valid Content-Length header in the answer', { retryable: true });
      }
      return { etag, size };
    });
  }

  /**
   * Streams an archive into `destPath`. When the file already holds bytes and the ETag is known
   * (`expectEtag`, or learnt by an earlier request of this call), asks for the rest with
   * `Range` + `If-Range` and appends on 206; a 200 (the archive changed) starts over. Each resume
   * (and the caller's next attempt) starts from the bytes on disk. Requires an ETag; checks the
   * final size against Content-Length / Content-Range. No total time limit, but a body idle longer
   * than the request timeout, or slower than the transfer-rate floor (`minDownloadRate`), is cut and
   * resumed.
   */
  async downloadArchive(
    filename: string,
    destPath: string,
    opts: { expectEtag?: string; onProgress?: (p: DownloadProgress) => void; signal?: AbortSignal } = {},
  ): Promise<DownloadResult> {
    const url = this.archiveUrl(filename);
    const barcode = barcodeFromFilename(filename, this.directory);
    const ctx = this.ctx('GET', filename, barcode);
    let knownEtag = opts.expectEtag ? stripEtag(opts.expectEtag) : undefined;
    await fs.mkdir(path.dirname(destPath), { recursive: true, mode: PRIVATE_DIR_MODE });

    return this.resuming(
      ctx,
      destPath,
      () => knownEtag !== undefined,
      opts.signal,
      async () => {
        const onDisk = await fileSize(destPath);
        const headers: Record<string, string> = {};
        const ranged = onDisk > 0 && knownEtag !== undefined;
        if (ranged) {
          headers.range = `bytes=${onDisk}-`;
          headers['if-range'] = `"${knownEtag}"`;
        }
        const res = await this.http.send({ method: 'GET', url, ctx, headers, signal: opts.signal });
        let consumed = false;
        try {
          const status = res.statusCode;
          if (status === 404) throw new ArchiveNotFoundError({ ...ctx, status }, filename);
          const etag = stripEtag(headerValue(res.headers, 'etag'));
          if (status === 416 && ranged) {
            // Our range starts at the end: the file may already be complete.
            const total = parseContentRange(headerValue(res.headers, 'content-range'))?.total;
            if (total === onDisk && (!etag || etag === knownEtag)) {
              return { etag: knownEtag!, size: onDisk, resumed: true };
            }
            await fs.truncate(destPath, 0);
            throw new GrinHttpError({ ...ctx, status }, 'the partial file does not fit the archive; starting over', { retryable: true });
          }
          if (status !== 200 && status !== 206) throw statusError(ctx, status);
          if (!etag) throw new GrinHttpError({ ...ctx, status }, 'no ETag header in the answer', { retryable: true });

          let start = 0;
          let total: number | undefined;
          if (status === 206) {
            const range = parseContentRange(headerValue(res.headers, 'content-range'));
            if (!ranged || !range || range.start !== onDisk || etag !== knownEtag) {
              await fs.truncate(destPath, 0).catch(() => undefined);
              throw new GrinHttpError({ ...ctx, status }, 'unexpected partial answer; starting over', { retryable: true });
            }
            start = range.start;
            total = range.total ?? lengthHeader(res) ?? undefined;
            if (range.total === undefined && total !== undefined) total += start;
          } else {
            total = lengthHeader(res);
          }
          knownEtag = etag;

          let bytes = start;
          let lastReported = start;
          const file = createWriteStream(destPath, { flags: start > 0 ? 'a' : 'w', mode: PRIVATE_FILE_MODE });
          // Progress reports what is on disk, not what arrived: a resume after a crash starts from the
          // file's size, so a heartbeat must never claim bytes still sitting in a write buffer. A report
          // goes out once the disk is a step past the last one (the write buffer's lag varies).
          const report = () => {
            const onDisk = start + file.bytesWritten;
            if (onDisk - lastReported < PROGRESS_STEP_BYTES) return;
            lastReported = onDisk;
            opts.onProgress?.({ bytes: onDisk, etag });
          };
          const counter = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              bytes += chunk.length;
              if (bytes - lastReported >= PROGRESS_STEP_BYTES) report();
              cb(null, chunk);
            },
          });
          consumed = true;
          // A body that fails (cut, stalled, aborted) ends the file normally instead of destroying it,
          // so every byte that arrived is written and a resume starts after it.
          let bodyError: unknown;
          // A body slower than the floor (a trickle keeps the idle timeout from ever firing) is cut
          // like a stalled one; the bytes that came are kept and the resume asks for the rest.
          const floor = this.minDownloadRate;
          let arrived = 0;
          let arrivedAtLastCheck = 0;
          const rateCheck =
            floor.bytes > 0
              ? setInterval(() => {
                  const received = arrived - arrivedAtLastCheck;
                  arrivedAtLastCheck = arrived;
                  // Our own disk holding the body back is not GRIN being slow.
                  if (file.writableNeedDrain || counter.writableNeedDrain) return;
                  if (received < floor.bytes) res.body.destroy(new SlowTransferError({ ...ctx, status }, received, floor));
                }, floor.windowMs)
              : undefined;
          rateCheck?.unref();
          const upToTheFailure = async function* (body: AsyncIterable<Buffer>) {
            try {
              for await (const chunk of body) {
                arrived += chunk.length;
                yield chunk;
              }
            } catch (err) {
              bodyError = err;
            }
          };
          try {
            await pipeline(upToTheFailure(res.body), counter, file);
          } catch (err) {
            // Let writes already handed to the file land before anyone (a retry) touches it again.
            if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
            throw err;
          } finally {
            clearInterval(rateCheck);
          }
          if (bodyError !== undefined) throw bodyError;
          const size = await fileSize(destPath);
          if (total !== undefined && size !== total) {
            if (size > total) await fs.truncate(destPath, 0);
            throw new GrinHttpError({ ...ctx, status }, `body cut short: ${size} of ${total} bytes on disk`, { retryable: true });
          }
          if (lastReported !== size) opts.onProgress?.({ bytes: size, etag });
          return { etag, size, resumed: status === 206 };
        } finally {
          if (!consumed) await res.body.dump().catch(() => undefined);
        }
      },
    );
  }

  /**
   * Runs a download try until it succeeds. A transient failure after new bytes reached the disk
   * (a cut or stalled body) resumes at once with Range: that is the transfer going on, not a retry,
   * and the one request it costs was admitted already. Any other failure ends the call, leaving what
   * is on disk for the caller's next attempt (the activity's retry) to resume from.
   */
  private async resuming<T>(
    ctx: GrinErrorContext,
    destPath: string,
    canResume: () => boolean,
    signal: AbortSignal | undefined,
    once: () => Promise<T>,
  ): Promise<T> {
    for (let resumes = 0; ; resumes++) {
      const before = await fileSize(destPath);
      try {
        return await once();
      } catch (err) {
        if (signal?.aborted || !isTransientError(err)) throw asGrinError(err, ctx);
        const progressed = canResume() && (await fileSize(destPath)) > before;
        if (!progressed || resumes >= MAX_RESUMES_PER_CALL) throw asGrinError(err, ctx);
        this.logger?.warn(`${ctx.endpoint}: ${(err as Error).message}; resuming from the bytes on disk`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // _barcode_search

  /**
   * `_barcode_search` metadata for `barcodes`, packed into as few URLs of at most
   * `maxSearchUrlLength` characters as possible. Rows are keyed by GRIN's header names; barcodes
   * GRIN does not know are simply absent from the result.
   */
  async barcodeSearch(barcodes: string[]): Promise<Map<string, Record<string, string>>> {
    const unique = [...new Set(barcodes)];
    unique.forEach(assertBarcode);
    const prefix = this.resourceUrl('_barcode_search', { execute_query: 'true', format: 'text', mode: 'full' }) + '&barcodes=';
    const out = new Map<string, Record<string, string>>();
    for (const batch of packBarcodesIntoUrls(prefix, unique, this.maxSearchUrlLength)) {
      const ctx = this.ctx('GET', '_barcode_search', batch.length === 1 ? batch[0] : undefined);
      const url = prefix + batch.map(encodeURIComponent).join('%20');
      const text = await attempt(ctx, async () => {
        const res = await this.okResponse({ method: 'GET', url, ctx }, 'retry');
        const body = await readBodyText(res, ctx);
        if (looksLikeHtml(body.slice(0, 200))) {
          throw new GrinFormatError({ ...ctx, status: 200 }, 'expected a TSV but got an HTML page', true);
        }
        return body;
      });
      const table = parseTsvWithHeader(text);
      const key = findHeader(table.header, 'Barcode') ?? table.header[0];
      if (!key) continue;
      for (const row of table.rows) {
        const barcode = row[key];
        if (barcode) out.set(barcode, row);
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Sends a request and returns a 2xx response; any other status is turned into an error after the
   * body is drained. `notFound: 'retry'` makes a 404 a transient error (listings: BDRC saw
   * transient 404s); archives handle 404 themselves.
   */
  private async okResponse(req: Parameters<GrinHttp['send']>[0], notFound: 'retry' | 'fail'): Promise<GrinResponse> {
    const res = await this.http.send(req);
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    await res.body.dump();
    if (res.statusCode === 404) {
      throw new GrinHttpError({ ...req.ctx, status: 404 }, 'not found', { retryable: notFound === 'retry' });
    }
    throw statusError(req.ctx, res.statusCode);
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * One try of a request: whatever it throws leaves as a GRIN error naming `ctx` (a network-level
 * fault wrapped, ours as it is). No retry here: that is the caller's (see the module comment).
 */
async function attempt<T>(ctx: GrinErrorContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asGrinError(err, ctx);
  }
}

function assertBarcode(barcode: string): void {
  if (!isValidBarcode(barcode)) {
    throw new GrinUsageError(`barcode ${JSON.stringify(barcode)} is not valid: a GRIN barcode is ${BARCODE_RULE}`);
  }
}

/**
 * A 429 answer may still list per-barcode statuses (some accepted before the queue filled). Those
 * with a recognised status are kept; the body is optional and any unreadable one is ignored.
 */
async function acceptedBeforeQueueFull(res: GrinResponse, ctx: GrinErrorContext): Promise<Map<string, ConversionOutcome>> {
  const accepted = new Map<string, ConversionOutcome>();
  try {
    for (const [barcode, outcome] of parseProcessResponse(await readBodyText(res, ctx))) {
      if (outcome.kind !== 'unknown') accepted.set(barcode, outcome);
    }
  } catch {
    await res.body.dump().catch(() => undefined);
  }
  return accepted;
}

/** One HTML listing page parsed; a page the parser refuses is an error naming the listing and the page. */
function parseHtmlPage(html: string, directory: string, ctx: GrinErrorContext, pageNo: number): HtmlListingPage {
  try {
    return parseListingPage(html, directory);
  } catch (err) {
    if (err instanceof HtmlTooDeepError) {
      throw new GrinFormatError(ctx, `page ${pageNo} of the listing was refused: ${err.message}`, err.retryable);
    }
    throw err;
  }
}

function barcodeEntry(barcode: string | null): FailedEntry | null {
  return barcode ? { barcode } : null;
}

function stripEtag(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const v = raw
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  return v === '' ? undefined : v;
}

function lengthHeader(res: GrinResponse): number | undefined {
  const v = headerValue(res.headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** `bytes S-E/T`, `bytes S-E/*` or `bytes *\/T`. */
export function parseContentRange(value: string | undefined): { start?: number; end?: number; total?: number } | null {
  if (!value) return null;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return null;
  return {
    start: m[1] !== undefined ? Number(m[1]) : undefined,
    end: m[2] !== undefined ? Number(m[2]) : undefined,
    total: m[3] !== '*' ? Number(m[3]) : undefined,
  };
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** `_all_books` HTML row → record, by substring of the normalised header, first match wins (§2.12 rule 6). */
function allBooksRecordFromRow(row: HtmlListingRow): AllBooksRecord {
  const record: AllBooksRecord = { barcode: row.barcode };
  const rules: [RegExp, Exclude<keyof AllBooksRecord, 'extra' | 'barcode'>][] = [
    [/title/, 'title'],
    [/scanned/, 'scannedDate'],
    [/converted/, 'convertedDate'],
    [/downloaded/, 'downloadedDate'],
    [/processed/, 'processedDate'],
    [/analyzed/, 'analyzedDate'],
    [/ocr/, 'ocrdDate'],
    [/google|books/, 'googleBooksLink'],
    [/state|status/, 'state'],
  ];
  for (const [key, value] of Object.entries(row.values)) {
    if (key === 'barcode' || value === '') continue;
    const rule = rules.find(([re]) => re.test(key));
    if (rule && rule[1] === 'googleBooksLink' && !value.includes('http')) continue;
    if (rule) {
      if (record[rule[1]] === undefined) record[rule[1]] = rule[1] === 'title' || rule[1] === 'state' ? (row.texts[key] ?? value) : value;
    } else {
      record.extra ??= {};
      record.extra[key] = value;
    }
  }
  return record;
}
