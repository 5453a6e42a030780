/**
 * Shared set-up for integration tests that run books through the real Temporal dev server: a config
 * pointing at the simulator and at local or S3 storage, a workflow bundle built once per test file,
 * and in-process workers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { deepMerge, loadConfig } from '../../src/config/load';
import { simulatedPipelineOverrides } from '../../devkit/devtools/simulated-pipeline';
import type { PipelineConfig } from '../../src/config/types';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../devkit/simulator';
import { createPipelineWorkers, installQuietRuntime, type PipelineWorkerOptions, type PipelineWorkers } from '../../src/worker';

export function temporalAddress(): string {
  const address = process.env.GRIN_TEST_TEMPORAL_ADDRESS;
  if (!address)
    throw new Error('GRIN_TEST_TEMPORAL_ADDRESS is not set: run integration tests through jest (global setup starts the servers)');
  return address;
}

export function s3Endpoint(): string {
  const endpoint = process.env.GRIN_TEST_S3_ENDPOINT;
  if (!endpoint) throw new Error('GRIN_TEST_S3_ENDPOINT is not set: run integration tests through jest (global setup starts the servers)');
  return endpoint;
}

let bundle: Promise<WorkflowBundle> | undefined;
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: quietBundlerLogger });
  return bundle;
}

const noop = () => undefined;
const quietBundlerLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: (m: string) => process.stderr.write(`${m}\n`),
  log: noop,
};

export interface TestEnv {
  dir: string;
  config: PipelineConfig;
  cleanup(): void;
}

/** A fresh pipeline (own task queues, board, processing and storage folders) against `sim`. */
export function testEnv(sim: RunningSimulator, name: string, overrides: Record<string, unknown> = {}): TestEnv {
  const dir = mkdtempSync(join(tmpdir(), `grin-${name}-`));
  const unique = `${name}-${Date.now().toString(36)}`;
  const base = deepMerge(simulatedPipelineOverrides(sim, dir, 'sim-token'), {
    temporal: {
      address: temporalAddress(),
      workflowTaskQueue: `wf-${unique}`,
      grinTaskQueue: `grin-${unique}`,
      fileTaskQueuePrefix: `files-${unique}`,
    },
    grin: { pollIntervalSeconds: 1, rateLimitPerSecond: 50 },
    concurrency: { fileActivities: 4, grinActivities: 8 },
    // Failing stages are tried again at most 5 s apart (not minutes): a test whose fault clears
    // waits seconds, not a production backoff, for its books to go on.
    timeouts: { grinRetryMaxSeconds: 5, fileRetryMaxSeconds: 5 },
  });
  const config = loadConfig({ env: {}, overrides: deepMerge(base, overrides) as object });
  return { dir, config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunningWorkers extends PipelineWorkers {
  stop(): Promise<void>;
}

export async function startWorkers(config: PipelineConfig, opts: PipelineWorkerOptions = {}): Promise<RunningWorkers> {
  installQuietRuntime('ERROR');
  const workers = await createPipelineWorkers(config, { hostId: 'test-host', workflowBundle: await workflowBundle(), ...opts });
  const running = workers.run();
  return {
    ...workers,
    async stop() {
      workers.shutdown();
      await running;
    },
  };
}

export async function temporalClient(): Promise<Client> {
  const connection = await Connection.connect({ address: temporalAddress() });
  return new Client({ connection });
}

let directories = 0;
/**
 * A GRIN directory no other test uses. Book workflow ids are `grin/<directory>/<barcode>` on one
 * Temporal server for the whole run, and the simulator's barcodes follow its seed: two test files
 * on the default directory and the same seed would share (and skip) each other's books.
 */
export function uniqueDirectory(name: string): string {
  directories += 1;
  return `${name.replace(/[^A-Za-z0-9_-]/g, '')}-${Date.now().toString(36)}${directories}`;
}

/** A simulator on a directory of its own (see uniqueDirectory). */
export function startTestSimulator(name: string, options: SimulatorOptions): Promise<RunningSimulator> {
  return startSimulator({ directory: uniqueDirectory(name), ...options });
}

export interface SimulatedPipeline {
  sim: RunningSimulator;
  env: TestEnv;
  workers: RunningWorkers;
}

/**
 * Registers beforeAll/afterAll that start a simulator, a fresh pipeline against it and in-process
 * workers, and stop them all afterwards. Read the fields inside tests (they are set in beforeAll).
 */
export function useSimulatedPipeline(
  name: string,
  simOptions: SimulatorOptions,
  overrides: Record<string, unknown> = {},
): SimulatedPipeline {
  const ctx = {} as SimulatedPipeline;
  beforeAll(async () => {
    ctx.sim = await startTestSimulator(name, simOptions);
    ctx.env = testEnv(ctx.sim, name, overrides);
    ctx.workers = await startWorkers(ctx.env.config);
  });
  afterAll(async () => {
    await ctx.workers?.stop();
    await ctx.sim?.close();
    ctx.env?.cleanup();
  });
  return ctx;
}

/** Storage settings for a test's own bucket on the S3 test server (or on `endpoint`, e.g. a proxy in front of it). */
export function testS3Storage(opts: { bucket: string; prefix?: string; endpoint?: string }) {
  process.env.GRIN_TEST_S3_ACCESS_KEY = 'test-access-key';
  process.env.GRIN_TEST_S3_SECRET_KEY = 'test-secret-key';
  return {
    kind: 's3' as const,
    bucket: opts.bucket,
    ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
    region: 'us-east-1',
    endpoint: opts.endpoint ?? s3Endpoint(),
    forcePathStyle: true,
    accessKeyId: { env: 'GRIN_TEST_S3_ACCESS_KEY' },
    secretAccessKey: { env: 'GRIN_TEST_S3_SECRET_KEY' },
  };
}
