/**
 * `start-batch`: start (or re-attach to) a batch of books, from barcodes, a file or GRIN's lists; with
 * --dry-run the plan only, with --wait the progress until every book is stored or parked.
 */
import type { Command } from 'commander';
import { bookSettingsFrom } from '../../workflows/book-settings';
import { defaultBatchId, validateBatchId } from '../batch-id';
import { positiveInt, UsageError } from '../common';
import type { CliContext } from '../context';
import { EXIT } from '../exit-codes';

interface StartBatchFlags {
  queue?: string;
  sample?: number;
  barcodesFile?: string;
  refreshAllBooks?: boolean;
  batchId?: string;
  window?: number;
  force?: boolean;
  limit?: number;
  dryRun?: boolean;
  wait?: boolean;
  json?: boolean;
}

/** What start-batch does with a batch id, by how that batch stands in Temporal. */
const standingWords = {
  new: 'started',
  ended: 'started again (its last run did not finish)',
  running: 'already running: attached',
  finished: 'already finished: not run again',
} as const;
const dryRunStandingWords = {
  new: 'new: would be started',
  ended: 'its last run did not finish: would be started again',
  running: 'already running: would be attached to',
  finished: 'already finished: would not run again',
} as const;

export function register(program: Command, context: CliContext): void {
  program
    .command('start-batch')
    .description('Start (or re-attach to) a batch of books. Books already running or stored are not started again.')
    .argument('[barcodes...]', 'barcodes to process')
    .option(
      '--queue <name>',
      "books by where GRIN has them now: converted (ready to download, no conversion slot used), unconverted (in _all_books, neither converted nor in GRIN's queue), failed-at-grin (GRIN's conversion failed)",
    )
    .option('--sample <n>', "the first N books of GRIN's _all_books list (cached in pipelineDir/cache)", positiveInt('--sample'))
    .option('--barcodes-file <file>', "one barcode per line ('-' reads standard input; '#' comments allowed)")
    .option('--refresh-all-books', 're-fetch the cached _all_books list first')
    .option(
      '--batch-id <id>',
      'name of this batch (same name = same batch); default: derived from the selection, so the same command re-attaches',
    )
    .option('--window <n>', 'books in flight at once (default: concurrency.batchWindow)', positiveInt('--window'))
    .option('--force', 'upload again even where storage already holds the same archive')
    .option(
      '--limit <n>',
      'only the first N books of the selection (after invalid and repeated lines are set aside)',
      positiveInt('--limit'),
    )
    .option('--dry-run', 'print what would start and what would be skipped, and why (stored, running, invalid, repeated); start nothing')
    .option('--wait', 'stay and show progress until every book is stored or parked; exit code 3 if any ends parked in failed or cancelled')
    .option('--json', 'print the batch (with --dry-run: the plan; with --wait: also its summary) as JSON on stdout (docs/cli.md)')
    .action(async (barcodes: string[], opts: StartBatchFlags) => {
      // A bad id is refused before anything is read or started.
      if (opts.batchId !== undefined) validateBatchId(opts.batchId);
      const config = context.config();
      const log = (s: string) => process.stderr.write(`${s}\n`);
      const { batchStanding, readSelection, refuseInvalidLines, reportDuplicates, skippedLinesMessage, startBatch } =
        await import('../batch');
      const selection = await readSelection(
        config,
        { queue: opts.queue, sample: opts.sample, barcodesFile: opts.barcodesFile, barcodes, refreshAllBooks: opts.refreshAllBooks },
        () => context.grin(),
        log,
      );
      const list = opts.limit === undefined ? selection.barcodes : selection.barcodes.slice(0, opts.limit);
      const batchId = opts.batchId ?? defaultBatchId(config.grin.directory, list);
      if (opts.dryRun) {
        const client = await context.temporal();
        const standing = await batchStanding(client, config, batchId);
        const { formatPlanLine, planBatch, summarizePlan } = await import('../batch-plan');
        const plan = await planBatch(client, config, await context.board(), selection, {
          limit: opts.limit,
          batchFinished: standing === 'finished',
        });
        if (opts.json) process.stdout.write(JSON.stringify({ dryRun: true, batchId, standing, plan }, null, 2) + '\n');
        else {
          // In blocks: a million lines written one by one take longer than planning them.
          for (let i = 0; i < plan.length; i += 10_000)
            process.stdout.write(
              plan
                .slice(i, i + 10_000)
                .map((line) => `${formatPlanLine(line)}\n`)
                .join(''),
            );
        }
        log(`dry run, batch ${batchId} (${dryRunStandingWords[standing]}): ${summarizePlan(plan)}; nothing was started`);
        if (selection.invalid.length > 0 && selection.fromGrin) log(skippedLinesMessage(selection));
        else if (selection.invalid.length > 0) {
          log(`a real run refuses this list until its ${selection.invalid.length} invalid line(s) are fixed or removed`);
          process.exitCode = 2;
        }
        return;
      }
      refuseInvalidLines(selection, log);
      reportDuplicates(selection, log);
      if (list.length === 0) throw new UsageError(`No barcodes in ${selection.source}.`);
      if (list.length < selection.barcodes.length) {
        log(
          `--limit ${opts.limit}: the first ${list.length} of ${selection.barcodes.length} books; the other ${selection.barcodes.length - list.length} are not in this batch`,
        );
      }
      const client = await context.temporal();
      const standing = await batchStanding(client, config, batchId);
      const handle = await startBatch(client, config, list, {
        batchId,
        window: opts.window,
        force: opts.force,
        settings: bookSettingsFrom(config),
      });
      log(`batch ${batchId}: ${list.length} books, workflow ${handle.workflowId}, ${standingWords[standing]}`);
      const started = { dryRun: false, batchId, workflowId: handle.workflowId, books: list.length, standing };
      if (!opts.wait) {
        if (opts.json) process.stdout.write(JSON.stringify(started, null, 2) + '\n');
        log(`follow it with: grin-pipeline batch-status ${batchId}   (or the Temporal Web UI, filter GrinBatch="${batchId}")`);
        return;
      }
      const { followBatch } = await import('../progress');
      const summary = await followBatch(handle, await context.board(), list);
      log(
        `done: ${summary.total} books: ${summary.started} started, ${summary.alreadyKnown} already known; ` +
          `${summary.stored} stored, ${summary.failed} parked in failed, ${summary.cancelled} cancelled`,
      );
      if (opts.json) process.stdout.write(JSON.stringify({ ...started, summary }, null, 2) + '\n');
      if (standing === 'finished')
        log(`(as counted when the batch finished; \`grin-pipeline batch-status ${batchId}\` shows where its books are now)`);
      if (summary.failed > 0 || summary.cancelled > 0) process.exitCode = EXIT.parked;
    });
}
