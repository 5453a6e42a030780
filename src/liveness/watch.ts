/**
 * The worker's stall watch: every `metrics.stallCheckSeconds` it looks at the whole deployment
 * (src/liveness/readings.ts), logs one warning per stall (so a stall repeats in the log once a
 * check while it lasts), a line when all is well again, and sets the stall gauges.
 *
 * Every worker runs it, each reporting the whole deployment rather than its own part: the stalls
 * that matter are the ones where some worker is gone or wedged (a queue nobody polls), and a
 * detector that lives in one chosen worker dies or wedges with it. Running on each host costs a
 * few DescribeTaskQueue calls, one listing of the unsettled buckets and at most `liveLookups`
 * workflow descriptions a minute; the gauges agree across hosts, so alert on their max.
 */
import { Client } from '@temporalio/client';
import type { Board } from '../buckets/board';
import type { PipelineConfig } from '../config/types';
import type { Logger } from '../logging/logger';
import type { PipelineMetrics } from '../metrics/pipeline-metrics';
import { connectTemporal } from '../temporal-connection';
import { checkStalls } from './readings';
import type { Notifier } from '../notify/notifier';
import { describeStalls, stallRulesFrom, type BookStall, type StallReport } from './stalls';

export interface StallWatchOptions {
  /** Default: a client connection of its own, made at the first check (and again after a failed one). */
  client?: Client;
  config: PipelineConfig;
  board: Board;
  logger: Logger;
  metrics?: PipelineMetrics;
  /** Default: metrics.stallCheckSeconds. */
  intervalMs?: number;
  /** Told of each new stall (one message when a queue or book first stalls, not at every check). */
  notifier?: Notifier;
  /** Each report, for tests and the chaos harness. */
  onReport?: (report: StallReport) => void;
}

export interface StallWatch {
  /** Stops the checks and closes the connection the watch made. */
  stop(): Promise<void>;
}

export function startStallWatch(opts: StallWatchOptions): StallWatch {
  const intervalMs = opts.intervalMs ?? opts.config.metrics.stallCheckSeconds * 1000;
  const rules = stallRulesFrom(opts.config);
  const backlogSince = new Map<string, number>();
  let stalledBefore = false;
  let failingSince: string | undefined;
  let running = false;
  let rounds = 0;
  let requestedStalls: BookStall[] = [];
  /** The stalls last told to the notifier, by queue or barcode: a stall is told once while it lasts. */
  let told = new Set<string>();
  // 01_requested may hold GRIN's whole queue (50,000 tokens) and is judged in days: read it hourly.
  const requestedEvery = Math.max(1, Math.round(3_600_000 / intervalMs));
  let own: Client | undefined;
  const client = async () => {
    if (opts.client) return opts.client;
    own ??= new Client({ connection: await connectTemporal(opts.config.temporal), namespace: opts.config.temporal.namespace });
    return own;
  };
  const round = async () => {
    const requested = rounds++ % requestedEvery === 0;
    const report = await checkStalls({ client: await client(), config: opts.config, board: opts.board, ...rules, backlogSince, requested });
    // Between the hourly reads, the last verdict on 01_requested stands (the gauge must not flap).
    if (requested) requestedStalls = report.books.filter((b) => b.bucket === '01_requested');
    else report.books.push(...requestedStalls);
    if (failingSince) opts.logger.info('stall check: Temporal and the board answer again', { component: 'stall-watch' });
    failingSince = undefined;
    opts.metrics?.stalls(report);
    const lines = describeStalls(report);
    for (const line of lines) opts.logger.warn(line, { component: 'stall-watch' });
    if (!lines.length && stalledBefore) opts.logger.info('stall check: no stalled queue or book any more', { component: 'stall-watch' });
    stalledBefore = lines.length > 0;
    const now = new Set([...report.queues.map((q) => `queue:${q.kind}:${q.queue}`), ...report.books.map((b) => `book:${b.barcode}`)]);
    if ([...now].some((key) => !told.has(key))) opts.notifier?.send({ kind: 'stalled', lines });
    told = now;
    opts.onReport?.(report);
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    round()
      .catch((err: unknown) => {
        // Said once per outage: a Temporal restart should not fill the log.
        if (!failingSince)
          opts.logger.warn(`stall check could not read Temporal or the board: ${err instanceof Error ? err.message : String(err)}`, {
            component: 'stall-watch',
          });
        failingSince ??= new Date().toISOString();
      })
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await own?.connection.close().catch(() => undefined);
    },
  };
}
