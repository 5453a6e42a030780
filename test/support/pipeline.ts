/**
 * Shared set-up for integration tests that run books through the real Temporal dev server: a config
 * pointing at the simulator and at local or S3 storage, a workflow bundle built once per test file,
 * and in-process workers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { loadConfig } from '../../src/config/load';
import type { PipelineConfig } from '../../src/config/types';
import type { RunningSimulator } from '../../src/simulator';
import { createPipelineWorkers, installQuietRuntime, type PipelineWorkerOptions, type PipelineWorkers } from '../../src/worker';

export function temporalAddress(): string {
  const address = process.env.GRIN_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('GRIN_TEST_TEMPORAL_ADDRESS is not set: run integration tests through jest (global setup starts the servers)');
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
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => process.stderr.write(`${m}\n`), log: noop };

export interface TestEnv {
  dir: string;
  config: PipelineConfig;
  cleanup(): void;
}

/** A fresh pipeline (own task queues, board, processing and storage folders) against `sim`. */
export function testEnv(sim: RunningSimulator, name: string, overrides: Record<string, unknown> = {}): TestEnv {
  const dir = mkdtempSync(join(tmpdir(), `grin-${name}-`));
  writeFileSync(join(dir, 'passphrase.txt'), sim.passphrase);
  writeFileSync(join(dir, 'token.txt'), 'sim-token');
  const unique = `${name}-${Date.now().toString(36)}`;
  const base = {
    temporal: {
      address: temporalAddress(),
      workflowTaskQueue: `wf-${unique}`,
      grinTaskQueue: `grin-${unique}`,
      fileTaskQueuePrefix: `files-${unique}`,
    },
    grin: {
      baseUrl: sim.baseUrl,
      directory: sim.directory,
      accessToken: { file: join(dir, 'token.txt') },
      gpgPassphrase: { file: join(dir, 'passphrase.txt') },
      pollIntervalSeconds: 1,
      rateLimitPerSecond: 50,
    },
    pipelineDir: join(dir, 'pipeline'),
    processingDir: join(dir, 'processing'),
    storage: { kind: 'local', path: join(dir, 'storage') },
    concurrency: { fileActivities: 4, grinActivities: 8 },
  };
  // A storage section in the overrides replaces the local default whole (kinds have different keys).
  const merged = deepMerge(overrides.storage ? { ...base, storage: undefined } : base, overrides);
  const config = loadConfig({ env: {}, overrides: merged });
  return { dir, config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
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
