/**
 * `grin-pipeline verify` on local storage, through the CLI as a user types it: bad selections exit 2,
 * an intact book passes, one byte flipped in the storage folder fails with exit 1 and a report row
 * naming the object, the token records the outcome, --since skips books verified OK, and a book
 * stored under another root (storage changed since) is read from the root its token names.
 */
import { mkdtempSync, readFileSync, rmSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import type { VerifyReport } from '../../src/cli/verify';
import { loadConfig } from '../../src/config/load';
import { digestBytes, type FixityManifest, type ManifestEntry } from '../../src/storage/fixity';
import { LocalStorage } from '../../src/storage/local';
import { runCli, writeConfigFile } from '../support/cli';

let dir: string;
let configFile: string;
let board: Board;

/** Stores a book's objects and manifest the way the upload does, and puts its token in 07_stored. */
async function storedBook(root: string, barcode: string): Promise<void> {
  const storage = new LocalStorage(root);
  const objects: Record<string, [string, Buffer]> = {
    archive: [`raw/${barcode}/${barcode}.tar.gz`, Buffer.alloc(300_000, barcode)],
    ocr: [`full/${barcode}/${barcode}_ocr.jsonl.gz`, Buffer.from(`{"page":1,"text":"${barcode}"}\n`)],
    marc: [`meta/${barcode}/${barcode}_marc.json`, Buffer.from('{"title":"A book"}')],
  };
  const entries: ManifestEntry[] = [];
  for (const [artifact, [key, bytes]] of Object.entries(objects)) {
    await storage.putBytes(bytes, key);
    entries.push({ artifact, key, ...digestBytes(bytes) });
  }
  const manifestKey = `meta/${barcode}/${barcode}.manifest.json`;
  const manifest: FixityManifest = {
    version: 1,
    barcode,
    storage: storage.identity,
    createdAt: new Date().toISOString(),
    objects: entries,
  };
  await storage.putBytes(JSON.stringify(manifest), manifestKey);
  await board.create({ barcode, directory: 'PRNC', batchId: 'b1' });
  await board.move(barcode, '07_stored', {
    storedIn: { ...storage.identity },
    stored: Object.fromEntries(Object.entries(objects).map(([a, [key]]) => [a, key])),
    fixity: {
      manifest: manifestKey,
      objects: 3,
      bytes: entries.reduce((n, e) => n + e.size, 0),
      archiveSha256: entries[0].sha256,
      recordedAt: new Date().toISOString(),
    },
  });
}

function flipByte(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  byte[0] ^= 0x01;
  writeSync(fd, byte, 0, 1, offset);
  closeSync(fd);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'grin-cli-verify-'));
  const config = loadConfig({
    env: {},
    overrides: {
      pipelineDir: join(dir, 'pipeline'),
      processingDir: join(dir, 'processing'),
      temporal: { address: '127.0.0.1:1' },
      storage: { kind: 'local', path: join(dir, 'storage') },
    },
  });
  configFile = writeConfigFile(dir, config);
  board = await Board.open(config.pipelineDir);
  await storedBook(join(dir, 'storage'), 'GOOD001');
  await storedBook(join(dir, 'storage'), 'FLIP001');
  await storedBook(join(dir, 'old-storage'), 'MOVED01'); // stored before the config named another folder
  await board.create({ barcode: 'WAIT001', directory: 'PRNC', batchId: 'b1' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(['-c', configFile, ...args]);

test('bad selections: exit 2, one line naming them', async () => {
  const none = await cli('verify');
  expect(none.exitCode).toBe(2);
  expect(none.error!.message).toBe('verify needs exactly one of: barcodes, --batch <id>, or --all');
  const since = await cli('verify', '--all', '--since', '3 weeks');
  expect(since.exitCode).toBe(2);
  expect(since.error!.message).toMatch(/^--since "3 weeks" is not a duration/);
  const unknown = await cli('verify', 'NOPE9999');
  expect(unknown.exitCode).toBe(2);
  expect(unknown.error!.message).toMatch(/^NOPE9999 is not on the board/);
});

test('an intact store passes; a byte flipped in the storage folder fails with exit 1, named in the report and the token', async () => {
  const ok = await cli('verify', '--all', '--format', 'json');
  expect(ok.exitCode).toBe(0);
  const first = JSON.parse(ok.stdout) as VerifyReport;
  expect(first.summary).toMatchObject({ books: 3, ok: 3, failed: 0 });
  expect(first.books.find((b) => b.barcode === 'MOVED01')?.objects.map((o) => o.verdict)).toEqual(['ok', 'ok', 'ok']);
  expect(ok.stderr).toMatch(/verified 3 books: 3 ok, 0 failed/);

  flipByte(join(dir, 'storage', 'raw/FLIP001/FLIP001.tar.gz'), 150_000);
  const out = join(dir, 'fixity.csv');
  const bad = await cli('verify', '--all', '--out', out);
  expect(bad.exitCode).toBe(1);
  const rows = readFileSync(out, 'utf8').trim().split('\n');
  expect(rows[0]).toBe('barcode,artifact,key,verdict,expected_size,found_size,expected_sha256,found_sha256,detail,verified_at');
  expect(rows.filter((r) => !r.includes(',ok,'))).toEqual([
    rows[0],
    expect.stringMatching(/^FLIP001,archive,raw\/FLIP001\/FLIP001\.tar\.gz,mismatch,300000,300000,/),
  ]);
  expect((await board.get('FLIP001'))?.fixity).toMatchObject({
    verifiedOk: false,
    verifyProblem: expect.stringContaining('raw/FLIP001/FLIP001.tar.gz: mismatch'),
  });
  expect((await board.get('GOOD001'))?.fixity).toMatchObject({ verifiedOk: true, verifiedAt: expect.any(String) });

  // Resumed: books verified OK within the hour are skipped; the damaged one is checked again.
  const resumed = await cli('verify', '--all', '--since', '1h', '--format', 'json');
  expect(resumed.exitCode).toBe(1);
  const again = JSON.parse(resumed.stdout) as VerifyReport;
  expect(again.books.map((b) => b.barcode)).toEqual(['FLIP001']);
  expect(again.skipped.map((s) => s.barcode).sort()).toEqual(['GOOD001', 'MOVED01']);

  // --md5 compares MD5 as well (and reports it).
  const withMd5 = JSON.parse((await cli('verify', 'GOOD001', '--md5', '--format', 'json')).stdout) as VerifyReport;
  expect(withMd5.books[0].objects.every((o) => /^[0-9a-f]{32}$/.test(o.foundMd5 ?? ''))).toBe(true);

  // A named book that is not stored is skipped, not failed.
  const waiting = await cli('verify', 'WAIT001', 'GOOD001', '--format', 'json');
  expect(waiting.exitCode).toBe(0);
  expect((JSON.parse(waiting.stdout) as VerifyReport).skipped).toEqual([{ barcode: 'WAIT001', reason: 'not stored (in 00_available)' }]);
});

test('a missing manifest fails the book with a message saying what to do', async () => {
  rmSync(join(dir, 'storage', 'meta/GOOD001/GOOD001.manifest.json'));
  const run = await cli('verify', 'GOOD001', '--format', 'json');
  expect(run.exitCode).toBe(1);
  const report = JSON.parse(run.stdout) as VerifyReport;
  expect(report.books[0].problem).toMatch(/^no fixity manifest at meta\/GOOD001\/GOOD001\.manifest\.json .* retry --force/);
});
