/**
 * `resume`: brings Temporal back into agreement with the board after Temporal lost its data (the
 * other direction, `reconcile --from-temporal`, is in reconcile.ts).
 */
import type { Command } from 'commander';
import { bookSettingsFrom } from '../workflows/book-settings';
import type { CliContext } from './context';
import { EXIT } from './exit-codes';

export function register(program: Command, context: CliContext): void {
  program
    .command('resume')
    .description(
      'Start a workflow for every book on the board that is not in 07_stored or cancelled and has no running workflow ' +
        "(e.g. after Temporal lost its data). Each continues from its token's bucket: files still on disk are not fetched again, " +
        'converted books are not requested again. Books in failed come back parked, waiting for retry. ' +
        'Exit code 1 if some tokens could not be read.',
    )
    .option('--dry-run', 'only list what would be started')
    .option('--json', 'machine-readable output (docs/cli.md)')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const config = context.config();
      const board = await context.board();
      const client = await context.temporal();
      const log = (s: string) => process.stderr.write(`${s}\n`);
      // Loaded when the command runs: it brings Temporal's client, not needed for the CLI's start-up.
      const { formatResumeSummary, resumeFromBoard } = await import('./resume');
      const summary = await resumeFromBoard(client, config, board, { settings: bookSettingsFrom(config), dryRun: opts.dryRun, log });
      const text = opts.json ? JSON.stringify({ dryRun: !!opts.dryRun, ...summary }, null, 2) : formatResumeSummary(summary, opts.dryRun);
      process.stdout.write(text + '\n');
      if (summary.problems.length) process.exitCode = EXIT.failed;
    });
}
