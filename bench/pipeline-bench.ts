/**
 * End-to-end throughput of the pipeline on this machine: N books through the real Temporal dev
 * server, the GRIN simulator and one in-process worker with local storage, from `start-batch` to the
 * last book in 07_stored. GRIN's own limits (~5,000 conversions a day) are switched off in the
 * simulator and every package is converted up front, so this measures our work per book (request,
 * wait, HEAD, download, decrypt+unpack, verify, derivatives, upload, clean-up), not GRIN's.
 * Prints figures; asserts nothing.
 *
 *   npm run build && node dist/bench/pipeline-bench.js --books 200 --pages 10 --page-kib 256
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Board } from '../src/buckets/board';
import { startBatch } from '../src/cli/batch';
import { bookSettingsFrom, connectClient } from '../src/cli/common';
import { startTemporalDevServer } from '../devkit/devtools/servers';
import { startSimulator } from '../devkit/simulator';
import { createPipelineWorkers, installQuietRuntime } from '../src/worker';
import { benchConfig, convertedBooks } from './bench-setup';

async function main(): Promise<void> {
  const opts = new Command('pipeline-bench')
    .option('--books <n>', 'books in the batch', Number, 200)
    .option('--pages <n>', 'pages per book', Number, 10)
    .option('--page-kib <n>', 'KiB per page image', Number, 256)
    .option('--file-activities <n>', 'file stages in parallel on the worker', Number, 4)
    .parse(process.argv)
    .opts<{ books: number; pages: number; pageKib: number; fileActivities: number }>();

  const dir = mkdtempSync(join(tmpdir(), 'grin-pipeline-bench-'));
  const temporal = await startTemporalDevServer({ headless: true });
  // Every package already converted and generated before the clock starts, so the timing is ours,
  // not the simulator's (it shares this process and these two cores).
  const barcodes = Array.from({ length: opts.books }, (_, i) => `BENCH${String(i).padStart(6, '0')}`);
  const sim = await startSimulator(convertedBooks(barcodes, { pages: opts.pages, pageKib: opts.pageKib, dataDir: join(dir, 'sim') }));
  const config = benchConfig(sim, dir, { temporalAddress: temporal.address, fileActivities: opts.fileActivities, window: opts.books });
  installQuietRuntime('ERROR');
  const workers = await createPipelineWorkers(config, { hostId: 'bench' });
  const running = workers.run();
  try {
    // Pre-build every package so archive generation by the simulator is not timed.
    const pregen = Date.now();
    for (const b of sim.barcodes) await sim.archive(b).catch(() => null);
    process.stderr.write(`(simulator packages ready in ${((Date.now() - pregen) / 1000).toFixed(1)} s)\n`);

    const client = await connectClient(config);
    const started = Date.now();
    const handle = await startBatch(client, config, sim.barcodes, {
      batchId: 'bench',
      settings: bookSettingsFrom(config, { pollIntervalSeconds: 1 }),
    });
    const summary = await handle.result();
    const seconds = (Date.now() - started) / 1000;
    const counts = await (await Board.open(config.pipelineDir)).counts();
    const bytes = sim.requestLog.filter((r) => r.method === 'GET' && r.path.endsWith('.tar.gz.gpg')).reduce((n, r) => n + r.bytesSent, 0);
    const rss = process.resourceUsage().maxRSS / 1024;
    console.log(
      `books ${opts.books} × ${opts.pages} pages × ${opts.pageKib} KiB, file activities ${opts.fileActivities}, node ${process.version}`,
    );
    console.log(`stored ${counts['07_stored']}, parked ${counts.failed} (batch: ${summary.stored} stored, ${summary.failed} failed)`);
    console.log(
      `wall ${seconds.toFixed(1)} s  →  ${((counts['07_stored'] / seconds) * 3600).toFixed(0)} books/hour, ${(bytes / seconds / 1e6).toFixed(1)} MB/s downloaded`,
    );
    console.log(`peak RSS of this process (worker + simulator + client) ${rss.toFixed(0)} MiB`);
  } finally {
    workers.shutdown();
    await running;
    await sim.close();
    await temporal.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
