/**
 * `retry` and `cancel`: signal parked (or any) books' workflows, named or every book in failed.
 */
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { validateBarcode } from '../../buckets/barcode';
import { bookWorkflowId, cancelSignal, retrySignal } from '../../workflows/contracts';
import { UsageError } from '../common';
import type { CliContext } from '../context';
import { EXIT } from '../exit-codes';

function barcodesFrom(values: string[]): string[] {
  return values.map((v) => validateBarcode(v));
}

/**
 * Why a book has no running workflow to signal, from where the board has it: the same words `status`
 * uses for an unknown book, and `resume` advised only for a book the board has unfinished.
 */
async function noWorkflowReason(signal: 'retry' | 'cancel', barcode: string, context: CliContext): Promise<string> {
  const config = context.config();
  const bucket = await (await context.board()).locate(barcode).catch(() => null);
  if (bucket === null)
    return `not on the board at ${config.pipelineDir} and has no workflow: check the barcode (and -c, the config naming the board)`;
  if (bucket === '07_stored') return `already stored (07_stored): its workflow has finished; there is nothing to ${signal}`;
  if (bucket === 'cancelled') return `already cancelled: its workflow has finished; there is nothing to ${signal}`;
  return `in ${bucket} on the board, but Temporal has no running workflow for it (lost or ended): \`grin-pipeline resume\` starts unfinished books from the board`;
}

export function register(program: Command, context: CliContext): void {
  const signalCommand = (name: 'retry' | 'cancel', description: string) =>
    program
      .command(name)
      .description(description)
      .argument('[barcodes...]')
      .option('--all-failed', 'every book in the failed bucket')
      .addOption(new Option('--reason <text>', 'recorded in the token').hideHelp(name === 'retry'))
      .option('--json', 'one result per book as JSON on stdout (docs/cli.md)')
      .addHelpText(
        'after',
        '\nExit code 2 if one of the books has no running workflow (unknown, finished or lost), else 1 if a signal could not be sent; each is named.',
      )
      .action(async (args: string[], opts: { allFailed?: boolean; reason?: string; json?: boolean }) => {
        const config = context.config();
        let barcodes = barcodesFrom(args);
        if (opts.allFailed) barcodes = [...barcodes, ...(await (await context.board()).listBarcodes('failed'))];
        if (barcodes.length === 0 && opts.allFailed) {
          // Nothing parked is nothing to do, not a mistake: a script running `retry --all-failed` goes on.
          process.stderr.write(`no books parked in ${join(config.pipelineDir, 'failed')}: nothing to ${name}\n`);
          if (opts.json) process.stdout.write(JSON.stringify({ signal: name, results: [] }, null, 2) + '\n');
          return;
        }
        if (barcodes.length === 0) throw new UsageError(`Name the books to ${name}, or use --all-failed.`);
        const client = await context.temporal();
        const { WorkflowNotFoundError } = await import('@temporalio/client');
        const results: { barcode: string; sent: boolean; error?: string }[] = [];
        let unknown = false;
        for (const barcode of barcodes) {
          try {
            const handle = client.workflow.getHandle(bookWorkflowId(config.grin.directory, barcode));
            if (name === 'retry') await handle.signal(retrySignal);
            else await handle.signal(cancelSignal, opts.reason);
            results.push({ barcode, sent: true });
            if (!opts.json) process.stdout.write(`${barcode}: ${name} sent\n`);
          } catch (err) {
            unknown ||= err instanceof WorkflowNotFoundError;
            const why =
              err instanceof WorkflowNotFoundError
                ? await noWorkflowReason(name, barcode, context)
                : err instanceof Error
                  ? err.message
                  : String(err);
            results.push({ barcode, sent: false, error: why });
            process.stderr.write(`error: ${barcode}: ${why}\n`);
          }
        }
        if (opts.json) process.stdout.write(JSON.stringify({ signal: name, results }, null, 2) + '\n');
        // A book with no workflow to signal is bad input (2), which outranks a failed send (1).
        if (results.some((r) => !r.sent)) process.exitCode = unknown ? EXIT.badInput : EXIT.failed;
      });
  signalCommand('retry', 'Re-run the stage a parked book failed in (after fixing the cause).');
  signalCommand('cancel', 'Give up on books: their tokens go to cancelled and local files are removed.');
}
