/**
 * Shows a running batch: a progress bar of stored books (on a terminal) or a status line every few
 * seconds (in logs), both from the board's counts, which are cheap to read at any size.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
import type { Board } from '../buckets/board';
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
export async function followBatch(handle: WorkflowHandle<typeof batchWorkflow>, board: Board, total: number, opts: { intervalMs?: number; out?: NodeJS.WriteStream } = {}): Promise<BatchSummary> {
  const out = opts.out ?? process.stderr;
  const interactive = !!out.isTTY;
  const bar = interactive
    ? new SingleBar({ format: ' {bar} {value}/{total} stored | {counts} | {duration_formatted}', hideCursor: true, stream: out }, Presets.shades_classic)
    : undefined;
  bar?.start(total, 0, { counts: '' });
  let lastLine = '';
  let lastPrinted = 0;
  const tick = async () => {
    const counts = await board.counts();
    const text = formatCounts(counts);
    if (bar) bar.update(counts['07_stored'], { counts: text });
    else if (text !== lastLine && Date.now() - lastPrinted > 5000) {
      out.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);
      lastLine = text;
      lastPrinted = Date.now();
    }
  };
  const timer = setInterval(() => void tick().catch(() => undefined), opts.intervalMs ?? 1000);
  try {
    const summary = await handle.result();
    await tick();
    return summary;
  } finally {
    clearInterval(timer);
    bar?.stop();
  }
}
