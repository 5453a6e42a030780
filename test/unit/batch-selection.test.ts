/**
 * start-batch's input: every invalid or repeated line is reported with its line number, value and
 * reason; a bad --batch-id is refused with one line naming the flag, before anything is read.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSelection, selectBarcodes } from '../../src/cli/batch';
import { UsageError } from '../../src/cli/common';
import { loadConfig } from '../../src/config/load';
import type { GrinApi } from '../../src/grin/types';
import { runCli } from '../support/cli';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'grin-selection-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noGrin = (): GrinApi => {
  throw new Error('GRIN is not needed for a barcode file');
};
const config = () => loadConfig({ env: {}, overrides: { pipelineDir: join(dir, 'pipeline') } });

test('a repeated barcode is reported with its line and the line it repeats, and counted once', async () => {
  const file = join(dir, 'three-lines.txt');
  writeFileSync(file, 'AAA111\nBBB222\nAAA111\n');
  const logged: string[] = [];
  const barcodes = await selectBarcodes(config(), { barcodesFile: file }, noGrin, (s) => logged.push(s));
  expect(barcodes).toEqual(['AAA111', 'BBB222']);
  expect(logged.join('\n')).toContain('1 repeated barcode line(s)');
  expect(logged.join('\n')).toContain(`${file}:3: AAA111 repeats line 1 (counted once)`);
});

test('invalid lines are refused with line number, value and why; nothing is dropped silently', async () => {
  const file = join(dir, 'bad.txt');
  writeFileSync(file, 'AAA111\nBB B222\nx\nAAA111\n');
  const selection = await readSelection(config(), { barcodesFile: file }, noGrin, () => undefined);
  expect(selection.barcodes).toEqual(['AAA111']);
  expect(selection.invalid.map((p) => [p.line, p.text])).toEqual([
    [2, 'BB B222'],
    [3, 'x'],
  ]);
  expect(selection.duplicates.map((p) => p.line)).toEqual([4]);
  await expect(selectBarcodes(config(), { barcodesFile: file }, noGrin, () => undefined)).rejects.toThrow(
    new RegExp(
      `2 bad line\\(s\\)[\\s\\S]*${file}:2: "BB B222" is not a barcode[\\s\\S]*${file}:3: "x" is not a barcode[\\s\\S]*nothing was started`,
    ),
  );
});

test.each(['..', '../escape', 'a/b', 'a\\b', 'x..y'])(
  'start-batch --batch-id %j is refused in one line naming the flag (exit 2)',
  async (id) => {
    const run = await runCli(['-c', join(dir, 'no-such-config.yaml'), 'start-batch', '--batch-id', id, 'AAA111']);
    expect(run.error).toBeInstanceOf(UsageError);
    expect(run.exitCode).toBe(2);
    expect(run.error!.message).toContain('--batch-id');
    expect(run.error!.message.split('\n')).toHaveLength(1);
    // Refused before the config (missing here) was read and before anything was written.
    expect(existsSync(join(dir, 'pipeline'))).toBe(false);
  },
);

test('start-batch --limit 0 is refused by the option parser', async () => {
  const run = await runCli(['start-batch', '--limit', '0', 'AAA111']);
  expect(run.exitCode).not.toBe(0);
  expect(run.stderr).toContain('--limit must be a whole number of at least 1');
});
