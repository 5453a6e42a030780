/**
 * What the pipeline benchmarks share: a simulator of books GRIN has already converted, the config
 * that runs them, and a watch on the processing folder (how many books' files, how many bytes).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { barcodesOnDisk } from '../src/activities/host-books';
import { deepMerge, loadConfig } from '../src/config/load';
import type { PipelineConfig } from '../src/config/types';
import { simulatedPipelineOverrides, type SimulatorEndpoint } from '../devkit/devtools/simulated-pipeline';
import type { SimulatorOptions } from '../devkit/simulator';

/** Every book converted before the clock starts, GRIN's limits lifted: the time measured is the pipeline's. */
export function convertedBooks(
  barcodes: string[],
  opts: { pages: number; pageKib: number; dataDir: string },
): SimulatorOptions & { dataDir: string } {
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
export function benchConfig(
  sim: SimulatorEndpoint,
  dir: string,
  opts: {
    temporalAddress: string;
    fileActivities: number;
    window: number;
    booksOnHost?: number;
    cachedWorkflows?: number;
    /** Storage in place of the local folder (replaced whole: another kind's keys are unknown). */
    storage?: object;
  },
): PipelineConfig {
  return loadConfig({
    env: {},
    overrides: deepMerge(simulatedPipelineOverrides(sim, dir, 'sim-token'), {
      temporal: { address: opts.temporalAddress },
      grin: { pollIntervalSeconds: 1, rateLimitPerSecond: 200 },
      concurrency: {
        fileActivities: opts.fileActivities,
        grinActivities: 16,
        batchWindow: opts.window,
        ...(opts.booksOnHost !== undefined ? { booksOnHost: opts.booksOnHost } : {}),
        ...(opts.cachedWorkflows !== undefined ? { cachedWorkflows: opts.cachedWorkflows } : {}),
      },
      ...(opts.storage ? { storage: opts.storage } : {}),
    }) as object,
  });
}

/** Bytes of every file under `path` (0 when it is gone: a book cleaned up while it was being walked). */
async function bytesUnder(path: string): Promise<number> {
  const s = await stat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  const names = await readdir(path).catch(() => [] as string[]);
  let total = 0;
  for (const name of names) total += await bytesUnder(join(path, name));
  return total;
}

export interface DiskWatch {
  /** Stops sampling; the highest figures seen (each its own high-water, maybe from different samples). */
  stop(): Promise<{ peakBooks: number; peakBytes: number; samples: number }>;
}

/**
 * Samples the processing folder every `intervalMs` (one sample at a time, so a slow walk on a busy
 * machine lowers the rate, never piles up): books with files there, and their bytes (without
 * `processed/`, the retention copies). A high-water between two samples can be missed.
 */
export function watchProcessingDir(processingDir: string, intervalMs: number): DiskWatch {
  let peakBooks = 0;
  let peakBytes = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const names = await readdir(processingDir).catch(() => [] as string[]);
      let bytes = 0;
      for (const name of names) if (name !== 'processed') bytes += await bytesUnder(join(processingDir, name));
      peakBooks = Math.max(peakBooks, (await barcodesOnDisk(processingDir)).length);
      peakBytes = Math.max(peakBytes, bytes);
      samples++;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { peakBooks, peakBytes, samples };
    },
  };
}
