/** What the pipeline benchmarks share: a simulator of books GRIN has already converted, and the config that runs them. */
import { deepMerge, loadConfig } from '../src/config/load';
import type { PipelineConfig } from '../src/config/types';
import { simulatedPipelineOverrides, type SimulatorEndpoint } from '../src/devtools/simulated-pipeline';
import type { SimulatorOptions } from '../src/simulator';

/** Every book converted before the clock starts, GRIN's limits lifted: the time measured is the pipeline's. */
export function convertedBooks(barcodes: string[], opts: { pages: number; pageKib: number; dataDir: string }): SimulatorOptions & { dataDir: string } {
  return {
    barcodes,
    seed: 99,
    initialStates: Object.fromEntries(barcodes.map((b) => [b, 'CONVERTED'])),
    poolCap: barcodes.length,
    conversionDelaySeconds: 1,
    conversionsPerDay: 10_000_000,
    pages: { min: opts.pages, max: opts.pages },
    pageImageBytes: opts.pageKib * 1024,
    dataDir: opts.dataDir,
  };
}

/** The pipeline's config against `sim` and the Temporal server at `temporalAddress`, data under `dir`. */
export function benchConfig(sim: SimulatorEndpoint, dir: string, opts: { temporalAddress: string; fileActivities: number; window: number }): PipelineConfig {
  return loadConfig({
    env: {},
    overrides: deepMerge(simulatedPipelineOverrides(sim, dir, 'sim-token'), {
      temporal: { address: opts.temporalAddress },
      grin: { pollIntervalSeconds: 1, rateLimitPerSecond: 200 },
      concurrency: { fileActivities: opts.fileActivities, grinActivities: 16, batchWindow: opts.window },
    }) as object,
  });
}
