/**
 * `batch-status`: how a batch stands, its books' places from Temporal and the batch's own progress,
 * with the deployment's stalls (the report itself: ../batch-status.ts).
 */
import type { Command } from 'commander';
import { validateBatchId } from '../batch-id';
import type { CliContext } from '../context';

export function register(program: Command, context: CliContext): void {
  program
    .command('batch-status')
    .description(
      "How a batch stands: where its books are now (from Temporal, so retries after the batch count), and the batch's own progress.",
    )
    .argument('<batch-id>')
    .option('--json', 'machine-readable output')
    .action(async (batchId: string, opts: { json?: boolean }) => {
      validateBatchId(batchId, 'batch id');
      const config = context.config();
      const client = await context.temporal();
      const { batchStatus, formatBatchStatus } = await import('../batch-status');
      const { deploymentStalls } = await import('../stalls');
      const status = await batchStatus(client, config, batchId);
      // Stalls are the deployment's (a stalled queue holds every batch's books); a failed look leaves them out.
      status.stalls = await deploymentStalls(client, config, await context.board()).catch(() => undefined);
      process.stdout.write((opts.json ? JSON.stringify(status, null, 2) : formatBatchStatus(status)) + '\n');
    });
}
