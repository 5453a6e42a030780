/**
 * GRIN's listing resources (`_all_books`, `_converted`, `_in_process`, `_available`, `_failed`),
 * the directory summary and `_barcode_search`, rendered as text, `mode=all` TSV or paged HTML
 * (PROTOCOL §2.2-2.7, §2.9, §2.12). Renderers yield string chunks so large listings stream.
 */
import { formatGrinDate } from './clock';
import { BOOK_STATES, type SimBook } from './inventory';
import type { Library } from './state';

export const LISTING_NAMES = ['_all_books', '_converted', '_in_process', '_available', '_failed'] as const;
export type ListingName = (typeof LISTING_NAMES)[number];

export interface ListingStyle {
  directory: string;
  /** List converted files as `<DIR>_<BARCODE>.tar.gz.gpg`. */
  filenamePrefix: boolean;
  /** Column order of `_all_books?format=text&mode=all` (PROTOCOL §2.3 records two). */
  allBooksTextLayout: 'pul7' | 'gt9';
  /** HTML page size when a request gives no `result_count`. */
  htmlPageSize: number;
  /** How "Next" links continue: `first=` offsets or opaque `ctoken=` tokens. */
  htmlPaging: 'first' | 'ctoken';
  /** "Next" hrefs relative to the directory (`_all_books?...`) or absolute paths (`/libraries/DIR/...`). */
  nextHref: 'relative' | 'absolute-path';
}

/** A request the client got wrong (answered with 400 and this message). */
export class BadListingRequest extends Error {}

interface Column {
  label: string;
  value(book: SimBook): string;
  /** HTML cell content when it is not just the escaped value. */
  html?(book: SimBook): string;
}

const ROWS_PER_CHUNK = 500;

export function archiveFilename(style: ListingStyle, barcode: string): string {
  return `${style.filenamePrefix ? `${style.directory}_` : ''}${barcode}.tar.gz.gpg`;
}

function tsvField(text: string): string {
  return text.replace(/[\t\r\n]+/g, ' ');
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const googleBooksUrl = (b: SimBook) => `https://books.google.com/books?id=${b.googleBooksId}`;
const date = (label: string, pick: (b: SimBook) => number | undefined): Column => ({ label, value: (b) => formatGrinDate(pick(b)) });
const COL = {
  barcode: { label: 'Barcode', value: (b: SimBook) => b.barcode },
  title: { label: 'Title', value: (b: SimBook) => b.title },
  status: { label: 'Status', value: (b: SimBook) => b.state },
  scanned: date('Scanned Date', (b) => b.scannedDate),
  analyzed: date('Analyzed Date', (b) => b.analyzedDate),
  converted: date('Converted Date', (b) => b.convertedDate),
  downloaded: date('Downloaded Date', (b) => b.downloadedDate),
  processed: date('Processed Date', (b) => b.processedDate),
  ocrd: date("OCR'd Date", (b) => b.ocrdDate),
  failedDate: date('Convert Failed Date', (b) => b.failure?.date),
  failedInfo: { label: 'Convert Failed Info', value: (b: SimBook) => b.failure?.info ?? '' },
  failedDetail: { label: 'Detailed Convert Failed Info', value: (b: SimBook) => b.failure?.detailedInfo ?? '' },
  link: {
    label: 'Google Books',
    value: googleBooksUrl,
    html: (b: SimBook) => `<a href="${escapeHtml(googleBooksUrl(b))}">Google Books</a>`,
  },
  unknown: { label: '', value: () => '' },
} satisfies Record<string, Column>;

interface ListingSpec {
  rows(library: Library, query: URLSearchParams): Iterable<SimBook>;
  /** `format=text` line. */
  plain(book: SimBook): string;
  modeAll: Column[];
  html: Column[];
}

function specFor(name: ListingName, style: ListingStyle): ListingSpec {
  const filename: Column = { label: 'Filename', value: (b) => archiveFilename(style, b.barcode) };
  const byBarcode = (b: SimBook) => b.barcode;
  switch (name) {
    case '_all_books':
      return {
        rows: (library, query) => scanDateFilter(library.all(), query),
        plain: byBarcode,
        modeAll:
          style.allBooksTextLayout === 'gt9'
            ? [COL.barcode, COL.scanned, COL.converted, COL.downloaded, COL.processed, COL.analyzed, COL.unknown, COL.ocrd, COL.link]
            : [COL.barcode, COL.scanned, COL.processed, COL.analyzed, COL.converted, COL.ocrd, COL.link],
        html: [
          COL.barcode,
          COL.title,
          COL.status,
          COL.scanned,
          COL.analyzed,
          COL.converted,
          COL.downloaded,
          COL.processed,
          COL.ocrd,
          COL.link,
        ],
      };
    case '_converted':
      return {
        rows: (library) => library.converted(),
        plain: (b) => archiveFilename(style, b.barcode),
        modeAll: [filename, COL.scanned, COL.converted, COL.downloaded, COL.link],
        html: [filename, COL.title, COL.scanned, COL.converted, COL.downloaded, COL.link],
      };
    case '_in_process':
    case '_available':
      return {
        rows: (library) => (name === '_in_process' ? library.inProcess() : library.available()),
        plain: byBarcode,
        modeAll: [COL.barcode, COL.scanned, COL.processed, COL.analyzed, COL.ocrd, COL.link],
        html: [COL.barcode, COL.title, COL.scanned, COL.processed, COL.analyzed, COL.ocrd, COL.link],
      };
    case '_failed':
      return {
        rows: (library) => library.failed(),
        plain: byBarcode,
        modeAll: [
          COL.barcode,
          COL.scanned,
          COL.processed,
          COL.analyzed,
          COL.failedDate,
          COL.failedInfo,
          COL.ocrd,
          COL.failedDetail,
          COL.link,
        ],
        html: [
          COL.barcode,
          COL.title,
          COL.scanned,
          COL.processed,
          COL.analyzed,
          COL.failedDate,
          COL.failedInfo,
          COL.ocrd,
          COL.failedDetail,
          COL.link,
        ],
      };
  }
}

/** NYPL's query form: `execute_query=true&last_scan_date_start=YYYY-MM-DD&last_scan_date_end=YYYY-MM-DD` (end exclusive). */
function scanDateFilter(books: Iterable<SimBook>, query: URLSearchParams): Iterable<SimBook> {
  // Parameters are checked here, before any output, so a bad one is a 400 rather than a cut-off page.
  const parse = (key: string) => {
    const text = query.get(key);
    if (!text) return undefined;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) throw new BadListingRequest(`${key} must be a date YYYY-MM-DD, got "${text}"`);
    return Date.parse(`${text}T00:00:00Z`);
  };
  const isQuery = query.get('execute_query') === 'true';
  const start = isQuery ? parse('last_scan_date_start') : undefined;
  const end = isQuery ? parse('last_scan_date_end') : undefined;
  if (start === undefined && end === undefined) return books;
  return (function* () {
    for (const book of books) {
      if (book.scannedDate === undefined) continue;
      if (start !== undefined && book.scannedDate < start) continue;
      if (end !== undefined && book.scannedDate >= end) continue;
      yield book;
    }
  })();
}

interface Page {
  offset: number;
  /** undefined = every row from the offset. */
  count: number | undefined;
}

function intParam(query: URLSearchParams, key: string): number | undefined {
  const text = query.get(key);
  if (text === null || text === '') return undefined;
  if (!/^-?\d+$/.test(text)) throw new BadListingRequest(`${key} must be an integer, got "${text}"`);
  return Number(text);
}

function encodeCtoken(listing: string, offset: number): string {
  return Buffer.from(JSON.stringify({ l: listing, o: offset, v: 1 })).toString('base64url');
}

function decodeCtoken(listing: string, token: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { l?: unknown; o?: unknown };
    if (parsed.l === listing && typeof parsed.o === 'number' && Number.isInteger(parsed.o) && parsed.o >= 0) return parsed.o;
  } catch {
    // fall through to the error below
  }
  throw new BadListingRequest(`ctoken is not a continuation token of ${listing}`);
}

function pageOf(listing: string, query: URLSearchParams, defaultCount: number | undefined): Page {
  const resultCount = intParam(query, 'result_count');
  if (resultCount !== undefined && resultCount < -1)
    throw new BadListingRequest(`result_count must be -1 (all) or a positive integer, got ${resultCount}`);
  const ctoken = query.get('ctoken');
  const first = intParam(query, 'first');
  if (first !== undefined && first < 0) throw new BadListingRequest(`first must be >= 0, got ${first}`);
  const offset = ctoken ? decodeCtoken(listing, ctoken) : (first ?? 0);
  const count = resultCount === -1 ? undefined : resultCount === undefined ? defaultCount : resultCount;
  return { offset, count };
}

function* slice<T>(items: Iterable<T>, offset: number, count: number | undefined): Generator<T> {
  if (count === 0) return;
  let index = 0;
  let taken = 0;
  for (const item of items) {
    if (index++ < offset) continue;
    yield item;
    if (count !== undefined && ++taken >= count) return;
  }
}

function* chunked(lines: Iterable<string>): Generator<string> {
  let batch: string[] = [];
  for (const line of lines) {
    batch.push(line);
    if (batch.length >= ROWS_PER_CHUNK) {
      yield batch.join('');
      batch = [];
    }
  }
  if (batch.length) yield batch.join('');
}

/** `format=text` listings: one entry per line, or with `mode=all` a headerless TSV. */
export function renderTextListing(name: ListingName, library: Library, query: URLSearchParams, style: ListingStyle): Iterable<string> {
  const spec = specFor(name, style);
  const page = pageOf(name, query, undefined);
  const rows = slice(spec.rows(library, query), page.offset, page.count);
  const modeAll = query.get('mode') === 'all';
  function* lines(): Generator<string> {
    for (const book of rows) {
      yield (modeAll ? spec.modeAll.map((c) => tsvField(c.value(book))).join('\t') : spec.plain(book)) + '\n';
    }
  }
  return chunked(lines());
}

function pageShell(title: string, body: string): { head: string; tail: string } {
  return {
    head: `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body><div id="Main">\n${body}`,
    tail: '</div></body></html>\n',
  };
}

function nextLinkHref(name: ListingName, query: URLSearchParams, nextOffset: number, style: ListingStyle, pageCount: number): string {
  const params = new URLSearchParams(query);
  params.delete('first');
  params.delete('ctoken');
  params.set('result_count', String(pageCount));
  if (style.htmlPaging === 'ctoken') params.set('ctoken', encodeCtoken(name, nextOffset));
  else params.set('first', String(nextOffset));
  const prefix = style.nextHref === 'absolute-path' ? `/libraries/${encodeURIComponent(style.directory)}/` : '';
  return `${prefix}${name}?${params.toString()}`;
}

/** HTML listing: one data table (`thead` heading row with `span.hd3` labels), then a "Next &gt;" link if more rows follow. */
export function renderHtmlListing(name: ListingName, library: Library, query: URLSearchParams, style: ListingStyle): Iterable<string> {
  const spec = specFor(name, style);
  const page = pageOf(name, query, style.htmlPageSize);
  // One row beyond the page tells whether a Next link is needed.
  const rows = slice(spec.rows(library, query), page.offset, page.count === undefined ? undefined : page.count + 1);
  const heading = `<tr class="heading"><td></td>${spec.html.map((c) => `<td><span class="hd3">${escapeHtml(c.label)}</span></td>`).join('')}</tr>`;
  const shell = pageShell(`${style.directory} ${name}`, `<h2>${escapeHtml(name)}</h2>\n`);
  function* parts(): Generator<string> {
    yield shell.head;
    yield `<table class="results">\n<thead>${heading}</thead>\n<tbody>\n`;
    let shown = 0;
    let more = false;
    for (const book of rows) {
      if (page.count !== undefined && shown >= page.count) {
        more = true;
        break;
      }
      shown += 1;
      const cells = spec.html.map((c) => `<td>${c.html ? c.html(book) : escapeHtml(c.value(book))}</td>`).join('');
      yield `<tr><td><input type="checkbox" name="barcodes" value="${escapeHtml(book.barcode)}"></td>${cells}</tr>\n`;
    }
    yield '</tbody>\n</table>\n';
    const range = shown ? `${page.offset + 1}-${page.offset + shown}` : 'none';
    yield `<p class="count">Showing ${range}</p>\n`;
    if (more) {
      yield `<a href="${escapeHtml(nextLinkHref(name, query, page.offset + shown, style, page.count!))}">Next &gt;</a>\n`;
    }
    yield shell.tail;
  }
  return parts();
}

/** GRIN's refusal page; clients stop paging when they see its text. */
export function requestUnavailablePage(): string {
  const shell = pageShell('GRIN', '<p class="error">Your request is unavailable. Please try again later.</p>\n');
  return shell.head + shell.tail;
}

/** A listing page whose only cell holds `levels` nested elements: what a broken or hostile page may look like. */
export function deeplyNestedPage(name: ListingName, levels: number): string {
  const table =
    `<table><tr class="heading"><td><span class="hd3">Barcode</span></td><td><span class="hd3">Info</span></td></tr>\n` +
    `<tr><td>${'<div>'.repeat(levels)}${'</div>'.repeat(levels)}</td><td></td></tr></table>\n`;
  const shell = pageShell(`GRIN ${name}`, table);
  return shell.head + shell.tail;
}

/** The directory summary ("CSV version of the summary page"); no client parses it, so any short table will do. */
export function renderSummary(library: Library, style: ListingStyle, format: 'text' | 'html'): string {
  const counts = new Map<string, number>(BOOK_STATES.map((s) => [s, 0]));
  for (const book of library.all()) counts.set(book.state, (counts.get(book.state) ?? 0) + 1);
  const stats = library.stats();
  const rows: [string, string][] = [
    ['Directory', style.directory],
    ['Total books', String(library.size)],
    ...[...counts].map(([state, n]): [string, string] => [state, String(n)]),
    ['In process', String(stats.queued)],
    ['Converted (downloadable)', String(stats.pool)],
  ];
  if (format === 'text') return rows.map((r) => r.join('\t')).join('\n') + '\n';
  const shell = pageShell(`${style.directory} summary`, '');
  const body = rows.map(([k, v]) => `<tr><td>${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join('\n');
  return `${shell.head}<table>\n${body}\n</table>\n${shell.tail}`;
}

/** `_barcode_search` columns in the order of GT's mock (PROTOCOL §2.9; clients parse by name). */
const SEARCH_COLUMNS: Column[] = [
  COL.barcode,
  date('Check-In Date', (b) => b.checkInDate),
  { label: 'State', value: (b) => b.state },
  { label: 'Viewability', value: (b) => b.metadata.viewability },
  { label: 'Conditions', value: (b) => b.metadata.conditions },
  { label: 'Scannable', value: (b) => b.metadata.scannable },
  { label: 'Opted-Out (post-scan)', value: (b) => b.metadata.optedOut },
  { label: 'Tagging', value: (b) => b.metadata.tagging },
  { label: 'Audit', value: (b) => b.metadata.audit },
  { label: 'Material Error%', value: (b) => b.metadata.materialError },
  { label: 'Overall Error%', value: (b) => b.metadata.overallError },
  COL.scanned,
  COL.processed,
  COL.analyzed,
  COL.converted,
  date('Allow Download Updated Date', (b) => b.metadata.allowDownloadUpdatedDate),
  date('Viewability Updated Date', (b) => b.metadata.viewabilityUpdatedDate),
  { label: 'Source Library Bibkey', value: (b) => b.metadata.sourceLibraryBibkey },
  { label: 'Rubbish', value: (b) => b.metadata.rubbish },
  COL.downloaded,
  { label: 'Claimed', value: (b) => b.metadata.claimed },
  { label: 'OCR GTD Score', value: (b) => b.metadata.ocrGtdScore },
  { label: 'OCR Analysis Score', value: (b) => b.metadata.ocrAnalysisScore },
  { label: 'Digitization Method', value: (b) => b.metadata.digitizationMethod },
  COL.ocrd,
];

/** Barcodes from `barcodes=` parameters: space-separated (GT), comma-separated or repeated. */
export function barcodesFromQuery(query: URLSearchParams): string[] {
  return query
    .getAll('barcodes')
    .flatMap((v) => v.split(/[\s,]+/))
    .filter(Boolean);
}

/** `_barcode_search`: TSV with a header row, one row per barcode found (unknown ones are left out). */
export function renderBarcodeSearch(library: Library, query: URLSearchParams, style: ListingStyle): string {
  const found = barcodesFromQuery(query)
    .map((b) => library.get(b))
    .filter((b): b is SimBook => b !== undefined);
  if (query.get('format') === 'text') {
    const header = SEARCH_COLUMNS.map((c) => c.label).join('\t');
    return [header, ...found.map((b) => SEARCH_COLUMNS.map((c) => tsvField(c.value(b))).join('\t'))].join('\n') + '\n';
  }
  const heading = `<tr class="heading">${SEARCH_COLUMNS.map((c) => `<td><span class="hd3">${escapeHtml(c.label)}</span></td>`).join('')}</tr>`;
  const rows = found.map((b) => `<tr>${SEARCH_COLUMNS.map((c) => `<td>${escapeHtml(c.value(b))}</td>`).join('')}</tr>`).join('\n');
  const shell = pageShell(`${style.directory} _barcode_search`, '');
  return `${shell.head}<table>\n<thead>${heading}</thead>\n<tbody>\n${rows}\n</tbody>\n</table>\n${shell.tail}`;
}
