#!/usr/bin/env node
/**
 * The worker process: runs every Temporal worker the pipeline needs on this host.
 *  - workflows + board bookkeeping on the workflow task queue;
 *  - GRIN calls on the shared GRIN queue, rate-limited by the Temporal server across all workers;
 *  - `claimFileHost` on the shared file queue;
 *  - the file stages on this host's own queue, so one book's files stay on one disk.
 * `npm run worker -- --config config.yaml`, or `createPipelineWorkers()` in-process (demo, tests).
 */
import { hostname } from 'node:os';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogEntry, type WorkflowBundle } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { Command } from 'commander';
import { loadConfig } from './config/load';
import type { PipelineConfig } from './config/types';
import { ConversionWatch } from './grin/listing-cache';
import type { GrinApi } from './grin/types';
import { buildRuntime } from './runtime';
import { connectTemporalWorker } from './temporal-connection';
import type { BookStorage } from './storage/types';
import {
  createBoardActivityGroup,
  createFileActivities,
  createFileHostActivities,
  createGrinActivities,
  type ActivityDeps,
} from './activities';
import type { DownloadOptions } from './activities/download';
import { failureDetails } from './activities/failures';

export interface PipelineWorkerOptions {
  /** Names this host's file queue; defaults to the machine's host name. */
  hostId?: string;
  connection?: NativeConnection;
  /** A pre-built workflow bundle (tests bundle once and reuse it). */
  workflowBundle?: WorkflowBundle;
  /** Replace parts of the dependencies (tests). */
  grin?: GrinApi;
  storage?: BookStorage;
  download?: DownloadOptions;
}

export interface PipelineWorkers {
  hostQueue: string;
  /** Resolves when all workers have stopped. */
  run(): Promise<void>;
  shutdown(): void;
}

export function hostQueueName(config: PipelineConfig, hostId: string): string {
  return `${config.temporal.fileTaskQueuePrefix}-${hostId.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

export function sharedFileQueueName(config: PipelineConfig): string {
  return config.temporal.fileTaskQueuePrefix;
}

/** The SDK's notice for our activity-only workers: expected, and said on every start. */
const ACTIVITY_ONLY_WORKER_NOTICE = 'No workflows registered, not polling for workflow tasks';

/**
 * One line per log entry. Expected failures (not converted yet, queue full) are BENIGN, which the
 * SDK logs at DEBUG. Failures of a fault that hits every book (they carry `waitingFor`) are left to
 * the per-process fault reporter (activities/waiting.ts), which says it once per interval, not once
 * per book.
 */
export function installQuietRuntime(level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' = 'WARN'): void {
  const logger = new DefaultLogger(level, (entry: LogEntry) => {
    if (entry.message === ACTIVITY_ONLY_WORKER_NOTICE) return;
    const error = entry.meta?.error;
    if (error instanceof ApplicationFailure && failureDetails(error).waitingFor) return;
    process.stderr.write(`[worker] ${entry.level} ${entry.message}${entry.meta?.activityType ? ` (${String(entry.meta.activityType)})` : ''}${entry.meta?.workflowId ? ` ${String(entry.meta.workflowId)}` : ''}\n`);
  });
  try {
    Runtime.install({ logger });
  } catch {
    // Already installed (a second worker set in the same process): keep the first.
  }
}

export async function buildActivityDeps(config: PipelineConfig, hostQueue: string, overrides: Pick<PipelineWorkerOptions, 'grin' | 'storage'> = {}): Promise<ActivityDeps> {
  const runtime = await buildRuntime(config, overrides);
  const watch = new ConversionWatch(runtime.grin, { intervalMs: config.grin.pollIntervalSeconds * 1000, trackInProcess: true });
  return { config, ...runtime, watch, hostQueue };
}

export async function createPipelineWorkers(config: PipelineConfig, opts: PipelineWorkerOptions = {}): Promise<PipelineWorkers> {
  const hostQueue = hostQueueName(config, opts.hostId ?? hostname());
  const ownConnection = !opts.connection;
  const connection = opts.connection ?? (await connectTemporalWorker(config.temporal));
  const deps = await buildActivityDeps(config, hostQueue, opts);
  const namespace = config.temporal.namespace;
  const workflowSource = opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('./workflows') };

  const workers = await Promise.all([
    Worker.create({
      connection,
      namespace,
      taskQueue: config.temporal.workflowTaskQueue,
      ...workflowSource,
      activities: createBoardActivityGroup(deps),
    }),
    Worker.create({
      connection,
      namespace,
      taskQueue: config.temporal.grinTaskQueue,
      activities: createGrinActivities(deps),
      maxConcurrentActivityTaskExecutions: config.concurrency.grinActivities,
      // One budget for GRIN across every worker, enforced by the Temporal server.
      maxTaskQueueActivitiesPerSecond: config.grin.rateLimitPerSecond,
    }),
    Worker.create({
      connection,
      namespace,
      taskQueue: sharedFileQueueName(config),
      activities: createFileHostActivities(deps),
      // Take a new book only when this host has room for its file stages.
      maxConcurrentActivityTaskExecutions: config.concurrency.fileActivities,
    }),
    Worker.create({
      connection,
      namespace,
      taskQueue: hostQueue,
      activities: createFileActivities(deps, { download: opts.download }),
      maxConcurrentActivityTaskExecutions: config.concurrency.fileActivities,
    }),
  ]);

  return {
    hostQueue,
    async run() {
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        if (ownConnection) await connection.close();
      }
    },
    shutdown() {
      for (const w of workers) {
        if (w.getState() === 'RUNNING') w.shutdown();
      }
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('grin-pipeline-worker')
    .description('Run the grin-pipeline Temporal workers on this host until interrupted (Ctrl-C stops cleanly).')
    .option('-c, --config <file>', 'pipeline config file (YAML); default: $GRIN_PIPELINE_CONFIG or embedded defaults')
    .option('--host-id <id>', "name of this host's file-stage queue", hostname())
    .option('--log-level <level>', 'DEBUG, INFO, WARN or ERROR', 'WARN')
    .parse(argv);
  const opts = program.opts<{ config?: string; hostId: string; logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' }>();
  const config = loadConfig({ file: opts.config });
  installQuietRuntime(opts.logLevel);
  const workers = await createPipelineWorkers(config, { hostId: opts.hostId });
  process.stderr.write(`grin-pipeline worker: Temporal ${config.temporal.address}, directory ${config.grin.directory}, file queue ${workers.hostQueue}\n`);
  const stop = () => workers.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await workers.run();
}

if (require.main === module) {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit((err as { exitCode?: number }).exitCode ?? 1);
  });
}
