/**
 * The book workflow's two stage tables (src/workflows/book-lean.ts, book-legacy.ts) as data: every
 * bucket a stage runs in has one row, a park names a stage the next run can find its row by, and the
 * rows that need the book's files on its host are exactly the ones after the download.
 */
import { STAGE_BUCKETS } from '../../src/buckets/token';
import { FailureType } from '../../src/common/failure-types';
import { leanStages } from '../../src/workflows/book-lean';
import { legacyStages } from '../../src/workflows/book-legacy';
import type { BookRun, StageRow } from '../../src/workflows/book-run';

// Building a table calls nothing on the run (its rows use it when they run).
const run = { input: { barcode: '39015000000001', directory: 'd', settings: {} }, status: {} } as unknown as BookRun;
const tables: [string, readonly StageRow[]][] = [
  ['lean', leanStages(run)],
  ['legacy', legacyStages(run)],
];
const order = (bucket: string) => STAGE_BUCKETS.indexOf(bucket as (typeof STAGE_BUCKETS)[number]);

describe.each(tables)('the %s stage table', (_name, table) => {
  test('has one row for each bucket but 07_stored', () => {
    expect(table.map((r) => r.bucket).sort()).toEqual(STAGE_BUCKETS.filter((b) => b !== '07_stored'));
  });

  test('moves every book forward, and a park names the bucket one step on (what the board and older runs record)', () => {
    for (const row of table) {
      expect(order(row.next)).toBeGreaterThan(order(row.bucket));
      expect(order(row.parksAs ?? row.next)).toBe(order(row.bucket) + 1);
    }
  });

  test("needs the files on the book's host exactly after the download, and runs those stages on that host", () => {
    for (const row of table) {
      expect([row.bucket, row.onHost]).toEqual([row.bucket, order(row.bucket) >= order('03_downloaded')]);
      if (row.onHost) expect(row.queue).toBe('files');
    }
  });

  test('asks GRIN again when the download finds the package gone or GRIN lost the request, and only then', () => {
    const askAgain = Object.fromEntries(table.filter((r) => r.askAgainOn).map((r) => [r.bucket, r.askAgainOn]));
    expect(askAgain).toEqual({ '01_requested': FailureType.ConversionRequestLost, '02_converted': FailureType.ArchiveNotFound });
  });
});

test('the lean table extracts and processes in one stage; the legacy table moves one bucket per stage', () => {
  const lean = leanStages(run).find((r) => r.bucket === '04_decrypted')!;
  expect([lean.next, lean.parksAs]).toEqual(['06_processed', '05_extracted']);
  for (const row of legacyStages(run)) expect(order(row.next)).toBe(order(row.bucket) + 1);
});
