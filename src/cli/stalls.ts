/**
 * What the CLI shows of stalls (src/liveness): `grin-pipeline stalls` runs the workers' check once
 * (queues from Temporal, books from the board and Temporal); `board` adds the books its folders
 * alone show as stalled; `batch-status` and `status` add the deployment's and the book's verdict.
 */
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { Board } from '../buckets/board';
import type { BookToken, Bucket } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
// Temporal's protos load only when a command asks Temporal (`board` stays quick).
import {
  bookStalls,
  describeStalls,
  unpausedQueueStalls,
  lastProgressMs,
  queueStalls,
  stallRulesFrom,
  type BookStall,
  type QueueRole,
  type StallReport,
} from '../liveness/stalls';
import type { CliContext } from './context';
import { EXIT } from './exit-codes';

/** The deployment's stalls now, with the config's limits (what each worker logs every metrics.stallCheckSeconds). */
export async function deploymentStalls(client: Client, config: PipelineConfig, board: Board): Promise<StallReport> {
  const { checkStalls } = await import('../liveness/readings');
  return checkStalls({ client, config, board, ...stallRulesFrom(config) });
}

/** Lines for a report: each stall, or that there is none. */
export function formatStalls(report: StallReport): string[] {
  const lines = describeStalls(report);
  return [...(lines.length ? lines : [`no stalled queue or book (checked ${report.at})`]), ...(report.paused ?? [])];
}

/** Buckets whose books the board alone can judge (a host holds them); 01_requested waits days and is left to `stalls`. */
const ON_HOST: readonly Bucket[] = ['02_converted', '03_downloaded', '04_decrypted', '05_extracted', '06_processed'];

/** Books the board alone shows as stalled: no token change past the limit in a file stage. */
export async function boardOnlyStalls(board: Board, config: PipelineConfig, nowMs = Date.now()): Promise<BookStall[]> {
  const tokens = (await Promise.all(ON_HOST.map((b) => board.list(b)))).flatMap((l) => l.tokens);
  return bookStalls(
    tokens.map((token) => ({ token })),
    nowMs,
    stallRulesFrom(config).bookRules,
  );
}

/**
 * One book's verdict, from its token and its workflow; a book whose next activity waits in a queue
 * is held by that queue, so it is stalled when the queue is (as the queues are judged).
 */
export async function bookStall(client: Client, config: PipelineConfig, token: BookToken): Promise<BookStall | undefined> {
  const { readLive, readQueues, pipelineQueues } = await import('../liveness/readings');
  const live = await readLive(client, config.grin.directory, token.barcode);
  const rules = stallRulesFrom(config);
  const own = bookStalls([{ token, live }], Date.now(), rules.bookRules)[0];
  if (own || !live.activities.some((a) => a.state === 'queued')) return own;
  const waiting = live.activities.find((a) => a.state === 'queued')!;
  const role = queueRoleOf(waiting.type);
  const queues = pipelineQueues(config, [token]).filter((q) => q.role === role);
  const { pausedQueueRoles } = await import('../control/paused-queues');
  const stalled = unpausedQueueStalls(
    queueStalls(await readQueues(client, config.temporal.namespace, queues), Date.now(), rules.queueRules),
    await pausedQueueRoles(config),
  );
  if (!stalled.length) return undefined;
  const quietMs = Date.now() - lastProgressMs({ token, live });
  return {
    barcode: token.barcode,
    bucket: token.bucket,
    quietMs,
    why: `its ${waiting.type} waits in a stalled queue: ${describeStalls({ queues: stalled, books: [] }).join('; ')}`,
  };
}

/** The queue a book's activity runs on, by its type (src/worker.ts puts each group on its queue). */
function queueRoleOf(activityType: string): QueueRole {
  if (/^(fetchArchive|claimFileHost)$/.test(activityType)) return 'shared-file';
  if (/^(requestConversion|waitForConversion|checkArchive|watchConversions)/.test(activityType)) return 'grin';
  if (
    /^(registerBook|markConverted|parkBook|unparkBook|rewindBook|cancelBook|readBatchBarcodes|notifyBatch|settledBooks|writeBatchReport|sendBatchNotification)$/.test(
      activityType,
    )
  )
    return 'workflow';
  return 'host-file';
}

export function register(program: Command, context: CliContext): void {
  program
    .command('stalls')
    .description(
      'Check now for stalls, as each worker does every metrics.stallCheckSeconds: a pipeline task queue with tasks waiting and no worker ' +
        'polling it (metrics.queueStallSeconds), a book with no progress for longer than its stage explains (metrics.bookStallMinutes). ' +
        'Exit code 1 if anything is stalled.',
    )
    .option('--json', 'machine-readable output: { at, queues, books }')
    .action(async (opts: { json?: boolean }) => {
      const config = context.config();
      const client = await context.temporal();
      const report = await deploymentStalls(client, config, await context.board());
      process.stdout.write((opts.json ? JSON.stringify(report, null, 2) : formatStalls(report).join('\n')) + '\n');
      if (report.queues.length || report.books.length) process.exitCode = EXIT.failed;
    });
}
