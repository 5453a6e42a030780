#!/usr/bin/env node
/**
 * The worker process of `npm run chaos`: exactly the pipeline's workers (`createPipelineWorkers`, as
 * `src/worker.ts` runs them), except that the download stage reads the processing disk's usage
 * through a switch file. While `--disk-usage-file` holds a fraction (e.g. `0.999`), that is the
 * disk's usage; when the file is absent or empty, the real usage (statfs) counts. This is how the
 * harness crosses `limits.diskUsageThreshold` during downloads without filling a shared disk.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Command } from 'commander';
import { loadConfig } from '../../../src/config/load';
import { diskUsage } from '../../../src/activities/disk-space';
import { createPipelineWorkers, installQuietRuntime } from '../../../src/worker';

/** Usage from the switch file when it holds a number, else the real one. */
export function switchableDiskUsage(file: string): (path: string) => Promise<number> {
  return async (path) => {
    const text = await readFile(file, 'utf8').catch(() => '');
    const forced = Number.parseFloat(text);
    return Number.isFinite(forced) ? forced : diskUsage(path);
  };
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command('chaos-worker')
    .description('The pipeline workers with a switchable disk-usage source (for npm run chaos).')
    .requiredOption('-c, --config <file>', 'pipeline config file')
    .option('--host-id <id>', "name of this host's file-stage queue", hostname())
    .requiredOption('--disk-usage-file <file>', 'file that, while it holds a fraction, overrides the processing disk usage')
    .option('--log-level <level>', 'DEBUG, INFO, WARN or ERROR', 'WARN')
    .parse(argv)
    .opts<{ config: string; hostId: string; diskUsageFile: string; logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' }>();
  const config = loadConfig({ file: opts.config });
  installQuietRuntime(opts.logLevel);
  const workers = await createPipelineWorkers(config, {
    hostId: opts.hostId,
    // Checks every 256 KiB of a transfer; a refused download is tried again after 5 s, so a crossing is seen mid-download.
    download: { diskUsage: switchableDiskUsage(opts.diskUsageFile), diskCheckBytes: 256 * 1024, diskRetrySeconds: 5 },
  });
  process.stderr.write(`chaos worker ${process.pid}: Temporal ${config.temporal.address}, file queue ${workers.hostQueue}\n`);
  const stop = () => workers.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await workers.run();
}

if (require.main === module) {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
