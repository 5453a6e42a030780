#!/usr/bin/env node
/**
 * The worker process: runs every Temporal worker the pipeline needs on this host.
 *  - workflows + board bookkeeping on the workflow task queue;
 *  - GRIN calls on the shared GRIN queue, rate-limited by the Temporal server across all workers;
 *  - on the shared file queue, what puts a book on this host: its download (`fetchArchive`), or
 *    `claimFileHost` for books whose workflow predates the `lean-book` patch; taken only while this
 *    host holds fewer than `concurrency.booksOnHost` books (depth first: `admissionTuner`);
 *  - the file stages on this host's own queue, so one book's files stay on one disk.
 * The operator's pause and throttle (src/control) hold the GRIN and shared file queues' slots live;
 * notifications (src/notify) go out from here, best effort.
 * `npm run worker -- --config config.yaml`, or `createPipelineWorkers()` in-process (demo, tests).
 */
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { PRIVATE_DIR_MODE } from './common/file-modes';
import { join } from 'node:path';
import {
  NativeConnection,
  Runtime,
  Worker,
  type ActivityInterceptorsFactory,
  type ActivitySlotInfo,
  type CustomSlotSupplier,
  type WorkerOptions,
  type WorkerTuner,
  type WorkflowBundle,
} from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { CONFIG_FILE_ENV, loadConfig } from './config/load';
import { noConfigMessage } from './cli/common';
import { registerConfiguredSecrets } from './config/secrets';
import { scrubStandardStreams } from './common/secret-values';
import type { PipelineConfig } from './config/types';
import { ConversionListings } from './grin/conversion-listings';
import type { GrinApi } from './grin/types';
import { buildServiceClients } from './service-clients';
import { connectTemporalWorker } from './temporal-connection';
import { registerSearchAttributes } from './search-attribute-registration';
import type { BookStorage } from './storage/types';
import {
  createBoardActivityGroup,
  createFileActivities,
  createFileHostActivities,
  createGrinActivities,
  type ActivityDeps,
} from './activities';
import type { DownloadOptions } from './activities/download';
import type { CoalescerOptions } from './activities/batch-notices';
import { HostBooks, removeStalePartials } from './activities/host-books';
import { DiskBudget, type DiskBytes } from './activities/disk-space';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './logging/logger';
import { contextualWarn, sdkLogger } from './logging/sdk';
import { metricsInterceptor } from './metrics/activity-interceptor';
import { failureInterceptor } from './activities/failure-interceptor';
import { workerGroup } from './worker-group';
import { bundleWorkflowsInChild } from './workflow-bundle';
import { assertHostIdFree, markRunning, markStopped, workerIdentity } from './host-identity';
import { assertSameBoard, ensureBoardId } from './board-identity';
import { PipelineMetrics, STAGE_DURATION, STAGE_DURATION_BUCKETS } from './metrics/pipeline-metrics';
import type { MetricsConfig } from './config/types';
import { startStallWatch, type StallWatchOptions } from './liveness/watch';
import { GrinGate, grinGateTuner } from './control/grin-gate';
import { startControlWatch } from './control/control-watch';
import { heldWhilePaused } from './control/activity-pause';
import { createNotifier } from './notify/notifier';
import { Client } from '@temporalio/client';
import type { Board } from './buckets/board';
import { reviveStaleConversionWatcher } from './activities/tell-converted-books';

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
  /** The crash tests' kill switch (ActivityDeps.crashPoint); none in production. */
  crashPoint?: ActivityDeps['crashPoint'];
  /** Where warnings from outside Temporal's context go (the GRIN client's, outside an activity); default: from the config. */
  logger?: Logger;
  /** How often the books this host holds are checked against their tokens (default 60 s; tests shorten it). */
  hostBooksReconcileMs?: number;
  /** Measures the processing disk for admission (default: statfs; tests simulate a small disk). */
  diskBytes?: (path: string) => Promise<DiskBytes>;
  /** How often the processing disk is measured for admission (default 5 s). */
  diskCheckMs?: number;
  /** How settle notices to a batch are grouped (default: within 1 s; tests that need each notice at once set 0). */
  batchNotices?: CoalescerOptions;
  /** The stall watch (src/liveness/watch.ts): false for none; default every metrics.stallCheckSeconds. */
  stallWatch?: false | Pick<StallWatchOptions, 'intervalMs' | 'onReport'>;
  /** How often the operator's controls (`grin-pipeline pause`, `throttle`) are re-read from the board (default 5 s). */
  controlCheckMs?: number;
}

export interface PipelineWorkers {
  hostQueue: string;
  /** What the operator's controls hold on this host now (src/control): for `status`-like views and tests. */
  operatorState(): OperatorState;
  /** Resolves when all workers have stopped. */
  run(): Promise<void>;
  shutdown(): void;
}

export interface OperatorState {
  grinPaused: boolean;
  downloadsPaused: boolean;
  /** GRIN-queue calls running on this host (past a pause's wait). */
  grinRunning: number;
  /** Downloads (new books) running on this host (past a pause's wait). */
  downloadsRunning: number;
  /** Admission slots granted for downloads (running, waiting out a pause, or polling). */
  downloadSlots: number;
  /** The operator's cap on download slots in force on this host, if any. */
  downloadCap?: number;
}

export function hostQueueName(config: PipelineConfig, hostId: string): string {
  return `${config.temporal.fileTaskQueuePrefix}-${hostId.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

export function sharedFileQueueName(config: PipelineConfig): string {
  return config.temporal.fileTaskQueuePrefix;
}

/** The pipeline's logger as the config says (level, format, per-stage files under the board). */
export function loggerFrom(config: PipelineConfig, level?: LogLevel): Logger {
  return createLogger({
    level: level ?? config.logging.level,
    format: config.logging.format,
    perStageDir: config.logging.perStageFiles ? join(config.pipelineDir, 'logs') : undefined,
  });
}

/**
 * Installs the SDK's Runtime once per process, with `logger` as its logger: every workflow's and
 * activity's log entry keeps its metadata. False if a Runtime was already installed (a second
 * worker set in the same process keeps the first).
 */
export function installPipelineRuntime(opts: { logger: Logger; metrics?: Pick<MetricsConfig, 'port' | 'host'> }): boolean {
  const port = opts.metrics?.port ?? 0;
  try {
    Runtime.install({
      logger: sdkLogger(opts.logger),
      // Prometheus `/metrics`: the SDK's worker metrics and the pipeline's own (PipelineMetrics).
      ...(port > 0
        ? {
            telemetryOptions: {
              metrics: {
                prometheus: {
                  bindAddress: `${opts.metrics!.host}:${port}`,
                  countersTotalSuffix: true,
                  useSecondsForDurations: true,
                  histogramBucketOverrides: { [STAGE_DURATION]: STAGE_DURATION_BUCKETS },
                },
              },
            },
          }
        : {}),
    });
    return true;
  } catch {
    return false;
  }
}

/** The runtime for tests and the demo: only entries at `level` and above. */
export function installQuietRuntime(level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' = 'WARN'): void {
  installPipelineRuntime({ logger: createLogger({ level: level.toLowerCase() as LogLevel }) });
}

export async function buildActivityDeps(
  config: PipelineConfig,
  hostQueue: string,
  overrides: Pick<PipelineWorkerOptions, 'grin' | 'storage' | 'logger' | 'diskBytes' | 'crashPoint'> & { metrics?: PipelineMetrics } = {},
): Promise<ActivityDeps> {
  const grinLogger = contextualWarn(overrides.logger ?? loggerFrom(config), { component: 'grin' });
  const metrics = overrides.metrics;
  const onGrinResponse = metrics ? (endpoint: string, status: number | 'error') => metrics.grinResponse(endpoint, status) : undefined;
  const clients = await buildServiceClients(config, { grin: overrides.grin, storage: overrides.storage, grinLogger, onGrinResponse });
  const conversionListings = new ConversionListings(clients.grin, {
    intervalMs: config.grin.pollIntervalSeconds * 1000,
    trackInProcess: true,
  });
  await mkdir(config.processingDir, { recursive: true, mode: PRIVATE_DIR_MODE }).catch(() => undefined); // the download says what is wrong with it
  const disk = new DiskBudget(
    config.processingDir,
    config.limits.diskUsageThreshold,
    config.limits.archiveBytesEstimate,
    overrides.diskBytes,
  );
  await disk.refresh().catch(() => undefined); // unmeasured, the disk does not limit admission until it is
  // The books a crash left on this host's disk are held again (until their tokens are checked).
  const hostBooks = await new HostBooks(config.concurrency.booksOnHost, disk).seedFromDisk(config.processingDir);
  const notifier = createNotifier(config.notify, config.grin.directory, overrides.logger ?? loggerFrom(config));
  return { config, ...clients, conversionListings, hostQueue, hostBooks, notifier, crashPoint: overrides.crashPoint };
}

/** How often a worker checks the tokens of the books it holds (and how old an admission must be to be checked). */
const HOST_BOOKS_RECONCILE_MS = 60_000;
/** How often the processing disk is measured for admission. */
const DISK_CHECK_MS = 5_000;

/**
 * Activity slots for the shared file queue: one is granted (and only then does the worker poll for
 * a new book) while this host has room (`HostBooks.hasRoom`: books held plus slots granted fewer
 * than the limit, and a disk that carries one more), so however many slots poll at once, the host
 * never takes more books than that. A slot goes back when its task ends, whatever the outcome: a
 * download counts by its slot while it runs and as a held book once complete (its `admit` comes
 * before the slot goes back, so a book is never counted zero times); a failed attempt frees its
 * place at once, so the book's retry, waiting on this same queue, finds a host that polls.
 */
export function admissionSlots(books: HostBooks): CustomSlotSupplier<ActivitySlotInfo> {
  return {
    type: 'custom',
    reserveSlot: async (_ctx, abortSignal): Promise<AdmissionPermit> => {
      await books.reserve(abortSignal);
      return {};
    },
    tryReserveSlot: (): AdmissionPermit | null => (books.tryReserve() ? {} : null),
    markSlotUsed: () => undefined,
    releaseSlot: () => books.unreserve(),
  };
}

type AdmissionPermit = Record<string, never>;

/**
 * The interceptors every worker that runs the pipeline's activities uses (tests' workers too): the
 * metrics, when given, outermost, so they see the failure as converted; then the error protocol
 * (activities/failure-interceptor.ts).
 */
export function activityInterceptors(
  deps: Pick<ActivityDeps, 'board'>,
  metrics?: PipelineMetrics,
): { activity: ActivityInterceptorsFactory[] } {
  return { activity: [...(metrics ? [metricsInterceptor(metrics, deps.board)] : []), failureInterceptor(deps.board)] };
}

/** The shared-file-queue worker's tuner: admission slots for activities; it runs no workflows. */
export function admissionTuner(books: HostBooks): WorkerTuner {
  return {
    activityTaskSlotSupplier: admissionSlots(books),
    workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 2 },
    localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
  };
}

export async function createPipelineWorkers(config: PipelineConfig, opts: PipelineWorkerOptions = {}): Promise<PipelineWorkers> {
  const hostId = opts.hostId ?? hostname();
  const hostQueue = hostQueueName(config, hostId);
  // Every configured secret known by value before the first activity runs (common/secret-values.ts).
  registerConfiguredSecrets(config);
  const ownConnection = !opts.connection;
  const connection = opts.connection ?? (await connectTemporalWorker(config.temporal));
  // A host id is unique among live workers: refuse to start beside another with ours (host-identity.ts);
  // and all workers keep one board: refuse beside a live worker whose board is another (board-identity.ts).
  let self: ReturnType<typeof workerIdentity>;
  try {
    self = workerIdentity(hostId, await ensureBoardId(config.pipelineDir));
    await assertHostIdFree(connection, {
      namespace: config.temporal.namespace,
      hostQueue,
      workflowQueue: config.temporal.workflowTaskQueue,
      self,
      onUnchecked: (reason) =>
        (opts.logger ?? loggerFrom(config)).warn(
          `Could not check that host id "${hostId}" is unique among live workers (Temporal's DescribeTaskQueue failed: ${reason}); starting anyway. Make sure no other worker uses it.`,
        ),
    });
    await assertSameBoard(connection, {
      namespace: config.temporal.namespace,
      pipelineDir: config.pipelineDir,
      workflowQueue: config.temporal.workflowTaskQueue,
      grinQueue: config.temporal.grinTaskQueue,
      sharedFileQueue: sharedFileQueueName(config),
      self,
      onUnchecked: (reason) =>
        (opts.logger ?? loggerFrom(config)).warn(
          `Could not check that the other workers keep this board ${config.pipelineDir} (Temporal's DescribeTaskQueue failed: ${reason}); starting anyway.`,
        ),
    });
    // The workflows upsert these; one the namespace lacks would fail their workflow tasks (search-attribute-registration.ts).
    const added = await registerSearchAttributes(connection.operatorService, config.temporal.namespace);
    if (added.length > 0)
      (opts.logger ?? loggerFrom(config)).info(
        `Registered the search attributes ${added.join(', ')} on namespace ${config.temporal.namespace}.`,
      );
  } catch (err) {
    if (ownConnection) await connection.close();
    throw err;
  }
  const identity = self.identity;
  // The Runtime's meter: a no-op unless installPipelineRuntime turned metrics on.
  const metrics = new PipelineMetrics(Runtime.instance().metricMeter);
  const deps = await buildActivityDeps(config, hostQueue, { ...opts, metrics });
  await reviveWatcherIfBooksWait(config, connection, deps.board, opts.logger ?? loggerFrom(config));
  const namespace = config.temporal.namespace;
  const interceptors = activityInterceptors(deps, metrics);
  // Bundled apart: webpack in this process would stay in its memory for good (workflow-bundle.ts).
  const workflowSource = { workflowBundle: opts.workflowBundle ?? (await bundleWorkflowsInChild(require.resolve('./workflows'))) };

  // The operator's pause and throttle (src/control), read before any worker polls and every few seconds after.
  const grinGate = new GrinGate(config.concurrency.grinActivities);
  const controls = startControlWatch({
    config,
    gate: grinGate,
    hostBooks: deps.hostBooks,
    logger: opts.logger ?? loggerFrom(config),
    intervalMs: opts.controlCheckMs,
  });
  await controls.check();
  const grinRunning = { running: 0 };
  const downloadsRunning = { running: 0 };

  // What every worker of this host's set shares: one connection, and one identity for the host-id check.
  const shared = { connection, namespace, identity, interceptors };
  // Each worker paired with the queue it polls where it is made (the group names a stopped worker by it).
  const polling = async (options: WorkerOptions) => ({ worker: await Worker.create(options), taskQueue: options.taskQueue });
  const members = await Promise.all([
    polling({
      ...shared,
      taskQueue: config.temporal.workflowTaskQueue,
      ...workflowSource,
      activities: createBoardActivityGroup(deps, { notices: opts.batchNotices }),
      // Bounds the worker's memory whatever the batch window (waiting books are evicted first).
      maxCachedWorkflows: config.concurrency.cachedWorkflows,
    }),
    polling({
      ...shared,
      taskQueue: config.temporal.grinTaskQueue,
      // A task a poll brought after a pause waits at its start (src/control/activity-pause.ts).
      activities: heldWhilePaused(
        createGrinActivities(deps),
        { what: 'GRIN requests', pausedSince: () => controls.current().pause.grin?.since },
        grinRunning,
      ),
      // concurrency.grinActivities at once, held while the operator pauses GRIN, paced by a throttle.
      tuner: grinGateTuner(grinGate),
      // One budget for GRIN across every worker, enforced by the Temporal server.
      maxTaskQueueActivitiesPerSecond: config.grin.rateLimitPerSecond,
    }),
    polling({
      ...shared,
      taskQueue: sharedFileQueueName(config),
      // A download a poll brought after a pause waits at its start, heartbeating, until unpaused.
      activities: heldWhilePaused(
        createFileHostActivities(deps, { download: opts.download }),
        { what: 'downloads', pausedSince: () => controls.current().pause.downloads?.since },
        downloadsRunning,
      ),
      // Take a new book only while this host holds fewer than booksOnHost (each slot may bring one).
      tuner: admissionTuner(deps.hostBooks),
      // Downloads start here (fetchArchive): admitted at GRIN's pace, as the GRIN queue's calls are.
      maxTaskQueueActivitiesPerSecond: config.grin.rateLimitPerSecond,
    }),
    polling({
      ...shared,
      taskQueue: hostQueue,
      activities: createFileActivities(deps, { download: opts.download }),
      maxConcurrentActivityTaskExecutions: config.concurrency.fileActivities,
    }),
  ]);

  // Books that left without a clean-up here (parked, cancelled elsewhere, moved, back to a download)
  // give back their place; the books found on disk at start are checked at once.
  const reconcileMs = opts.hostBooksReconcileMs ?? HOST_BOOKS_RECONCILE_MS;
  let checking = false;
  const reconcile = () => {
    if (checking) return;
    checking = true;
    // A token that cannot be read now keeps its book held until the next look.
    const lookup = (b: string) => deps.board.get(b);
    void deps.hostBooks
      .reconcile(lookup, hostQueue, { graceMs: reconcileMs })
      // A download killed here and finished on another host leaves its `.part` behind: removed once useless.
      .then(() => removeStalePartials(config.processingDir, lookup, { graceMs: reconcileMs }))
      .catch(() => undefined)
      .finally(() => (checking = false));
  };
  reconcile();
  const reconciling = setInterval(reconcile, reconcileMs);
  reconciling.unref();
  const stallWatch =
    opts.stallWatch !== false && config.metrics.stallCheckSeconds > 0
      ? startStallWatch({
          config,
          board: deps.board,
          logger: opts.logger ?? loggerFrom(config),
          metrics,
          notifier: deps.notifier,
          ...opts.stallWatch,
        })
      : undefined;
  // The disk's room changes as books write and free files: admission looks again at each measure.
  const measuring = setInterval(() => {
    void deps.hostBooks.disk?.refresh().then(
      () => deps.hostBooks.recheck(),
      () => undefined,
    );
  }, opts.diskCheckMs ?? DISK_CHECK_MS);
  measuring.unref();
  markRunning(self);
  const group = workerGroup(members);
  return {
    hostQueue,
    operatorState: () => ({
      grinPaused: grinGate.isPaused,
      downloadsPaused: deps.hostBooks.pausedByOperator,
      grinRunning: grinRunning.running,
      downloadsRunning: downloadsRunning.running,
      downloadSlots: deps.hostBooks.reserved,
      downloadCap: deps.hostBooks.operatorDownloadCap,
    }),
    async run() {
      try {
        await group.run();
      } finally {
        clearInterval(reconciling);
        controls.stop();
        await stallWatch?.stop();
        // Parks grouped and not sent yet go out now (best effort, bounded by the notifier's retries).
        await deps.notifier?.flush();
        clearInterval(measuring);
        markStopped(self);
        if (ownConnection) await connection.close();
      }
    },
    shutdown: () => group.shutdown(),
  };
}

/**
 * The worker's own check before it connects: every secret it needs must be readable now, the same
 * check `check-config` makes. A worker that polled without them would take books only to have
 * each wait for the secret; refusing to start says what to fix at once. Returns the lines to print
 * (empty when all is well).
 */
export async function unreadableSecrets(config: PipelineConfig): Promise<string[]> {
  const { checkSecrets } = await import('./cli/check-config');
  return (await checkSecrets(config))
    .filter((line) => line.outcome === 'failed')
    .map((line) => `grin-pipeline worker: not starting: ${line.part}: ${line.text}`);
}

function parseLevel(value: string): LogLevel {
  const level = value.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new InvalidArgumentError('expected debug, info, warn or error.');
  return level;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('grin-pipeline-worker')
    .description('Run the grin-pipeline Temporal workers on this host until interrupted (Ctrl-C stops cleanly).')
    .option('-c, --config <file>', 'pipeline config file (YAML); default: $GRIN_PIPELINE_CONFIG')
    .option('--host-id <id>', "name of this host's file-stage queue", hostname())
    .option('--log-level <level>', 'debug, info, warn or error (default: logging.level in the config)', parseLevel)
    .parse(argv);
  const opts = program.opts<{ config?: string; hostId: string; logLevel?: LogLevel }>();
  // As the CLI: built-in defaults would poll with a board in ./data/pipeline that is nobody's.
  if (!opts.config && !process.env[CONFIG_FILE_ENV]) {
    process.stderr.write(`error: ${noConfigMessage()}\n`);
    process.exit(2);
  }
  const config = loadConfig({ file: opts.config });
  const refusals = await unreadableSecrets(config);
  if (refusals.length > 0) {
    process.stderr.write(
      `${refusals.join('\n')}\n(fix the setting or the file, check with \`grin-pipeline check-config\`, then start the worker again)\n`,
    );
    process.exit(2);
  }
  const logger = loggerFrom(config, opts.logLevel);
  installPipelineRuntime({ logger, metrics: config.metrics });
  const workers = await createPipelineWorkers(config, { hostId: opts.hostId, logger });
  const metricsUrl = config.metrics.port > 0 ? `, metrics http://${config.metrics.host}:${config.metrics.port}/metrics` : '';
  process.stderr.write(
    `grin-pipeline worker: Temporal ${config.temporal.address}, directory ${config.grin.directory}, file queue ${workers.hostQueue}${metricsUrl}\n`,
  );
  const stop = () => workers.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await workers.run();
}

if (require.main === module) {
  scrubStandardStreams();
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit((err as { exitCode?: number }).exitCode ?? 1);
  });
}

/**
 * Books in 01_requested wait for the directory's conversion watcher: one left on task queues the
 * config no longer names is replaced at start (tell-converted-books.ts), since no new request may
 * come to do it. A failure only warns: the next request checks again.
 */
async function reviveWatcherIfBooksWait(
  config: PipelineConfig,
  connection: NativeConnection,
  board: Board,
  logger: { warn(message: string): void },
): Promise<void> {
  try {
    if ((await board.countsOf(['01_requested']))['01_requested'] === 0) return;
    await reviveStaleConversionWatcher(new Client({ connection, namespace: config.temporal.namespace }), config, (line) =>
      logger.warn(line),
    );
  } catch (err) {
    logger.warn(
      `Could not check the conversion watcher of ${config.grin.directory} at start (${String(err)}); the next conversion request checks again.`,
    );
  }
}
