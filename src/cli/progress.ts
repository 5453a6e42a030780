/**
 * Shows a running batch: a progress bar of stored books (on a terminal) or a status line every few
 * seconds (in logs), both from where the batch's own books are on the board (other batches' books
 * on the same board are not counted).
 */
import { SingleBar, Presets } from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
import type { Board } from '../buckets/board';
import { countsOfBooks } from './board-index';
import type { Bucket } from '../buckets/token';
import type { batchWorkflow, BatchSummary } from '../workflows/batch';

export function formatCounts(counts: Record<Bucket, number>): string {
  const short = (b: string) => b.replace(/^\d\d_/, '');
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([b, n]) => `${short(b)} ${n}`)
    .join(' · ');
}

/** Waits for the batch to finish, showing progress; resolves with its summary. */
export async function followBatch(
  handle: WorkflowHandle<typeof batchWorkflow>,
  board: Board,
  books: readonly string[],
  opts: { intervalMs?: number; out?: NodeJS.WriteStream } = {},
): Promise<BatchSummary> {
  const members = new Set(books);
  const total = members.size;
  const out = opts.out ?? process.stderr;
  const interactive = !!out.isTTY;
  const bar = interactive
    ? new SingleBar(
        { format: ' {bar} {value}/{total} stored | {counts} | {duration_formatted}', hideCursor: true, stream: out },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0, { counts: '' });
  let lastLine = '';
  let lastPrinted = 0;
  let lastTickMs = 0;
  const tick = async (final = false) => {
    const began = Date.now();
    const counts = await countsOfBooks(board, members);
    lastTickMs = Date.now() - began;
    const text = formatCounts(counts);
    if (bar) bar.update(counts['07_stored'], { counts: text });
    // The last line is the batch's final count, however soon after the one before.
    else if (text !== lastLine && (final || Date.now() - lastPrinted > 5000)) {
      out.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);
      lastLine = text;
      lastPrinted = Date.now();
    }
  };
  // A large board takes a while to list: wait ten times as long as the last look took, so the
  // progress display never keeps the disk busy.
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const schedule = () => {
    if (done) return;
    timer = setTimeout(
      () =>
        void tick()
          .catch(() => undefined)
          .finally(schedule),
      Math.max(opts.intervalMs ?? 1000, lastTickMs * 10),
    );
  };
  schedule();
  try {
    const summary = await handle.result();
    done = true;
    clearTimeout(timer);
    await tick(true);
    return summary;
  } finally {
    done = true;
    clearTimeout(timer);
    bar?.stop();
  }
}
