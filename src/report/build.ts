/**
 * A migration report from the board's tokens alone: one row per book and a summary (counts per
 * bucket, bytes, throughput over the last hour and day, an ETA at that rate, parked books by
 * reason). Pure functions: the caller reads the tokens and says what time it is.
 */
import { BUCKETS, STAGE_BUCKETS, type BookToken, type Bucket } from '../buckets/token';
import { scrubDeep } from '../common/secret-values';

export interface ReportRow {
  barcode: string;
  directory: string;
  batchId?: string;
  bucket: Bucket;
  status?: string;
  /** Arrival time (ISO) in each bucket the book has reached. */
  stages: Partial<Record<Bucket, string>>;
  grinFilename?: string;
  grinEtag?: string;
  encryptedBytes?: number;
  decryptedBytes?: number;
  extractedBytes?: number;
  extractedFiles?: number;
  pageCount?: number;
  /** Storage keys written, by artifact. */
  stored?: Record<string, string>;
  storage?: string;
  /** SHA-256 of the stored archive, from the book's fixity record. */
  archiveSha256?: string;
  /** When `verify` last re-read the stored objects, and whether they matched their manifest. */
  verifiedAt?: string;
  verifiedOk?: boolean;
  verifyProblem?: string;
  /** Storage locations an upload of the book wrote to other than where it is stored: they may hold partial copies. */
  partialCopiesIn?: string[];
  title?: string;
  author?: string;
  date?: string;
  /** For a book in `failed`: why, and in which stage. */
  parkedStage?: string;
  parkedType?: string;
  parkedReason?: string;
  updatedAt: string;
}

export interface ReportSummary {
  generatedAt: string;
  batchId?: string;
  books: number;
  buckets: Record<Bucket, number>;
  bytes: { encrypted: number; decrypted: number; extracted: number };
  pages: number;
  /** Books that reached 07_stored within the last hour / day. */
  storedLastHour: number;
  storedLastDay: number;
  /**
   * Books per hour at those rates, over the part of the hour / day the run has existed (a run that
   * began 2 minutes ago is not spread over 24 hours).
   */
  booksPerHourLastHour: number;
  booksPerHourLastDay: number;
  /** When the run's first book reached the board (its earliest stage time), if it did within the last day. */
  runStartedAt?: string;
  /** Books neither stored, parked nor cancelled: what the ETA is for. */
  remaining: number;
  /** When the remaining books would be stored at the last hour's rate (or the last day's if the hour saw none); absent when neither saw any. */
  eta?: string;
  etaBasis?: 'last hour' | 'last day';
  /** Parked books grouped by error type (or the first words of the reason when untyped). */
  parkedByReason: Record<string, number>;
}

export interface Report {
  summary: ReportSummary;
  rows: ReportRow[];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export function reportRow(t: BookToken): ReportRow {
  const parked = t.bucket === 'failed' ? t.lastError : undefined;
  return {
    barcode: t.barcode,
    directory: t.directory,
    batchId: t.batchId,
    bucket: t.bucket,
    status: t.status,
    stages: { ...t.stages },
    grinFilename: t.grinFilename,
    grinEtag: t.grinEtag,
    encryptedBytes: t.encryptedBytes,
    decryptedBytes: t.decryptedBytes,
    extractedBytes: t.extractedBytes,
    extractedFiles: t.extractedFiles,
    pageCount: t.pageCount,
    stored: t.stored ? { ...t.stored } : undefined,
    // Where it was stored (at store time) wins over where the book was meant to go when it started.
    storage: t.storedIn?.location ?? t.storage,
    archiveSha256: t.fixity?.archiveSha256,
    verifiedAt: t.fixity?.verifiedAt,
    verifiedOk: t.fixity?.verifiedOk,
    verifyProblem: t.fixity?.verifyProblem,
    partialCopiesIn: otherUploads(t),
    title: t.marc?.title,
    author: t.marc?.author,
    date: t.marc?.date,
    parkedStage: parked?.stage,
    parkedType: parked?.type,
    parkedReason: parked?.message,
    updatedAt: t.updatedAt,
  };
}

/** Locations an upload wrote to besides the one the book is stored in (or all of them, before it is stored). */
function otherUploads(t: BookToken): string[] | undefined {
  const others = (t.uploadedTo ?? []).filter((location) => location !== t.storedIn?.location);
  return others.length ? others : undefined;
}

/**
 * Tokens (of one batch, when `batchId` is given) into rows sorted by barcode, plus the summary at
 * `now`. Parked reasons quote errors: every registered secret value is scrubbed from the rows.
 */
export function buildReport(tokens: BookToken[], now: Date, batchId?: string): Report {
  const rows = scrubDeep(tokens.filter((t) => batchId === undefined || t.batchId === batchId).map(reportRow));
  rows.sort((a, b) => (a.barcode < b.barcode ? -1 : a.barcode > b.barcode ? 1 : 0));
  return { summary: summarize(rows, now, batchId), rows };
}

export function summarize(rows: ReportRow[], now: Date, batchId?: string): ReportSummary {
  const buckets = Object.fromEntries(BUCKETS.map((b) => [b, 0])) as Record<Bucket, number>;
  const bytes = { encrypted: 0, decrypted: 0, extracted: 0 };
  const parkedByReason: Record<string, number> = {};
  let pages = 0;
  let storedLastHour = 0;
  let storedLastDay = 0;
  let firstSeen = Infinity;
  for (const r of rows) {
    for (const at of Object.values(r.stages)) {
      const t = Date.parse(at ?? '');
      if (t < firstSeen) firstSeen = t;
    }
    buckets[r.bucket]++;
    bytes.encrypted += r.encryptedBytes ?? 0;
    bytes.decrypted += r.decryptedBytes ?? 0;
    bytes.extracted += r.extractedBytes ?? 0;
    pages += r.pageCount ?? 0;
    const stored = r.bucket === '07_stored' ? Date.parse(r.stages['07_stored'] ?? '') : NaN;
    if (!Number.isNaN(stored)) {
      const age = now.getTime() - stored;
      if (age <= HOUR_MS) storedLastHour++;
      if (age <= DAY_MS) storedLastDay++;
    }
    if (r.bucket === 'failed') {
      const reason = r.parkedType ?? reasonWords(r.parkedReason);
      parkedByReason[reason] = (parkedByReason[reason] ?? 0) + 1;
    }
  }
  const remaining = rows.length - buckets['07_stored'] - buckets.failed - buckets.cancelled;
  // A rate is over the time the run has had: a young run's day is its age (at least a minute, so a
  // first book stored seconds after the start does not read as thousands an hour).
  const age = Number.isFinite(firstSeen) ? Math.max(60_000, now.getTime() - firstSeen) : DAY_MS;
  const hourHours = Math.min(HOUR_MS, age) / HOUR_MS;
  const dayHours = Math.min(DAY_MS, age) / HOUR_MS;
  const booksPerHourLastHour = round(storedLastHour / hourHours, 2);
  const booksPerHourLastDay = round(storedLastDay / dayHours, 2);
  // The ETA uses the unrounded rate.
  const rate = storedLastHour > 0 ? storedLastHour / hourHours : storedLastDay / dayHours;
  const eta =
    remaining === 0 ? now.toISOString() : rate > 0 ? new Date(now.getTime() + (remaining / rate) * HOUR_MS).toISOString() : undefined;
  return {
    generatedAt: now.toISOString(),
    ...(batchId !== undefined ? { batchId } : {}),
    books: rows.length,
    buckets,
    bytes,
    pages,
    storedLastHour,
    storedLastDay,
    booksPerHourLastHour,
    booksPerHourLastDay,
    ...(age < DAY_MS ? { runStartedAt: new Date(Math.min(firstSeen, now.getTime() - age)).toISOString() } : {}),
    remaining,
    ...(eta ? { eta } : {}),
    ...(eta && remaining > 0 ? { etaBasis: booksPerHourLastHour > 0 ? ('last hour' as const) : ('last day' as const) } : {}),
    parkedByReason,
  };
}

/** An untyped reason, grouped by its first few words (numbers and names differ from book to book). */
function reasonWords(message: string | undefined): string {
  if (!message) return 'unknown';
  return message.split(/[:;(]/)[0].trim().split(/\s+/).slice(0, 6).join(' ') || 'unknown';
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Bucket order for display. */
export const REPORT_BUCKETS: readonly Bucket[] = [...STAGE_BUCKETS, 'failed', 'cancelled'];
