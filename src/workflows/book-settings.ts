/**
 * The settings a book's workflow runs with (BookSettings, in contracts.ts), derived from the config
 * by whoever starts books: the CLI, the demo, the tests. Beside the workflows' contracts; pure and
 * importing only types, though no workflow imports it (a workflow gets its settings as input).
 */
import type { PipelineConfig } from '../config/types';
import type { BookSettings } from './contracts';

/** Workflow tunables derived from the config; tests pass shorter intervals. */
export function bookSettingsFrom(config: PipelineConfig, overrides: Partial<BookSettings> = {}): BookSettings {
  return {
    grinTaskQueue: config.temporal.grinTaskQueue,
    fileTaskQueue: config.temporal.fileTaskQueuePrefix,
    pollIntervalSeconds: config.grin.pollIntervalSeconds,
    queueFullRetrySeconds: Math.max(60, config.grin.pollIntervalSeconds * 2),
    maxConversionWaitHours: config.timeouts.conversionWaitDays * 24,
    fileStageMaxDays: config.timeouts.fileStageMaxDays,
    hostPickupTimeoutSeconds: config.timeouts.hostPickupSeconds,
    heartbeatTimeoutSeconds: config.timeouts.heartbeatSeconds,
    grinRetryMaxSeconds: config.timeouts.grinRetryMaxSeconds,
    fileRetryMaxSeconds: config.timeouts.fileRetryMaxSeconds,
    ...overrides,
  };
}
