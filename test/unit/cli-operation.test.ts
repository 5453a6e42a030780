/**
 * Issue 24 (day-to-day operation), the parts that need no Temporal: no config means an error and
 * nothing created; one `error:` line and the documented exit code for bad input; `status` of a
 * parked book says what to do and names the stage it was in; the report's CSV and rates; malformed
 * lines of GRIN's `_all_books` skipped and reported; `board | head` ends quietly.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Board } from '../../src/buckets/board';
import { failedStageWords, type BookToken } from '../../src/buckets/token';
import { readSelection, refuseInvalidLines, selectBarcodes } from '../../src/cli/batch';
import { loadConfig } from '../../src/config/load';
import type { PipelineConfig } from '../../src/config/types';
import type { GrinApi } from '../../src/grin/types';
import { buildReport, reportCsv, summaryText } from '../../src/report';
import { writeTsHook } from '../support/child-worker';
import { runCli, writeConfigFile } from '../support/cli';

let dir: string;
let config: PipelineConfig;
let configFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'grin-cli-operation-'));
  config = loadConfig({
    env: {},
    overrides: { pipelineDir: join(dir, 'pipeline'), processingDir: join(dir, 'processing'), temporal: { address: '127.0.0.1:1' } },
  });
  configFile = writeConfigFile(dir, config);
  const board = await Board.open(config.pipelineDir);
  await board.create({ barcode: 'PARKED01', directory: 'PRNC', batchId: 'b1' });
  await board.move('PARKED01', '03_downloaded');
  // As the park wrote it before the wording changed: the bucket the book was heading for.
  await board.move('PARKED01', 'failed', {
    status: 'parked: 04_decrypted failed',
    lastError: {
      stage: '04_decrypted',
      message: 'Could not decrypt: wrong passphrase',
      type: 'DecryptError',
      at: new Date().toISOString(),
    },
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(['-c', configFile, ...args]);

describe('without a config', () => {
  const saved = { cwd: process.cwd(), env: process.env.GRIN_PIPELINE_CONFIG };
  let empty: string;
  beforeEach(() => {
    empty = mkdtempSync(join(dir, 'no-config-'));
    process.chdir(empty);
    delete process.env.GRIN_PIPELINE_CONFIG;
  });
  afterEach(() => {
    process.chdir(saved.cwd);
    if (saved.env !== undefined) process.env.GRIN_PIPELINE_CONFIG = saved.env;
  });

  test('board, status and report say where they looked and about -c, exit 2, and create nothing', async () => {
    for (const args of [['board'], ['status', 'AAA111'], ['report'], ['check-config']]) {
      const run = await runCli(args);
      expect(run.exitCode).toBe(2);
      expect(run.error!.message).toMatch(
        /^no config: no -c FILE given and \$GRIN_PIPELINE_CONFIG is not set; give the pipeline's config with -c config\.yaml/,
      );
      expect(run.error!.message).not.toContain('\n');
    }
    expect(existsSync(join(empty, 'data'))).toBe(false);
  });

  test("the demo's config is named when it is there", async () => {
    mkdirSync(join(empty, '.demo'));
    writeFileSync(join(empty, '.demo', 'config.yaml'), '');
    const run = await runCli(['board']);
    expect(run.error!.message).toContain("(the demo's is .demo/config.yaml)");
  });
});

test('report --batch with an id no batch has: exit 2, "no batch nope"', async () => {
  const run = await cli('report', '--batch', 'nope');
  expect(run.exitCode).toBe(2);
  expect(run.error!.message).toMatch(/^no batch nope on the board at /);
  // A batch that exists reports its books.
  expect((await cli('report', '--batch', 'b1')).exitCode).toBe(0);
});

test('retry/cancel --all-failed with no parked book: nothing to do, said, exit 0 (--json: no results)', async () => {
  const empty = loadConfig({ env: {}, overrides: { pipelineDir: join(dir, 'empty-board'), temporal: { address: '127.0.0.1:1' } } });
  const file = writeConfigFile(dir, empty, 'empty.yaml');
  const run = await runCli(['-c', file, 'cancel', '--all-failed']);
  expect(run.exitCode).toBe(0);
  expect(run.stderr).toBe(`no books parked in ${join(dir, 'empty-board', 'failed')}: nothing to cancel\n`);
  const json = await runCli(['-c', file, 'retry', '--all-failed', '--json']);
  expect(JSON.parse(json.stdout)).toEqual({ signal: 'retry', results: [] });
});

test('check-config --connect --archive with a missing file: one error line, exit 2, no connection tried', async () => {
  const run = await cli('check-config', '--connect', '--archive', join(dir, 'nosuch.gpg'));
  expect(run.exitCode).toBe(2);
  expect(run.error!.message).toBe(
    `--archive ${join(dir, 'nosuch.gpg')}: no such file; give an encrypted archive (.tar.gz.gpg) downloaded from GRIN`,
  );
  expect(run.stdout).toBe('');
});

test('status of a parked book with Temporal down: the token, the stage it was in, what to do; exit 1 with an error line', async () => {
  const run = await cli('status', 'PARKED01');
  expect(run.exitCode).toBe(1);
  expect(run.stdout).toContain('bucket      failed — parked: decrypt failed (in 03_downloaded)\n');
  expect(run.stdout).toContain('last error  decrypt failed (in 03_downloaded): Could not decrypt: wrong passphrase\n');
  expect(run.stdout).toMatch(/\nto do {7}.*passphrase.*: `grin-pipeline retry PARKED01` \(or `cancel`\)\n/);
  expect(run.stdout).not.toContain('04_decrypted failed');
  expect(run.stderr).toMatch(/^error: Temporal did not answer \(workflow not reachable: .*\); status shows the board's view only\n$/);
});

test('failed stage words name the stage and the bucket the book was in', () => {
  expect(failedStageWords('04_decrypted')).toBe('decrypt failed (in 03_downloaded)');
  expect(failedStageWords('01_requested')).toBe('request failed (in 00_available)');
  expect(failedStageWords('07_stored')).toBe('store failed (in 06_processed)');
});

describe('report', () => {
  const now = new Date('2026-01-10T12:00:00.000Z');
  const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000).toISOString();
  const stored = (barcode: string, startedMinutesAgo: number, storedMinutesAgo: number): BookToken => ({
    barcode,
    directory: 'PRNC',
    bucket: '07_stored',
    stages: { '00_available': ago(startedMinutesAgo), '07_stored': ago(storedMinutesAgo) },
    updatedAt: ago(storedMinutesAgo),
  });

  test('the CSV has at_00_available', () => {
    const csv = reportCsv(buildReport([stored('B1', 2, 1)], now).rows).split('\r\n');
    const header = csv[0].split(',');
    expect(header).toContain('at_00_available');
    expect(header.indexOf('at_00_available')).toBeLessThan(header.indexOf('at_01_requested'));
    expect(csv[1].split(',')[header.indexOf('at_00_available')]).toBe(ago(2));
  });

  test('a run of 2 minutes: its rate over 2 minutes, not spread over a day', () => {
    const books = [1, 2, 3, 4, 5, 6].map((i) => stored(`B${i}`, 2, 1));
    const { summary } = buildReport(
      [...books, { ...stored('B7', 2, 1), bucket: '03_downloaded', stages: { '00_available': ago(2) } }],
      now,
    );
    expect(summary.storedLastDay).toBe(6);
    expect(summary.booksPerHourLastDay).toBe(180);
    expect(summary.booksPerHourLastHour).toBe(180);
    expect(summary.runStartedAt).toBe(ago(2));
    // One book to go at 180 an hour: 20 seconds.
    expect(Date.parse(summary.eta!) - now.getTime()).toBe(20_000);
    const text = summaryText(summary);
    expect(text).toContain('stored 6 in the 2 min since the first book reached the board (180/h)');
    expect(text).not.toContain('0.25/h');
  });

  test('a run older than a day keeps the hour and day rates', () => {
    const { summary } = buildReport([stored('B1', 3000, 30)], now);
    expect(summary.booksPerHourLastDay).toBe(0.04);
    expect(summary.runStartedAt).toBeUndefined();
    expect(summaryText(summary)).toContain('stored in the last hour 1 (1/h), last day 1 (0.04/h)');
  });
});

describe("malformed lines of GRIN's _all_books", () => {
  const listing = ['AAA0001', 'not a barcode', 'AAA0002', '', '<html>', 'AAA0002', 'AAA0003', 'AAA0004'];
  const grin = {
    async *listAllBarcodes() {
      for (const line of listing) if (line) yield line;
    },
    listConverted: async () => [],
    listInProcess: async () => [],
    listFailed: async () => [],
  } as unknown as GrinApi;

  beforeAll(() => {
    mkdirSync(join(config.pipelineDir, 'cache'), { recursive: true });
    writeFileSync(join(config.pipelineDir, 'cache', `${config.grin.directory}_all_books.txt`), listing.join('\n') + '\n');
  });

  test('--sample N: N books, the malformed lines skipped and reported with their line numbers', async () => {
    const said: string[] = [];
    const barcodes = await selectBarcodes(
      config,
      { sample: 3 },
      () => grin,
      (s) => said.push(s),
    );
    expect(barcodes).toEqual(['AAA0001', 'AAA0002', 'AAA0003']);
    const warning = said.find((s) => s.startsWith('warning: skipped'));
    expect(warning).toMatch(
      /^warning: skipped 2 malformed line\(s\) of .*_all_books\.txt \(lines 2, 5\): not barcodes, e\.g\. line 2: "not a barcode" is not a barcode/,
    );
  });

  test('--queue unconverted: not refused; the bad entries are skipped and counted', async () => {
    const said: string[] = [];
    const barcodes = await selectBarcodes(
      config,
      { queue: 'unconverted' },
      () => grin,
      (s) => said.push(s),
    );
    expect(barcodes).toEqual(['AAA0001', 'AAA0002', 'AAA0003', 'AAA0004']);
    expect(said.join('\n')).toMatch(/warning: skipped 2 malformed line\(s\) of GRIN's unconverted queue/);
  });

  test('a barcode file the operator wrote is still refused for a bad line', async () => {
    const file = join(dir, 'mine.txt');
    writeFileSync(file, 'AAA0001\nnot a barcode\n');
    const selection = await readSelection(
      config,
      { barcodesFile: file },
      () => grin,
      () => undefined,
    );
    expect(() => refuseInvalidLines(selection, () => undefined)).toThrow(/1 bad line\(s\) in .*mine\.txt/);
  });
});

test('board with its reader gone (`board | head`): no stack trace, exit 0', async () => {
  const hook = writeTsHook(dir);
  const child = spawn(process.execPath, ['-r', hook, resolve(__dirname, '../../src/client.ts'), '-c', configFile, 'board'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy(); // the reader is gone before the first line is written
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  expect(stderr).toBe('');
  expect(code).toBe(0);
});
