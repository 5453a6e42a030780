/**
 * A report as CSV (one row per book, for spreadsheets; the summary is a separate text) or as JSON
 * (summary and rows together).
 */
import { STAGE_BUCKETS } from '../buckets/token';
import { REPORT_BUCKETS, type Report, type ReportRow, type ReportSummary } from './build';

export type ReportFormat = 'csv' | 'json';

const TIME_COLUMNS = [...STAGE_BUCKETS, 'failed', 'cancelled'] as const;

const COLUMNS: [string, (r: ReportRow) => string | number | undefined][] = [
  ['barcode', (r) => r.barcode],
  ['directory', (r) => r.directory],
  ['batch', (r) => r.batchId],
  ['bucket', (r) => r.bucket],
  ['status', (r) => r.status],
  ...TIME_COLUMNS.map((b): [string, (r: ReportRow) => string | undefined] => [`at_${b}`, (r) => r.stages[b]]),
  ['grin_filename', (r) => r.grinFilename],
  ['grin_etag', (r) => r.grinEtag],
  ['encrypted_bytes', (r) => r.encryptedBytes],
  ['decrypted_bytes', (r) => r.decryptedBytes],
  ['extracted_bytes', (r) => r.extractedBytes],
  ['pages', (r) => r.pageCount],
  ['storage', (r) => r.storage],
  ['storage_keys', (r) => (r.stored ? Object.values(r.stored).join(' ') : undefined)],
  ['archive_sha256', (r) => r.archiveSha256],
  ['verified_at', (r) => r.verifiedAt],
  ['verified_ok', (r) => (r.verifiedOk === undefined ? undefined : String(r.verifiedOk))],
  ['verify_problem', (r) => r.verifyProblem],
  ['partial_copies_in', (r) => r.partialCopiesIn?.join(' ')],
  ['title', (r) => r.title],
  ['author', (r) => r.author],
  ['date', (r) => r.date],
  ['parked_stage', (r) => r.parkedStage],
  ['parked_type', (r) => r.parkedType],
  ['parked_reason', (r) => r.parkedReason],
  ['updated_at', (r) => r.updatedAt],
];

/** RFC 4180: quote a field holding a comma, quote, or line break; double the quotes inside. */
function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function reportCsv(rows: ReportRow[]): string {
  const lines = [COLUMNS.map(([name]) => name).join(',')];
  for (const r of rows) lines.push(COLUMNS.map(([, get]) => csvField(get(r))).join(','));
  return lines.join('\r\n') + '\r\n';
}

export function reportJson(report: Report): string {
  return JSON.stringify(report, null, 2) + '\n';
}

export function formatReport(report: Report, format: ReportFormat): string {
  return format === 'csv' ? reportCsv(report.rows) : reportJson(report);
}

/** Books stored lately and at what rate; for a run younger than a day, over the time it has run. */
function storedLine(s: ReportSummary): string {
  const started = s.runStartedAt ? Date.parse(s.runStartedAt) : NaN;
  if (Number.isNaN(started)) {
    return `stored in the last hour ${s.storedLastHour} (${s.booksPerHourLastHour}/h), last day ${s.storedLastDay} (${s.booksPerHourLastDay}/h)`;
  }
  const age = Date.parse(s.generatedAt) - started;
  const since = `stored ${s.storedLastDay} in the ${duration(age)} since the first book reached the board (${s.booksPerHourLastDay}/h)`;
  return age > 3_600_000 ? `${since}; in the last hour ${s.storedLastHour} (${s.booksPerHourLastHour}/h)` : since;
}

/** "2 min", "3.5 h". */
function duration(ms: number): string {
  const minutes = ms / 60_000;
  return minutes < 90 ? `${Math.max(1, Math.round(minutes))} min` : `${Math.round(minutes / 6) / 10} h`;
}

/** The summary for a terminal. */
export function summaryText(s: ReportSummary): string {
  const buckets = REPORT_BUCKETS.map((b) => `${b} ${s.buckets[b]}`).join(', ');
  const parked = Object.entries(s.parkedByReason)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  return [
    `${s.books} book(s)${s.batchId ? ` in batch ${s.batchId}` : ''} at ${s.generatedAt}`,
    `buckets: ${buckets}`,
    `bytes: ${s.bytes.encrypted} encrypted, ${s.bytes.decrypted} decrypted; ${s.pages} pages`,
    storedLine(s),
    `remaining ${s.remaining}; ETA ${s.eta ? `${s.eta}${s.etaBasis ? ` (at the ${s.etaBasis}'s rate)` : ''}` : 'unknown (nothing stored in the last day)'}`,
    parked ? `parked by reason: ${parked}` : 'parked: none',
  ].join('\n');
}
