/**
 * Parsers for GRIN's text (`format=text`) answers: one-value-per-line listings, `mode=all` TSVs
 * without a header (column order only known from public clients, so kept behind a column map),
 * and TSVs with a header row (parsed by header name). See PROTOCOL.md §2.3–2.9.
 */
import type { ConvertedEntry, FailedEntry } from './types';

export const ARCHIVE_SUFFIX = '.tar.gz.gpg';

/** Splits a stream of text chunks into lines (`\n` or `\r\n`), keeping state across chunks. */
export class LineSplitter {
  private rest = '';
  /** Feeds a chunk; returns the complete lines it finished. */
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.map(stripCr);
  }
  /** The last line when the text does not end with a newline. */
  end(): string[] {
    const last = stripCr(this.rest);
    this.rest = '';
    return last === '' ? [] : [last];
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** True when a text answer is really an HTML page (an error or refusal page instead of the listing). */
export function looksLikeHtml(line: string): boolean {
  return /^\s*<(!doctype|html|head|body|\?xml|div|table|p\b|title)/i.test(line);
}

/**
 * Barcode from a listed archive file name: `B.tar.gz.gpg` or `<DIR>_B.tar.gz.gpg` → `B`.
 * Returns the input unchanged (minus the prefix) when it has no archive suffix.
 */
export function barcodeFromFilename(filename: string, directory: string): string {
  let name = filename.trim();
  if (name.endsWith(ARCHIVE_SUFFIX)) name = name.slice(0, -ARCHIVE_SUFFIX.length);
  const prefix = `${directory}_`;
  if (directory && name.startsWith(prefix) && name.length > prefix.length) name = name.slice(prefix.length);
  return name;
}

/** One `_converted?format=text` line (first tab-separated field is the file name), or null for a blank line. */
export function parseConvertedLine(line: string, directory: string): ConvertedEntry | null {
  const filename = (line.split('\t')[0] ?? '').trim();
  if (filename === '') return null;
  return { barcode: barcodeFromFilename(filename, directory), filename };
}

/**
 * `_converted?format=text&mode=all` line: `file, scanned, converted, downloaded, link`. The barcode
 * is the file name up to its first `.` (PUL-client), with any `<DIR>_` prefix removed.
 */
export function parseConvertedModeAllLine(line: string, directory: string): ConvertedEntry | null {
  const filename = (line.split('\t')[0] ?? '').trim();
  if (filename === '') return null;
  const stem = filename.includes('.') ? filename.slice(0, filename.indexOf('.')) : filename;
  return { barcode: barcodeFromFilename(stem, directory), filename };
}

/**
 * A one-barcode-per-line listing line (`_all_books`, `_in_process`, `_available`, `_failed`):
 * first tab field, with a `.tar.gz.gpg` suffix (GT accepts it in `_in_process`) and `<DIR>_` prefix
 * removed. Null for a blank line.
 */
export function parseBarcodeLine(line: string, directory: string): string | null {
  const first = (line.split('\t')[0] ?? '').trim();
  if (first === '') return null;
  return barcodeFromFilename(first, directory);
}

/** The fields of `_all_books` records this client knows. */
export interface AllBooksRecord {
  barcode: string;
  title?: string;
  state?: string;
  scannedDate?: string;
  processedDate?: string;
  analyzedDate?: string;
  convertedDate?: string;
  downloadedDate?: string;
  ocrdDate?: string;
  googleBooksLink?: string;
  /** Columns this client could not name, by header name (HTML) or `column<N>` (text). */
  extra?: Record<string, string>;
}

export type AllBooksField = Exclude<keyof AllBooksRecord, 'extra'>;

/** Position → field for a header-less `_all_books?format=text&mode=all` row; null = ignore. */
export type AllBooksColumnMap = readonly (AllBooksField | null)[];

/** PUL-client's 7-column reading (PROTOCOL.md §2.3b). */
export const ALL_BOOKS_COLUMNS_PUL: AllBooksColumnMap = [
  'barcode',
  'scannedDate',
  'processedDate',
  'analyzedDate',
  'convertedDate',
  'ocrdDate',
  'googleBooksLink',
];

/** grin-transfer's 9-column "legacy text format" reading (PROTOCOL.md §2.3b). */
export const ALL_BOOKS_COLUMNS_GT: AllBooksColumnMap = [
  'barcode',
  'scannedDate',
  'convertedDate',
  'downloadedDate',
  'processedDate',
  'analyzedDate',
  null,
  'ocrdDate',
  'googleBooksLink',
];

export const DEFAULT_ALL_BOOKS_COLUMN_MAPS: readonly AllBooksColumnMap[] = [ALL_BOOKS_COLUMNS_PUL, ALL_BOOKS_COLUMNS_GT];

/**
 * One `_all_books?format=text&mode=all` line. The layout is chosen by column count among `maps`
 * (the 7-column PUL and 9-column GT layouts by default). A row of any other width keeps its
 * barcode (first field) and puts the rest in `extra` as `column<N>`, so nothing is lost.
 */
export function parseAllBooksLine(line: string, maps: readonly AllBooksColumnMap[] = DEFAULT_ALL_BOOKS_COLUMN_MAPS): AllBooksRecord | null {
  if (line.trim() === '') return null;
  const fields = line.split('\t').map((f) => f.trim());
  const map = maps.find((m) => m.length === fields.length);
  const record: AllBooksRecord = { barcode: fields[0] ?? '' };
  fields.forEach((value, i) => {
    const field = map ? map[i] : i === 0 ? 'barcode' : undefined;
    if (field) {
      if (value !== '') record[field] = value;
    } else if (value !== '') {
      record.extra ??= {};
      record.extra[`column${i}`] = value;
    }
  });
  return record.barcode ? record : null;
}

/**
 * `_failed?format=text&mode=all` line, PUL-client's order: barcode, scanned, processed, analyzed,
 * convert_failed_date, convert_failed_info, ocrd, detailed_conversion_info, link.
 */
export function parseFailedModeAllLine(line: string): FailedEntry | null {
  if (line.trim() === '') return null;
  const f = line.split('\t').map((v) => v.trim());
  const entry: FailedEntry = { barcode: f[0] ?? '' };
  if (!entry.barcode) return null;
  if (f[4]) entry.failedDate = f[4];
  if (f[5]) entry.info = f[5];
  if (f[7]) entry.detailedInfo = f[7];
  return entry;
}

export interface TsvTable {
  header: string[];
  rows: Record<string, string>[];
}

/**
 * A TSV whose first non-blank line is a header. Rows are keyed by header text (trimmed); short rows
 * are padded with '' and extra fields beyond the header are dropped. Blank lines are skipped.
 */
export function parseTsvWithHeader(text: string): TsvTable {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return { header: [], rows: [] };
  const header = lines[0]!.split('\t').map((h) => h.trim());
  const rows = lines.slice(1).map((line) => rowFromFields(header, line.split('\t')));
  return { header, rows };
}

export function rowFromFields(header: readonly string[], fields: readonly string[]): Record<string, string> {
  const row: Record<string, string> = {};
  header.forEach((name, i) => {
    if (name !== '') row[name] = (fields[i] ?? '').trim();
  });
  return row;
}

/** Finds a header by name, ignoring case and surrounding spaces. */
export function findHeader(header: readonly string[], name: string): string | undefined {
  const want = name.toLowerCase();
  return header.find((h) => h.trim().toLowerCase() === want);
}
