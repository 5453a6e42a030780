/**
 * `grin-pipeline board`: the books in each bucket (or one bucket's books), once or, with --watch,
 * refreshed with a storing rate and ETA until Ctrl-C. Reads only the board's folders.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { Board } from '../buckets/board';
import { BUCKETS, isBucket } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
import { listingNote } from './book-view';
import { formatWatch, watchBoard } from './board-watch';
import { UsageError } from './common';
import type { CliContext } from './context';
import { boardOnlyStalls } from './stalls';
import { operatorLines } from './operator-lines';

interface BoardFlags {
  bucket?: string;
  json?: boolean;
  watch?: boolean;
  interval: number;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError('expected a number of seconds, at least 1.');
  return n;
}

export function register(program: Command, context: CliContext): void {
  program
    .command('board')
    .description(
      'Count the books in each bucket, or list one bucket. With --watch: refresh the counts, with the rate books are stored and an ETA, until Ctrl-C.',
    )
    .option('--bucket <name>', `list the books in one bucket (${BUCKETS.join(', ')})`)
    .option('--json', 'machine-readable output (docs/cli.md); with --watch one JSON object per line per refresh')
    .option(
      '--watch',
      'refresh until Ctrl-C: counts, books stored per hour since the watch started, and when the books on their way would be done',
    )
    .option('--interval <seconds>', 'with --watch: seconds between refreshes', seconds, 10)
    .action(async (opts: BoardFlags) => {
      const config = context.config();
      if (opts.watch && opts.bucket) throw new UsageError('--watch shows the counts; it does not list a bucket (leave out --bucket).');
      const board = await context.board();
      if (opts.watch) return watch(board, opts);
      if (opts.bucket) return listBucket(board, opts.bucket, !!opts.json);
      await printCounts(board, config, !!opts.json);
    });
}

async function listBucket(board: Board, bucket: string, json: boolean): Promise<void> {
  if (!isBucket(bucket)) throw new UsageError(`--bucket ${bucket}: not a bucket; use one of ${BUCKETS.join(', ')}`);
  const { tokens, problems } = await board.list(bucket);
  if (json) {
    process.stdout.write(JSON.stringify({ tokens, problems }, null, 2) + '\n');
    return;
  }
  for (const t of tokens) process.stdout.write(`${t.barcode}\t${t.updatedAt}\t${listingNote(t)}\n`);
  for (const p of problems) process.stderr.write(`warning: ${p.bucket}/${p.file}: ${p.problem}\n`);
}

async function printCounts(board: Board, config: PipelineConfig, json: boolean): Promise<void> {
  const counts = await board.counts();
  if (json) {
    process.stdout.write(JSON.stringify(counts, null, 2) + '\n');
    return;
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  for (const b of BUCKETS) process.stdout.write(`${b.padEnd(14)} ${String(counts[b]).padStart(8)}\n`);
  process.stdout.write(`${'total'.padEnd(14)} ${String(total).padStart(8)}\n`);
  const { maxRequestedNotDownloaded, maxInGrinQueue } = config.grin.pacing;
  process.stdout.write(
    `at GRIN: ${counts['01_requested'] + counts['02_converted']} requested and not downloaded (cap ${maxRequestedNotDownloaded}), ` +
      `${counts['01_requested']} not converted yet (cap ${maxInGrinQueue})\n`,
  );
  for (const line of await operatorLines(config)) process.stdout.write(`${line}\n`);
  // What the folders alone show; `grin-pipeline stalls` also asks Temporal (queues nobody polls).
  const stalled = await boardOnlyStalls(board, config);
  if (stalled.length) {
    process.stdout.write(
      `STALLED: ${stalled.length} book(s) in a file stage with no token change for over ${config.metrics.bookStallMinutes} min (\`grin-pipeline stalls\` says why):\n`,
    );
    for (const b of stalled.slice(0, 10)) process.stdout.write(`  ${b.barcode} in ${b.bucket}: ${b.why}\n`);
    if (stalled.length > 10) process.stdout.write(`  ... and ${stalled.length - 10} more\n`);
  }
  process.stdout.write(`board: ${config.pipelineDir}\n`);
}

async function watch(board: Board, opts: BoardFlags): Promise<void> {
  // Ctrl-C (or SIGTERM) ends the watch after the current refresh, with exit code 0.
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await watchBoard({
      readCounts: () => board.counts(),
      intervalMs: opts.interval * 1000,
      signal: abort.signal,
      show: (report) => process.stdout.write((opts.json ? JSON.stringify(report) : formatWatch(report)) + '\n'),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
