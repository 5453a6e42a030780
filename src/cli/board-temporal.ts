/**
 * The commands that bring the board and Temporal back into agreement after one of them was lost:
 * `resume` (Temporal from the board) and `reconcile --from-temporal` (the board from Temporal).
 */
import type { Command } from 'commander';
import { Board } from '../buckets/board';
import { bookSettingsFrom, configFrom, connectClient, type GlobalOptions } from './common';
import { formatResumeSummary, resumeFromBoard } from './resume';
import { formatReconcileSummary, reconcileFromTemporal } from './reconcile-temporal';

export function addResumeCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('resume')
    .description(
      'Start a workflow for every book on the board that is not in 07_stored or cancelled and has no running workflow ' +
        "(e.g. after Temporal lost its data). Each continues from its token's bucket: files still on disk are not fetched again, " +
        'converted books are not requested again. Books in failed come back parked, waiting for retry.',
    )
    .option('--dry-run', 'only list what would be started')
    .action(async (opts: { dryRun?: boolean }) => {
      const config = configFrom(globals());
      const board = await Board.open(config.pipelineDir);
      const client = await connectClient(config);
      const log = (s: string) => process.stderr.write(`${s}\n`);
      const summary = await resumeFromBoard(client, config, board, { settings: bookSettingsFrom(config), dryRun: opts.dryRun, log });
      process.stdout.write(formatResumeSummary(summary, opts.dryRun) + '\n');
      if (summary.problems.length) process.exitCode = 1;
    });
}

/** `reconcile --from-temporal`; returns false when the flag is absent (the board-only reconcile runs). */
export async function reconcileFromTemporalCommand(globals: () => GlobalOptions, opts: { fromTemporal?: boolean; dryRun?: boolean }): Promise<boolean> {
  if (!opts.fromTemporal) return false;
  const config = configFrom(globals());
  const board = await Board.open(config.pipelineDir);
  await board.reconcile();
  const client = await connectClient(config);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const summary = await reconcileFromTemporal(client, config, board, { dryRun: opts.dryRun, log });
  process.stdout.write(formatReconcileSummary(summary, opts.dryRun) + '\n');
  return true;
}
