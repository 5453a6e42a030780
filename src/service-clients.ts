/**
 * The one place that turns a config into the live parts both the worker and the CLI use: the board,
 * the GRIN client, the storage and the passphrase accessor. Each part is built only when asked for,
 * so a CLI command that only reads the board never needs GRIN credentials or S3 keys.
 */
import { Board } from './buckets/board';
import { readSecret } from './config/secrets';
import type { PipelineConfig } from './config/types';
import { createTokenSource } from './grin/auth';
import { GrinClient } from './grin/client';
import type { GrinApi } from './grin/types';
import { createStorage } from './storage';
import type { BookStorage } from './storage/types';

export interface ServiceClients {
  board: Board;
  grin: GrinApi;
  storage: BookStorage;
  /** The GPG passphrase, read at each use (an operator who fixes the file can just `retry`); never logged. */
  passphrase: () => string;
}

export interface ServiceClientOptions {
  /** Replace the GRIN client (tests, the demo). */
  grin?: GrinApi;
  /** Replace the storage (tests). */
  storage?: BookStorage;
  /** Where the GRIN client's warnings go (retries, a listing stopped early); default: nowhere. */
  grinLogger?: { warn(message: string): void };
  /** Told each GRIN HTTP status by endpoint (metrics). */
  onGrinResponse?: (endpoint: string, status: number | 'error') => void;
}

export async function buildServiceClients(config: PipelineConfig, opts: ServiceClientOptions = {}): Promise<ServiceClients> {
  return {
    board: await openBoard(config),
    grin: opts.grin ?? (await grinClientFrom(config, { logger: opts.grinLogger, onResponse: opts.onGrinResponse })),
    storage: opts.storage ?? storageFrom(config, 'activities'),
    passphrase: passphraseFrom(config),
  };
}

export function openBoard(config: PipelineConfig): Promise<Board> {
  return Board.open(config.pipelineDir);
}

/** One attempt per call: the worker's activities are retried by Temporal, the CLI's commands by src/cli/retry.ts. */
export async function grinClientFrom(
  config: PipelineConfig,
  opts: { logger?: { warn(message: string): void }; onResponse?: (endpoint: string, status: number | 'error') => void } = {},
): Promise<GrinClient> {
  return new GrinClient({
    logger: opts.logger,
    onResponse: opts.onResponse,
    baseUrl: config.grin.baseUrl,
    directory: config.grin.directory,
    tokens: await createTokenSource(config.grin),
    timeouts: { connectMs: config.grin.timeouts.connectSeconds * 1000, requestMs: config.grin.timeouts.requestSeconds * 1000 },
    minDownloadRate: { bytes: config.grin.minDownloadRate.bytes, windowMs: config.grin.minDownloadRate.windowSeconds * 1000 },
  });
}

/**
 * The configured storage for activities (the S3 SDK's own retries off: Temporal's retry policy is
 * the one layer) or for a CLI command (SDK retries kept: no other layer is around a command, and a
 * command's S3 requests are many and independent, so retrying the one that failed beats redoing the
 * command, as a retry helper around it would).
 */
export function storageFrom(config: PipelineConfig, use: 'activities' | 'cli'): BookStorage {
  return createStorage(config.storage, { partsInFlight: config.concurrency.uploadParts, sdkRetries: use === 'cli' });
}

export function passphraseFrom(config: PipelineConfig): () => string {
  return () => readSecret(config.grin.gpgPassphrase, 'GPG passphrase');
}
