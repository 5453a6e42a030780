/**
 * Shared plumbing for the CLI commands: config loading, the Temporal client, the book settings the
 * workflows get, and turning errors into a message plus an exit code (2 = bad input or config).
 */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config/load';
import type { PipelineConfig } from '../config/types';
import type { BookSettings } from '../workflows/contracts';

export interface GlobalOptions {
  config?: string;
}

export function configFrom(opts: GlobalOptions, overrides?: object): PipelineConfig {
  return loadConfig({ file: opts.config, overrides });
}

export async function connectClient(config: PipelineConfig): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.temporal.address, connectTimeout: 5000 });
  } catch (err) {
    throw new UsageError(
      `Cannot reach the Temporal server at ${config.temporal.address} (${err instanceof Error ? err.message : String(err)}).\n` +
        'Start one (`temporal server start-dev`, or `npm run demo` which starts everything), or set temporal.address in the config / TEMPORAL_ADDRESS.',
      1,
    );
  }
  return new Client({ connection, namespace: config.temporal.namespace });
}

/** Workflow tunables derived from the config; tests pass shorter intervals. */
export function bookSettingsFrom(config: PipelineConfig, overrides: Partial<BookSettings> = {}): BookSettings {
  return {
    grinTaskQueue: config.temporal.grinTaskQueue,
    fileTaskQueue: config.temporal.fileTaskQueuePrefix,
    pollIntervalSeconds: config.grin.pollIntervalSeconds,
    queueFullRetrySeconds: Math.max(60, config.grin.pollIntervalSeconds * 2),
    maxConversionWaitHours: 30 * 24,
    fileStageAttempts: 5,
    hostPickupTimeoutSeconds: 600,
    heartbeatTimeoutSeconds: 120,
    ...overrides,
  };
}

/** An error the user can fix: printed without a stack trace. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export function reportAndExit(err: unknown): never {
  const e = err as { exitCode?: number; message?: string; stack?: string; name?: string };
  const expected = e?.exitCode !== undefined || ['ConfigError', 'UsageError', 'SecretError', 'InvalidBarcodeError'].includes(e?.name ?? '');
  process.stderr.write(`error: ${expected ? e.message : (e?.stack ?? String(err))}\n`);
  process.exit(e?.exitCode ?? (expected ? 2 : 1));
}
