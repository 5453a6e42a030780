/**
 * The simulated GRIN's HTTP surface: `/libraries/<DIR>/...` (listings, `_process`,
 * `_barcode_search`, archives) behind bearer-token checks, and Google's token endpoint at
 * `/token`. Faults are applied here, where a request is answered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArchiveStore } from './archives';
import type { SimClock } from './clock';
import type { FaultInjector, FaultName } from './faults';
import { HTML, TEXT, RequestTooLarge, parseRange, readBody, sendChunks, sendText, streamFileRange } from './http-io';
import {
  BadListingRequest,
  LISTING_NAMES,
  archiveFilename,
  barcodesFromQuery,
  escapeHtml,
  renderBarcodeSearch,
  renderHtmlListing,
  renderSummary,
  renderTextListing,
  requestUnavailablePage,
  deeplyNestedPage,
  type ListingName,
  type ListingStyle,
} from './listings';
import { TokenAuthority } from './oauth';
import type { RequestLog, RequestLogEntry } from './request-log';
import type { Library } from './state';

export interface GrinContext {
  directory: string;
  forbiddenDirectories: readonly string[];
  style: ListingStyle;
  library: Library;
  archives: ArchiveStore;
  faults: FaultInjector;
  tokens: TokenAuthority;
  clock: SimClock;
  log: RequestLog;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const ARCHIVE_SUFFIX = '.tar.gz.gpg';
const DEFAULT_SLOW_BYTES_PER_SECOND = 64 * 1024;

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  entry: RequestLogEntry;
  headOnly: boolean;
}

function loginRedirect(call: Call): void {
  const original = `http://${call.req.headers.host ?? 'localhost'}${call.req.url ?? '/'}`;
  const location = `https://accounts.google.com/ServiceLogin?service=print&continue=${encodeURIComponent(original)}`;
  sendText(call.res, 302, HTML, `<html><body>Moved Temporarily. <a href="${escapeHtml(location)}">Sign in</a></body></html>\n`, {
    Location: location,
  });
}

function forbidden(call: Call, directory: string): void {
  sendText(
    call.res,
    403,
    HTML,
    `<html><body><h1>403 Forbidden</h1><p>This account may not access the library directory ${escapeHtml(directory)}.</p></body></html>\n`,
  );
}

function notFound(call: Call, what: string): void {
  sendText(call.res, 404, HTML, `<html><body><h1>404 Not Found</h1><p>${escapeHtml(what)}</p></body></html>\n`);
}

function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** Barcodes of a `_process` call: query parameters plus a form or plain body (comma, space or newline separated). */
function processBarcodes(query: URLSearchParams, body: string, contentType: string): string[] {
  const fromQuery = barcodesFromQuery(query);
  if (!body.trim()) return fromQuery;
  const looksLikeForm = contentType.includes('application/x-www-form-urlencoded') || /^[\w.-]+=/.test(body);
  const fromBody = looksLikeForm ? barcodesFromQuery(new URLSearchParams(body)) : body.split(/[\s,]+/).filter(Boolean);
  return [...fromQuery, ...fromBody];
}

export function createRequestHandler(ctx: GrinContext): (req: IncomingMessage, res: ServerResponse) => void {
  const fault = (call: Call, name: FaultName, barcodes?: readonly string[]): boolean => {
    if (!ctx.faults.fires(name, barcodes)) return false;
    call.entry.fault = name;
    return true;
  };

  async function handle(call: Call): Promise<void> {
    const { req, url } = call;
    if (url.pathname === '/token') return tokenEndpoint(call);
    const match = /^\/libraries\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    if (!match) return notFound(call, 'GRIN serves /libraries/<DIRECTORY>/...');
    const directory = decodeURIComponent(match[1]);
    const resource = decodeURIComponent(match[2] ?? '');
    const method = req.method ?? 'GET';
    if (!['GET', 'HEAD', 'POST'].includes(method)) {
      return sendText(call.res, 405, TEXT, `method ${method} is not supported\n`, { Allow: 'GET, HEAD, POST' });
    }
    const body = method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : '';
    const isArchive = resource.endsWith(ARCHIVE_SUFFIX);
    const barcodes = isArchive
      ? [barcodeOfFilename(resource) ?? '']
      : resource === '_process'
        ? processBarcodes(url.searchParams, body, req.headers['content-type'] ?? '')
        : resource === '_barcode_search'
          ? barcodesFromQuery(url.searchParams)
          : [];
    if (isArchive) call.entry.barcode = barcodes[0] || undefined;
    else if (barcodes.length) call.entry.barcodes = barcodes;

    // GRIN behind some proxies closes every connection after its answer.
    if (fault(call, 'connectionClose', barcodes)) call.res.setHeader('Connection', 'close');
    if (fault(call, 'loginRedirect', barcodes)) return loginRedirect(call);
    const token = bearerToken(req);
    // A revoked grant takes the access tokens issued under it along (static tokens are not OAuth's).
    if (ctx.tokens.isIssued(token) && fault(call, 'revokedCredentials')) return loginRedirect(call);
    const verdict = ctx.tokens.check(token);
    if (verdict === 'invalid') return loginRedirect(call);
    if (verdict === 'forbidden' || directory !== ctx.directory || ctx.forbiddenDirectories.includes(directory))
      return forbidden(call, directory);
    if (fault(call, 'serverError', barcodes)) {
      return sendText(
        call.res,
        ctx.faults.serverErrorStatus,
        HTML,
        '<html><body><h1>Server Error</h1><p>The server encountered a temporary error.</p></body></html>\n',
      );
    }

    ctx.library.tick(ctx.clock.now());
    if (resource === '') return summary(call);
    if ((LISTING_NAMES as readonly string[]).includes(resource)) return listing(call, resource as ListingName);
    if (resource === '_process') return processRequest(call, barcodes);
    if (resource === '_barcode_search') {
      const text = url.searchParams.get('format') === 'text';
      return sendText(call.res, 200, text ? TEXT : HTML, renderBarcodeSearch(ctx.library, url.searchParams, ctx.style));
    }
    if (isArchive) return archive(call, resource, barcodes[0]);
    return notFound(call, `no resource ${resource} in ${directory}`);
  }

  function summary(call: Call): void {
    const text = call.url.searchParams.get('format') === 'text';
    sendText(call.res, 200, text ? TEXT : HTML, renderSummary(ctx.library, ctx.style, text ? 'text' : 'html'));
  }

  async function listing(call: Call, name: ListingName): Promise<void> {
    const query = call.url.searchParams;
    const text = query.get('format') === 'text';
    if (!text && fault(call, 'requestUnavailable')) return sendText(call.res, 200, HTML, requestUnavailablePage());
    if (!text && fault(call, 'deepHtml')) return sendText(call.res, 200, HTML, deeplyNestedPage(name, ctx.faults.deepHtmlLevels));
    const chunks = text ? renderTextListing(name, ctx.library, query, ctx.style) : renderHtmlListing(name, ctx.library, query, ctx.style);
    await sendChunks(call.res, 200, text ? TEXT : HTML, chunks, call.headOnly);
  }

  function processRequest(call: Call, barcodes: string[]): void {
    if (barcodes.length === 0)
      return sendText(call.res, 400, TEXT, 'No barcodes given: pass barcodes=B1,B2 (or repeated barcodes=, or a newline-separated body)\n');
    const result = ctx.library.requestConversion(barcodes, ctx.clock.now());
    const status = result.queueFull ? 429 : 200;
    if (call.url.searchParams.get('process_format') === 'html') {
      const rows = result.statuses
        .map((s) => `<tr><td>${escapeHtml(s.barcode)}</td><td><div><pre>${escapeHtml(s.status)}</pre></div></td></tr>`)
        .join('\n');
      return sendText(call.res, status, HTML, `<html><body><div id="Main"><table>\n${rows}\n</table></div></body></html>\n`);
    }
    const lines = ['Barcode\tStatus', ...result.statuses.map((s) => `${s.barcode}\t${s.status}`)];
    sendText(call.res, status, TEXT, lines.join('\n') + '\n');
  }

  /** The barcode a file name stands for, if it is written the way `_converted` lists it. */
  function barcodeOfFilename(filename: string): string | undefined {
    const stem = filename.slice(0, -ARCHIVE_SUFFIX.length);
    const barcode = ctx.style.filenamePrefix
      ? stem.startsWith(`${ctx.directory}_`)
        ? stem.slice(ctx.directory.length + 1)
        : undefined
      : stem;
    return barcode && archiveFilename(ctx.style, barcode) === filename ? barcode : undefined;
  }

  async function archive(call: Call, filename: string, barcode: string): Promise<void> {
    const { req, res } = call;
    const book = barcode ? ctx.library.get(barcode) : undefined;
    if (!book) return notFound(call, `${filename} does not exist`);
    if (fault(call, 'rateLimitArchive', [barcode]))
      return sendText(res, 429, HTML, '<html><body><h1>429 Too Many Requests</h1></body></html>\n');
    if (fault(call, 'transient404', [barcode]) || !book.inPool) return notFound(call, `${filename} is not available for download`);
    const info = await ctx.archives.get(book);
    if (!book.inPool || book.conversions !== info.conversion) return notFound(call, `${filename} is not available for download`);

    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' };
    if (!fault(call, 'missingEtag', [barcode])) headers.ETag = `"${info.etag}"`;
    const ifRangeHeader = req.headers['if-range'];
    const ifRange = Array.isArray(ifRangeHeader) ? ifRangeHeader[0] : ifRangeHeader;
    const rangeApplies = !ifRange || ifRange.replace(/^W\//, '').replace(/"/g, '') === info.etag;
    const range = rangeApplies ? parseRange(req.headers.range, info.size) : null;
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${info.size}`, 'Content-Length': '0' });
      res.end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? info.size - 1;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${info.size}`;
    headers['Content-Length'] = String(end - start + 1);
    res.writeHead(range ? 206 : 200, headers);
    if (call.headOnly) {
      res.end();
      return;
    }

    const truncate = fault(call, 'truncateBody', [barcode]);
    const slowConfigured = ctx.faults.has('slowBody');
    const slow = slowConfigured ? fault(call, 'slowBody', [barcode]) : ctx.faults.slowBodyBytesPerSecond !== undefined;
    const outcome = await streamFileRange(res, info.path, start, end, {
      bytesPerSecond: slow ? (ctx.faults.slowBodyBytesPerSecond ?? DEFAULT_SLOW_BYTES_PER_SECOND) : undefined,
      stopAfter: truncate ? Math.floor((end - start + 1) * ctx.faults.truncateBodyFraction) : undefined,
      // The whole package reached the client: GRIN's state column says so from now on.
      beforeLastChunk: end === info.size - 1 ? () => ctx.library.markDownloaded(barcode, ctx.clock.now()) : undefined,
    });
    if (outcome === 'stopped') {
      // The declared Content-Length is never reached. The part sent leaves first: destroying at once
      // would drop bytes still in the socket's buffer, and the client would see a cut at byte 0.
      const socket = req.socket;
      socket.end(() => socket.destroy());
    }
  }

  async function tokenEndpoint(call: Call): Promise<void> {
    if (call.req.method !== 'POST') return sendText(call.res, 405, TEXT, 'the token endpoint takes POST\n', { Allow: 'POST' });
    const form = new URLSearchParams(await readBody(call.req, MAX_BODY_BYTES));
    const answer = fault(call, 'revokedCredentials') ? TokenAuthority.revoked() : ctx.tokens.exchange(form, call.req.headers.authorization);
    sendText(call.res, answer.status, 'application/json; charset=utf-8', JSON.stringify(answer.body), { 'Cache-Control': 'no-store' });
  }

  return (req, res) => {
    const entry = ctx.log.track(req, res, ctx.clock.now());
    const call: Call = { req, res, url: new URL(req.url ?? '/', 'http://simulator.invalid'), entry, headOnly: req.method === 'HEAD' };
    handle(call).catch((error: unknown) => {
      const status = error instanceof BadListingRequest ? 400 : error instanceof RequestTooLarge ? 413 : 500;
      const message = error instanceof Error ? error.message : String(error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendText(res, status, TEXT, `${status === 500 ? 'simulator error: ' : ''}${message}\n`);
    });
  };
}
