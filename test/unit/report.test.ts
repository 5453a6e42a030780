/** The migration report: rows from tokens, the summary's counts, rates and ETA, and the CSV/JSON forms. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import type { BookToken } from '../../src/buckets/token';
import { buildReport, reportCsv, reportFromBoard, reportJson, summaryText } from '../../src/report';

const NOW = new Date('2026-01-10T12:00:00.000Z');
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000).toISOString();

function token(barcode: string, patch: Partial<BookToken>): BookToken {
  return { barcode, directory: 'PRNC', bucket: '00_available', stages: { '00_available': ago(3000) }, updatedAt: ago(1), ...patch };
}

const tokens: BookToken[] = [
  token('B1', {
    bucket: '07_stored',
    batchId: 'b',
    stages: { '01_requested': ago(100), '07_stored': ago(10) },
    grinEtag: 'e1',
    grinFilename: 'PRNC_B1.tar.gz.gpg',
    encryptedBytes: 1000,
    decryptedBytes: 900,
    pageCount: 12,
    stored: { archive: 'raw/B1/B1.tar.gz', ocr: 'full/B1/B1_ocr.jsonl.gz' },
    marc: { title: 'On "Things", and more', author: 'Doe, Jane', date: '1901' },
  }),
  token('B2', {
    bucket: '07_stored',
    batchId: 'b',
    stages: { '07_stored': ago(50) },
    encryptedBytes: 500,
    decryptedBytes: 400,
    pageCount: 3,
  }),
  token('B3', { bucket: '07_stored', batchId: 'b', stages: { '07_stored': ago(600) } }),
  token('B4', {
    bucket: 'failed',
    batchId: 'b',
    lastError: { stage: '04_decrypted', message: 'Could not decrypt: wrong passphrase', type: 'DecryptError', at: ago(5) },
  }),
  token('B5', {
    bucket: 'failed',
    batchId: 'b',
    lastError: { stage: '05_extracted', message: 'checksum mismatch: 00000001.txt', type: 'ChecksumMismatchError', at: ago(5) },
  }),
  token('B6', {
    bucket: 'failed',
    batchId: 'b',
    lastError: { stage: '04_decrypted', message: 'bad key\nsecond line', type: 'DecryptError', at: ago(5) },
  }),
  token('B7', { bucket: '03_downloaded', batchId: 'b' }),
  token('B8', { bucket: '01_requested', batchId: 'b' }),
  token('B9', { bucket: 'cancelled', batchId: 'b' }),
  token('C1', { bucket: '07_stored', batchId: 'other', stages: { '07_stored': ago(1) } }),
];

test('rows are sorted by barcode and carry what the token recorded; a parked book its reason', () => {
  const { rows } = buildReport([...tokens].reverse(), NOW, 'b');
  expect(rows.map((r) => r.barcode)).toEqual(['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B9']);
  expect(rows[0]).toMatchObject({
    bucket: '07_stored',
    grinEtag: 'e1',
    grinFilename: 'PRNC_B1.tar.gz.gpg',
    encryptedBytes: 1000,
    pageCount: 12,
    title: 'On "Things", and more',
    author: 'Doe, Jane',
    date: '1901',
  });
  expect(rows[0].parkedReason).toBeUndefined();
  expect(rows[3]).toMatchObject({
    parkedStage: '04_decrypted',
    parkedType: 'DecryptError',
    parkedReason: 'Could not decrypt: wrong passphrase',
  });
});

test('the summary counts buckets and bytes, rates over the last hour and day, an ETA, and parked books by reason', () => {
  const { summary } = buildReport(tokens, NOW, 'b');
  expect(summary.books).toBe(9);
  expect(summary.buckets).toMatchObject({
    '07_stored': 3,
    failed: 3,
    cancelled: 1,
    '03_downloaded': 1,
    '01_requested': 1,
    '00_available': 0,
  });
  expect(summary.bytes).toEqual({ encrypted: 1500, decrypted: 1300, extracted: 0 });
  expect(summary.pages).toBe(15);
  expect(summary.storedLastHour).toBe(2);
  expect(summary.storedLastDay).toBe(3);
  expect(summary.booksPerHourLastHour).toBe(2);
  expect(summary.booksPerHourLastDay).toBe(0.13);
  // Two books to go at two an hour: one hour from now.
  expect(summary.remaining).toBe(2);
  expect(summary.eta).toBe('2026-01-10T13:00:00.000Z');
  expect(summary.etaBasis).toBe('last hour');
  expect(summary.parkedByReason).toEqual({ DecryptError: 2, ChecksumMismatchError: 1 });
});

test('with nothing stored in the last hour the ETA uses the day; with nothing in the day there is none', () => {
  const day = buildReport(
    [token('X', { bucket: '07_stored', stages: { '07_stored': ago(120) } }), token('Y', { bucket: '02_converted' })],
    NOW,
  );
  expect(day.summary.booksPerHourLastDay).toBe(0.04);
  expect(day.summary.etaBasis).toBe('last day');
  expect(Date.parse(day.summary.eta!) - NOW.getTime()).toBe(24 * 3_600_000);
  const none = buildReport([token('Y', { bucket: '02_converted' })], NOW);
  expect(none.summary.eta).toBeUndefined();
  expect(summaryText(none.summary)).toContain('ETA unknown');
  // Untyped reasons group by their first words.
  const untyped = buildReport(
    [
      token('Z', {
        bucket: 'failed',
        lastError: { stage: '02_converted', message: 'gave up retrying after the configured limit: 503', at: ago(1) },
      }),
    ],
    NOW,
  );
  expect(untyped.summary.parkedByReason).toEqual({ 'gave up retrying after the configured': 1 });
});

test('CSV: one header and one line per book, fields with commas, quotes or line breaks quoted', () => {
  const report = buildReport(tokens, NOW, 'b');
  const csv = reportCsv(report.rows);
  const lines = csv.split('\r\n');
  expect(lines[0].split(',')).toEqual(
    expect.arrayContaining([
      'barcode',
      'bucket',
      'at_07_stored',
      'grin_filename',
      'grin_etag',
      'encrypted_bytes',
      'pages',
      'storage_keys',
      'title',
      'author',
      'date',
      'parked_reason',
    ]),
  );
  expect(lines[1]).toContain('"On ""Things"", and more","Doe, Jane",1901');
  expect(lines[1]).toContain('raw/B1/B1.tar.gz full/B1/B1_ocr.jsonl.gz');
  expect(csv).toContain('"bad key\nsecond line"');
  // 9 rows + header; the line break inside B6's reason is inside quotes, not a record end.
  expect(csv.trimEnd().split('\r\n')).toHaveLength(10);
  const header = lines[0].split(',');
  expect(lines[2].split(',')[header.indexOf('encrypted_bytes')]).toBe('500');
});

test('JSON holds the summary and the rows', () => {
  const report = buildReport(tokens, NOW, 'b');
  const parsed = JSON.parse(reportJson(report)) as typeof report;
  expect(parsed.summary.batchId).toBe('b');
  expect(parsed.rows).toHaveLength(9);
});

test('reportFromBoard reads every bucket of a real board', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grin-report-'));
  try {
    const board = await Board.open(dir);
    await board.create({ barcode: 'BOOKA1', directory: 'PRNC', batchId: 'x' });
    await board.move('BOOKA1', '07_stored', { encryptedBytes: 10 });
    await board.create({ barcode: 'BOOKA2', directory: 'PRNC', batchId: 'x' });
    await board.move('BOOKA2', 'failed', {
      lastError: { stage: '02_converted', message: 'refused', type: 'GrinRefusedError', at: NOW.toISOString() },
    });
    await board.create({ barcode: 'BOOKA3', directory: 'PRNC', batchId: 'y' });
    const report = await reportFromBoard(board, { batchId: 'x' });
    expect(report.rows.map((r) => [r.barcode, r.bucket])).toEqual([
      ['BOOKA1', '07_stored'],
      ['BOOKA2', 'failed'],
    ]);
    expect(report.summary.storedLastHour).toBe(1);
    expect(report.summary.parkedByReason).toEqual({ GrinRefusedError: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("`grin-pipeline report --batch --format json --out` writes the batch's report and prints the summary", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grin-report-cli-'));
  const { buildProgram } = await import('../../src/client');
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const board = await Board.open(join(dir, 'pipeline'));
    await board.create({ barcode: 'BOOKC1', directory: 'PRNC', batchId: 'cli' });
    await board.move('BOOKC1', '07_stored', { grinEtag: 'abc' });
    await board.create({ barcode: 'BOOKC2', directory: 'PRNC', batchId: 'another' });
    writeFileSync(join(dir, 'config.yaml'), `pipelineDir: ${join(dir, 'pipeline')}\n`);
    const out = join(dir, 'report.json');
    await buildProgram().parseAsync([
      'node',
      'grin-pipeline',
      '-c',
      join(dir, 'config.yaml'),
      'report',
      '--batch',
      'cli',
      '--format',
      'json',
      '--out',
      out,
    ]);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.rows.map((r: { barcode: string; grinEtag: string }) => [r.barcode, r.grinEtag])).toEqual([['BOOKC1', 'abc']]);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('1 book(s) in batch cli');
  } finally {
    stderr.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CSV: the storage a book was stored in, its archive SHA-256 and when verify last checked it', () => {
  const stored = token('F1', {
    bucket: '07_stored',
    storage: 's3://old/',
    storedIn: { kind: 's3', bucket: 'new', prefix: 'p/', location: 's3://new/p/' },
    fixity: {
      manifest: 'meta/F1/F1.manifest.json',
      objects: 4,
      bytes: 10,
      archiveSha256: 'a'.repeat(64),
      recordedAt: ago(5),
      verifiedAt: ago(1),
      verifiedOk: false,
      verifyProblem: 'raw/F1/F1.tar.gz: mismatch',
    },
  });
  const lines = reportCsv(buildReport([stored], NOW).rows).split('\r\n');
  const header = lines[0].split(',');
  const cells = lines[1].split(',');
  expect(cells[header.indexOf('storage')]).toBe('s3://new/p/');
  expect(cells[header.indexOf('archive_sha256')]).toBe('a'.repeat(64));
  expect(cells[header.indexOf('verified_at')]).toBe(ago(1));
  expect(cells[header.indexOf('verified_ok')]).toBe('false');
  expect(cells[header.indexOf('verify_problem')]).toBe('raw/F1/F1.tar.gz: mismatch');
});
