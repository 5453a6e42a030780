/**
 * The CLI for scripts, with no server running: the documented exit codes (0 ok, 1 failed, 2 bad
 * input), errors as one line naming the bad input, and the --json shapes of the board-only
 * commands (board, reconcile, report). Temporal is pointed at a closed port.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import { BUCKETS } from '../../src/buckets/token';
import { exitCodeOf, fileErrorMessage } from '../../src/cli/common';
import { loadConfig } from '../../src/config/load';
import { runCli, writeConfigFile } from '../support/cli';

let dir: string;
let configFile: string;
let pipelineDir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'grin-cli-scriptable-'));
  pipelineDir = join(dir, 'pipeline');
  const config = loadConfig({
    env: {},
    overrides: { pipelineDir, processingDir: join(dir, 'processing'), temporal: { address: '127.0.0.1:1' } },
  });
  configFile = writeConfigFile(dir, config);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(['-c', configFile, ...args]);

test('--help lists the exit codes', async () => {
  const run = await runCli(['--help']);
  expect(run.exitCode).toBe(0);
  expect(run.stdout).toMatch(/Exit codes \(every command\):\n {2}0 {2}ok\n {2}1 {2}the operation failed/);
  expect(run.stdout).toMatch(/\n {2}2 {2}bad input/);
  expect(run.stdout).toMatch(/\n {2}3 {2}start-batch --wait: the batch finished with books parked/);
});

test('start-batch --help says --wait exits 3 when books end parked', async () => {
  const run = await runCli(['start-batch', '--help']);
  expect(run.exitCode).toBe(0);
  expect(run.stdout.replace(/\s+/g, ' ')).toContain('exit code 3 if any ends parked in failed or cancelled');
});

test('a usage error (unknown option, missing argument, unknown command) exits 2', async () => {
  expect((await cli('board', '--nope')).exitCode).toBe(2);
  expect((await cli('status')).exitCode).toBe(2);
  expect((await cli('nosuchcommand')).exitCode).toBe(2);
  expect((await cli('start-batch', '--sample', '0')).exitCode).toBe(2);
});

test('a file the user named that cannot be written: one line naming it, exit 2', async () => {
  const target = join(dir, 'no-such-folder', 'report.csv');
  const run = await cli('report', '--out', target);
  expect(run.exitCode).toBe(2);
  expect(fileErrorMessage(run.error as NodeJS.ErrnoException)).toBe(
    `cannot open ${target}: no such file or folder; check the path and its permissions`,
  );
});

test('exitCodeOf: own exit codes kept, file errors are bad input, anything else failed', () => {
  expect(exitCodeOf(Object.assign(new Error('x'), { exitCode: 3 }))).toBe(3);
  expect(exitCodeOf(Object.assign(new Error('ENOENT'), { code: 'ENOENT', path: '/x' }))).toBe(2);
  // A file error without a path is not the user's input: a bug or a fault.
  expect(exitCodeOf(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))).toBe(1);
  expect(exitCodeOf(Object.assign(new Error('odd'), { code: 'toString', path: '/x' }))).toBe(1);
  expect(exitCodeOf(new TypeError('bug'))).toBe(1);
});

test('bad ids and missing inputs: exit 2, one line naming them', async () => {
  const batch = await cli('batch-status', 'bad id!');
  expect(batch.exitCode).toBe(2);
  expect(batch.error!.message).toMatch(/^batch id "bad id!": use 1-80 letters/);

  const report = await cli('report', '--batch', '../x');
  expect(report.exitCode).toBe(2);
  expect(report.error!.message).toMatch(/^--batch "\.\.\/x"/);

  const unpack = await cli('unpack', join(dir, 'missing.tar.gz.gpg'), '--out', join(dir, 'unpacked'), '--decrypted');
  expect(unpack.exitCode).toBe(2);
  expect(unpack.error!.message).toBe(`The archive ${join(dir, 'missing.tar.gz.gpg')} does not exist.`);

  const file = await cli('start-batch', '--barcodes-file', join(dir, 'missing.txt'));
  expect(file.exitCode).toBe(2);
  expect(file.error!.message).toBe(`--barcodes-file ${join(dir, 'missing.txt')}: no such file`);
  const folder = await cli('start-batch', '--barcodes-file', dir);
  expect(folder.exitCode).toBe(2);
  expect(folder.error!.message).toBe(`--barcodes-file ${dir}: not a file (give a file with one barcode per line)`);

  // Refused before the config is printed: nothing on stdout.
  const archive = await cli('check-config', '--archive', join(dir, 'a.gpg'));
  expect(archive.exitCode).toBe(2);
  expect(archive.stdout).toBe('');
});

test('enrich with no GRIN credentials configured: exit 2, one line, no stack', async () => {
  const run = await cli('enrich', 'AAA111');
  expect(run.exitCode).toBe(2);
  expect(run.error!.message).toMatch(/^GRIN credentials missing: set grin.credentialsFile/);
});

test('Temporal unreachable: one line naming the address, exit 1', async () => {
  const run = await cli('batch-status', 'first-10k');
  expect(run.exitCode).toBe(1);
  expect(run.error!.message).toMatch(/^Cannot connect to Temporal at 127\.0\.0\.1:1 /);
  expect(run.error!.message).not.toContain('\n');
});

test('status of a book on no board while Temporal is unreachable: exit 1 (it may exist), not "unknown"', async () => {
  const run = await cli('status', 'AAA111');
  expect(run.exitCode).toBe(1);
  expect(run.error!.message).toMatch(/^AAA111 is not on the board at .*, and Temporal could not be asked/);
});

describe('board-only commands', () => {
  beforeAll(async () => {
    const board = await Board.open(pipelineDir);
    await board.create({ barcode: 'AAA111', directory: 'PRNC', batchId: 'b1' });
    await board.create({ barcode: 'BBB222', directory: 'PRNC', batchId: 'b1' });
    await board.move('BBB222', 'failed', {
      status: 'parked: 04_decrypted failed',
      lastError: { stage: '04_decrypted', message: 'wrong passphrase', at: new Date().toISOString() },
    });
    // What cancelBook writes: the reason in status; the old error stays as history.
    await board.move('BBB222', 'cancelled', { status: 'withdrawn by the library' });
  });

  test('board --json: the count of every bucket', async () => {
    const run = await cli('board', '--json');
    expect(run.exitCode).toBe(0);
    const counts = JSON.parse(run.stdout) as Record<string, number>;
    expect(Object.keys(counts).sort()).toEqual([...BUCKETS].sort());
    expect(counts).toMatchObject({ '00_available': 1, cancelled: 1, failed: 0 });
  });

  test('board --bucket cancelled: the cancel reason; --json: tokens and problems', async () => {
    const text = await cli('board', '--bucket', 'cancelled');
    expect(text.stdout).toMatch(/^BBB222\t\S+\twithdrawn by the library\n$/);
    const json = JSON.parse((await cli('board', '--bucket', 'cancelled', '--json')).stdout) as {
      tokens: { barcode: string; status: string }[];
      problems: unknown[];
    };
    expect(json.tokens.map((t) => [t.barcode, t.status])).toEqual([['BBB222', 'withdrawn by the library']]);
    expect(json.problems).toEqual([]);
  });

  test('report --json: the summary and one row per book', async () => {
    const run = await cli('report', '--json');
    expect(run.exitCode).toBe(0);
    const report = JSON.parse(run.stdout) as { summary: unknown; rows: { barcode: string }[] };
    expect(report.summary).toBeDefined();
    expect(report.rows.map((r) => r.barcode).sort()).toEqual(['AAA111', 'BBB222']);
  });

  test('reconcile: a clean board exits 0; a stray file it does not fix exits 1; --json says the same', async () => {
    const clean = await cli('reconcile', '--json');
    expect(clean.exitCode).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({
      dryRun: false,
      duplicatesResolved: [],
      tempFilesRemoved: [],
      problems: [],
      counts: { '00_available': 1, cancelled: 1 },
    });

    mkdirSync(join(pipelineDir, 'failed'), { recursive: true });
    writeFileSync(join(pipelineDir, 'failed', 'notes.txt'), 'left by someone');
    const text = await cli('reconcile');
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toMatch(/problems: 1\n {2}failed\/notes\.txt: /);

    const json = await cli('reconcile', '--json');
    expect(json.exitCode).toBe(1);
    const report = JSON.parse(json.stdout) as { problems: { bucket: string; file: string; problem: string }[] };
    expect(report.problems).toEqual([{ bucket: 'failed', file: 'notes.txt', problem: expect.any(String) }]);
    rmSync(join(pipelineDir, 'failed', 'notes.txt'));
  });
});

test('check-config --json: the check lines only; a secret that cannot be read exits 2, readable ones exit 0, no secret printed', async () => {
  const missing = await cli('check-config', '--json');
  expect(missing.exitCode).toBe(2);
  const report = JSON.parse(missing.stdout) as { connectionsTested: boolean; checks: { part: string; outcome: string; text: string }[] };
  expect(report.connectionsTested).toBe(false);
  expect(report.checks.map((c) => [c.part, c.outcome])).toEqual([
    ['passphrase', 'failed'],
    ['GRIN credentials', 'failed'],
  ]);

  const passphrase = join(dir, 'passphrase.txt');
  const token = join(dir, 'token.txt');
  writeFileSync(passphrase, 'secret-passphrase-value\n', { mode: 0o600 });
  writeFileSync(token, 'secret-token-value\n', { mode: 0o600 });
  const good = writeConfigFile(
    dir,
    loadConfig({
      env: {},
      overrides: {
        pipelineDir,
        temporal: { address: '127.0.0.1:1' },
        grin: { gpgPassphrase: { file: passphrase }, accessToken: { file: token } },
      },
    }),
    'good.yaml',
  );
  const ok = await runCli(['-c', good, 'check-config', '--json']);
  expect(ok.exitCode).toBe(0);
  expect((JSON.parse(ok.stdout) as typeof report).checks.every((c) => c.outcome === 'ok')).toBe(true);
  expect(ok.stdout + ok.stderr).not.toMatch(/secret-(passphrase|token)-value/);
});
