/**
 * `board --watch`: the bucket counts again every few seconds, with the rate books are being stored
 * (over the time this watch has been running) and when the books still on their way would be done at
 * that rate. Reads only the board's folders (cheap at any size); stops cleanly on Ctrl-C.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BUCKETS, type Bucket } from '../buckets/token';
import { formatCounts } from './progress';

/** Buckets a book does not leave by itself: it is not "on its way". */
const SETTLED: readonly Bucket[] = ['07_stored', 'failed', 'cancelled'];

export interface WatchSample {
  /** Milliseconds since the epoch. */
  at: number;
  counts: Record<Bucket, number>;
}

/** One refresh, as `board --watch --json` prints it (one JSON object per line). */
export interface WatchReport {
  at: string;
  counts: Record<Bucket, number>;
  /** Books not in 07_stored, failed or cancelled. */
  onTheirWay: number;
  /** Over the observed window; null until the window has some length. */
  storedPerHour: number | null;
  windowSeconds: number;
  /** When the books on their way would be stored at that rate; null with no rate yet or nothing stored in the window; now if none is on its way. */
  eta: string | null;
}

export function watchReport(first: WatchSample, now: WatchSample): WatchReport {
  const windowMs = now.at - first.at;
  const stored = now.counts['07_stored'] - first.counts['07_stored'];
  // Books can leave 07_stored only by a reset of the board; never report a negative rate.
  const storedPerHour = windowMs > 0 ? Math.max(0, stored) / (windowMs / 3_600_000) : null;
  const onTheirWay = BUCKETS.filter((b) => !SETTLED.includes(b)).reduce((n, b) => n + now.counts[b], 0);
  const eta =
    storedPerHour && storedPerHour > 0
      ? new Date(now.at + (onTheirWay / storedPerHour) * 3_600_000).toISOString()
      : onTheirWay === 0
        ? new Date(now.at).toISOString()
        : null;
  return {
    at: new Date(now.at).toISOString(),
    counts: now.counts,
    onTheirWay,
    storedPerHour,
    windowSeconds: Math.round(windowMs / 1000),
    eta,
  };
}

function duration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours}h ${minutes % 60}m` : `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** "12 stored/h over 5m; 40 on their way, done in ~3h 20m (14:05 UTC)" */
export function formatWatchLine(r: WatchReport): string {
  const window = duration(r.windowSeconds * 1000);
  if (r.storedPerHour === null) return `${r.onTheirWay} on their way; rate: measuring (next refresh)`;
  const rate = `${r.storedPerHour < 10 ? r.storedPerHour.toFixed(1) : Math.round(r.storedPerHour)} stored/h over ${window}`;
  if (r.onTheirWay === 0) return `${rate}; nothing on its way`;
  if (r.eta === null) return `${rate}; ${r.onTheirWay} on their way, no ETA until books are stored`;
  const left = Date.parse(r.eta) - Date.parse(r.at);
  return `${rate}; ${r.onTheirWay} on their way, done in ~${duration(left)} (${r.eta.slice(11, 16)} UTC${left > 86_400_000 ? ` ${r.eta.slice(0, 10)}` : ''})`;
}

export interface WatchOptions {
  readCounts: () => Promise<Record<Bucket, number>>;
  intervalMs: number;
  /** Aborted on Ctrl-C: the watch returns after its current refresh. */
  signal: AbortSignal;
  /** Prints one refresh. */
  show: (report: WatchReport) => void;
  now?: () => number;
}

/** Refreshes until `signal` aborts; resolves (does not throw) when it does. */
export async function watchBoard(opts: WatchOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  const first: WatchSample = { at: now(), counts: await opts.readCounts() };
  opts.show(watchReport(first, first));
  while (!opts.signal.aborted) {
    try {
      await sleep(opts.intervalMs, undefined, { signal: opts.signal });
    } catch {
      return; // aborted while waiting
    }
    opts.show(watchReport(first, { at: now(), counts: await opts.readCounts() }));
  }
}

/** The text of one refresh: the counts on one line (as start-batch --wait shows them) and the rate. */
export function formatWatch(r: WatchReport): string {
  return `[${r.at.slice(11, 19)}] ${formatCounts(r.counts) || 'board empty'}\n           ${formatWatchLine(r)}`;
}
