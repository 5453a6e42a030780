/**
 * `grin-pipeline verify`: fixity at rest. Re-reads stored books' objects (streaming, paced by
 * --max-mbps) from the storage each token names, compares them with the book's fixity manifest,
 * records the outcome in the token (fixity.verifiedAt), and writes a report (CSV or JSON). Resumable:
 * --since skips books verified recently. Exit code 1 on any mismatch, missing object or manifest.
 */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { Board } from '../buckets/board';
import { validateBarcode } from '../buckets/barcode';
import type { BookToken } from '../buckets/token';
import type { PipelineConfig, StorageConfig } from '../config/types';
import type { BookStorage } from '../storage/types';
import type { VerifiedBook } from '../storage/verify';
import { validateBatchId } from './batch-id';
import { UsageError } from './common';
import type { CliContext } from './context';
import { EXIT } from './exit-codes';

export interface VerifyOptions {
  barcodes?: string[];
  batch?: string;
  all?: boolean;
  /** Skip books verified OK less than this many milliseconds ago. */
  sinceMs?: number;
  /** Compare MD5 as well as size and SHA-256. */
  md5?: boolean;
  /** Read at most this many bytes per second on average. */
  bytesPerSecond?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Storage for the configured location (tests pass one); others are built from the config. */
  storage?: BookStorage;
  /** The board (the CLI's, opened once); default: opened from the config. */
  board?: Board;
}

export interface VerifyReport {
  summary: {
    books: number;
    ok: number;
    failed: number;
    /** Verified OK within --since, or not stored. */
    skipped: number;
    bytes: number;
    seconds: number;
    megabytesPerSecond: number;
  };
  books: VerifiedBook[];
  skipped: { barcode: string; reason: string }[];
}

/** "30d", "12h", "45m", "90s" → milliseconds. */
export function parseDuration(text: string, option = '--since'): number {
  const m = /^(\d+(?:\.\d+)?)\s*(d|h|m|s)$/.exec(text.trim());
  if (!m) throw new UsageError(`${option} ${JSON.stringify(text)} is not a duration: use a number and a unit, e.g. 30d, 12h, 45m or 90s`);
  return Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 }[m[2] as 'd' | 'h' | 'm' | 's'];
}

/** The books to verify: the named ones, a batch's stored books, or every stored book. */
async function selectTokens(board: Board, opts: VerifyOptions): Promise<BookToken[]> {
  if (opts.barcodes?.length) {
    const tokens: BookToken[] = [];
    for (const barcode of opts.barcodes) {
      validateBarcode(barcode);
      const token = await board.get(barcode);
      if (!token) throw new UsageError(`${barcode} is not on the board at ${board.root}; check the barcode (or the config's pipelineDir)`);
      tokens.push(token);
    }
    return tokens;
  }
  const stored = (await board.list('07_stored')).tokens;
  return opts.batch ? stored.filter((t) => t.batchId === opts.batch) : stored;
}

/** The storage a token names (its store-time storage), built from the config with its bucket/prefix or root. */
function storageResolver(config: PipelineConfig, configured: BookStorage) {
  const cache = new Map<string, BookStorage>([[configured.location, configured]]);
  return async (token: BookToken): Promise<BookStorage> => {
    const named = token.storedIn;
    if (!named || cache.has(named.location)) return cache.get(named?.location ?? configured.location)!;
    if (named.kind !== config.storage.kind) {
      throw new Error(
        `it was stored in ${named.location} (${named.kind}), and the config's storage is ${config.storage.kind}: verify it with a config for that storage`,
      );
    }
    const { createStorage } = await import('../storage');
    const other: StorageConfig =
      config.storage.kind === 's3'
        ? { ...config.storage, bucket: named.bucket ?? config.storage.bucket, prefix: named.prefix ?? '' }
        : { ...config.storage, path: named.root ?? config.storage.path };
    const storage = createStorage(other, { partsInFlight: config.concurrency.uploadParts });
    cache.set(named.location, storage);
    return storage;
  };
}

export async function runVerify(config: PipelineConfig, opts: VerifyOptions): Promise<VerifyReport> {
  const [{ createStorage }, { pacer, verifyStoredBook }] = await Promise.all([import('../storage'), import('../storage/verify')]);
  const log = opts.log ?? (() => undefined);
  const board = opts.board ?? (await Board.open(config.pipelineDir));
  const configured = opts.storage ?? createStorage(config.storage, { partsInFlight: config.concurrency.uploadParts });
  const storageOf = storageResolver(config, configured);
  const tokens = await selectTokens(board, opts);
  const pace = pacer(opts.bytesPerSecond);
  const started = Date.now();
  const books: VerifiedBook[] = [];
  const skipped: VerifyReport['skipped'] = [];
  let bytes = 0;
  for (const [i, token] of tokens.entries()) {
    const where = `[${i + 1}/${tokens.length}] ${token.barcode}`;
    if (token.bucket !== '07_stored') {
      skipped.push({ barcode: token.barcode, reason: `not stored (in ${token.bucket})` });
      log(`${where} skipped: not stored (in ${token.bucket})`);
      continue;
    }
    const last = token.fixity?.verifiedAt ? Date.parse(token.fixity.verifiedAt) : NaN;
    if (opts.sinceMs !== undefined && token.fixity?.verifiedOk && Date.now() - last < opts.sinceMs) {
      skipped.push({ barcode: token.barcode, reason: `verified OK at ${token.fixity.verifiedAt}` });
      log(`${where} skipped: verified OK at ${token.fixity.verifiedAt}`);
      continue;
    }
    const bookStart = Date.now();
    let result: VerifiedBook;
    try {
      result = await verifyStoredBook(await storageOf(token), config.storage.layout, token, { onBytes: pace, md5: opts.md5 });
    } catch (err) {
      result = {
        barcode: token.barcode,
        ok: false,
        bytes: 0,
        objects: [],
        problem: err instanceof Error ? err.message : String(err),
        verifiedAt: new Date().toISOString(),
      };
    }
    books.push(result);
    bytes += result.bytes;
    if (token.fixity) {
      await board.update(token.barcode, {
        fixity: { ...token.fixity, verifiedAt: result.verifiedAt, verifiedOk: result.ok, verifyProblem: result.problem },
      });
    }
    const secs = Math.max(0.001, (Date.now() - bookStart) / 1000);
    log(
      `${where} ${result.ok ? 'ok' : 'FAILED'}: ${result.objects.length} objects, ${megabytes(result.bytes)} MB, ${(result.bytes / 1e6 / secs).toFixed(1)} MB/s${result.problem ? `; ${result.problem}` : ''}`,
    );
  }
  const seconds = (Date.now() - started) / 1000;
  const ok = books.filter((b) => b.ok).length;
  return {
    summary: {
      books: books.length,
      ok,
      failed: books.length - ok,
      skipped: skipped.length,
      bytes,
      seconds: Number(seconds.toFixed(3)),
      megabytesPerSecond: Number((bytes / 1e6 / Math.max(seconds, 0.001)).toFixed(2)),
    },
    books,
    skipped,
  };
}

function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

const CSV_COLUMNS = [
  'barcode',
  'artifact',
  'key',
  'verdict',
  'expected_size',
  'found_size',
  'expected_sha256',
  'found_sha256',
  'detail',
  'verified_at',
] as const;

function csvCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV: one row per stored object, plus one row per book whose manifest could not be used. */
export function formatVerifyReport(report: VerifyReport, format: 'csv' | 'json'): string {
  if (format === 'json') return JSON.stringify(report, null, 2) + '\n';
  const rows: string[] = [CSV_COLUMNS.join(',')];
  for (const book of report.books) {
    for (const o of book.objects) {
      rows.push(
        [o.barcode, o.artifact, o.key, o.verdict, o.expectedSize, o.foundSize, o.expectedSha256, o.foundSha256, o.detail, book.verifiedAt]
          .map(csvCell)
          .join(','),
      );
    }
    if (book.objects.length === 0 || (book.problem && book.objects.every((o) => o.verdict === 'ok'))) {
      rows.push([book.barcode, 'manifest', '', 'error', '', '', '', '', book.problem, book.verifiedAt].map(csvCell).join(','));
    }
  }
  return rows.join('\n') + '\n';
}

export function verifySummaryText(report: VerifyReport): string {
  const s = report.summary;
  return `verified ${s.books} books: ${s.ok} ok, ${s.failed} failed, ${s.skipped} skipped; ${megabytes(s.bytes)} MB read in ${s.seconds.toFixed(1)} s (${s.megabytesPerSecond} MB/s)`;
}

export function register(program: Command, context: CliContext): void {
  program
    .command('verify')
    .description(
      "Fixity check at rest: re-read stored books' objects from storage (streaming) and compare their size and SHA-256 (and MD5 with --md5) with each " +
        "book's fixity manifest (<barcode>.manifest.json, written at upload). Records when each book was last verified in its token " +
        '(shown by `report`). Writes a report (CSV: one row per object; JSON: summary and books). Progress on stderr.\n' +
        'Exit code 1 if any object differs or is missing, or a manifest cannot be read.',
    )
    .argument('[barcodes...]', 'books to verify (default: --batch or --all)')
    .option('--batch <id>', 'the stored books of this batch')
    .option('--all', 'every stored book (07_stored)')
    .option('--since <duration>', 'skip books verified OK within this time (e.g. 30d, 12h): a long run can be resumed', (v) =>
      parseDuration(v),
    )
    .option('--max-mbps <n>', 'read at most this many MB (10^6 bytes) a second on average (default: no limit)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--max-mbps ${JSON.stringify(v)} must be a positive number of MB per second`);
      return n;
    })
    .option('--md5', 'compare MD5 too (size and SHA-256 are always compared; MD5 costs more CPU)')
    .addOption(new Option('--format <format>', 'report format').choices(['csv', 'json']).default('csv'))
    .option('--out <file>', 'write the report here instead of standard output')
    .action(
      async (
        barcodes: string[],
        opts: { batch?: string; all?: boolean; since?: number; maxMbps?: number; md5?: boolean; format: 'csv' | 'json'; out?: string },
      ) => {
        const chosen = [barcodes.length > 0, opts.batch !== undefined, !!opts.all].filter(Boolean).length;
        if (chosen !== 1) throw new UsageError('verify needs exactly one of: barcodes, --batch <id>, or --all');
        if (opts.batch !== undefined) validateBatchId(opts.batch, '--batch');
        const config = context.config();
        const report = await runVerify(config, {
          board: await context.board(),
          barcodes,
          batch: opts.batch,
          all: opts.all,
          sinceMs: opts.since,
          md5: opts.md5,
          bytesPerSecond: opts.maxMbps === undefined ? undefined : opts.maxMbps * 1e6,
          log: (line) => process.stderr.write(`${line}\n`),
        });
        const text = formatVerifyReport(report, opts.format);
        if (opts.out) await writeFile(opts.out, text);
        else process.stdout.write(text);
        process.stderr.write(verifySummaryText(report) + '\n');
        if (report.summary.failed > 0) process.exitCode = EXIT.failed;
      },
    );
}
