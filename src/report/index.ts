/**
 * Reports of a migration: read the board, build rows and a summary, write them as CSV/JSON locally
 * or to storage under `meta/reports/`.
 */
import type { Board } from '../buckets/board';
import { REPORT_BUCKETS, buildReport, type Report } from './build';
import type { BookStorage } from '../storage/types';
import { reportCsv, reportJson, summaryText } from './format';

export { buildReport, summarize, reportRow, type Report, type ReportRow, type ReportSummary } from './build';
export { formatReport, reportCsv, reportJson, summaryText, type ReportFormat } from './format';

/** Every token on the board (of one batch, if given), as a report at `now`. */
export async function reportFromBoard(board: Board, opts: { batchId?: string; now?: Date } = {}): Promise<Report> {
  const tokens = [];
  for (const bucket of REPORT_BUCKETS) tokens.push(...(await board.list(bucket)).tokens);
  return buildReport(tokens, opts.now ?? new Date(), opts.batchId);
}

/**
 * Writes `meta/reports/<name>-<time>.{json,csv}` and the summary as `.txt`, returns the keys. The
 * time in the name keeps earlier reports (a batch re-run later reports again).
 */
export async function storeReport(storage: BookStorage, report: Report, name: string): Promise<string[]> {
  const stamp = report.summary.generatedAt.replace(/[:.]/g, '-');
  const base = `meta/reports/${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}`;
  const files: [string, string, string][] = [
    [`${base}.json`, reportJson(report), 'application/json'],
    [`${base}.csv`, reportCsv(report.rows), 'text/csv'],
    [`${base}.txt`, summaryText(report.summary) + '\n', 'text/plain'],
  ];
  for (const [key, body, contentType] of files) await storage.putBytes(body, key, { contentType });
  return files.map(([key]) => key);
}
