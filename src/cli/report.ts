/**
 * `grin-pipeline report`: one row per book (from the board's tokens) and a summary, as CSV or JSON.
 * Reads only the board: works while Temporal or storage is down.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { formatReport, reportFromBoard, summaryText, type ReportFormat } from '../report';
import { validateBatchId } from './batch-id';
import { UsageError } from './common';
import type { CliContext } from './context';
import { PRIVATE_FILE_MODE } from '../common/file-modes';

export function register(program: Command, context: CliContext): void {
  program
    .command('report')
    .description(
      'A report of the migration from the board: one row per book (bucket, stage times, GRIN file and ETag, sizes, pages, ' +
        'storage and keys, archive SHA-256, when `verify` last checked it and what it found, MARC title/author/date, parked reason) and a summary (counts, bytes, books/hour, ETA, parked by reason) on stderr.',
    )
    .option('--batch <id>', 'only the books of this batch')
    .addOption(new Option('--format <format>', 'csv (rows only) or json (summary and rows)').choices(['csv', 'json']).default('csv'))
    .option('--json', 'the same as --format json (docs/cli.md)')
    .option('--out <file>', 'write here instead of standard output')
    .action(async (opts: { batch?: string; format: ReportFormat; json?: boolean; out?: string }) => {
      if (opts.batch !== undefined) validateBatchId(opts.batch, '--batch');
      const config = context.config();
      const board = await context.board();
      const report = await reportFromBoard(board, { batchId: opts.batch });
      // A batch id that names nothing is a typo, not an empty batch: its list is written when it starts.
      if (opts.batch !== undefined && report.rows.length === 0 && !existsSync(join(config.pipelineDir, 'batches', `${opts.batch}.txt`))) {
        throw new UsageError(
          `no batch ${opts.batch} on the board at ${config.pipelineDir} (no list in batches/ and no token names it); check the id (\`ls ${join(config.pipelineDir, 'batches')}\`)`,
        );
      }
      const text = formatReport(report, opts.json ? 'json' : opts.format);
      if (opts.out) await writeFile(opts.out, text, { mode: PRIVATE_FILE_MODE });
      else process.stdout.write(text);
      process.stderr.write(summaryText(report.summary) + '\n');
    });
}
