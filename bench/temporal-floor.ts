/**
 * The floor under the pipeline's per-book cost: what Temporal alone costs for a book of the
 * pipeline's shape, with no work in it. N books, started as children of one parent, each recording
 * two upserts, three local activities and a chain of activities that return at once, run through
 * the real Temporal dev server and one in-process worker set up as the pipeline's (the same
 * workflow cache, four workers on four task queues). Prints the worker's and the server's CPU per
 * book, history events per book and wall time, for each chain length asked; the difference between
 * two lengths is the cost of one more activity. Asserts nothing.
 *
 *   npm run build && node dist/bench/temporal-floor.js --books 200 --activities 0,5,10
 */
import { Command, InvalidArgumentError } from 'commander';
import { Worker, NativeConnection } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { DEFAULT_CACHED_WORKFLOWS } from '../src/config/schema';
import { freePort, startTemporalDevServer } from '../devkit/devtools/servers';
import { installQuietRuntime } from '../src/worker';
import type { FloorActivities } from './floor-workflows';
import { historyCost, ownCpuSeconds, sampleProcess } from './pipeline-cost';
import { formatServerTime, scrapeServerTime } from './server-time';

const QUEUES = { books: 'floor-books', grin: 'floor-grin', shared: 'floor-files', host: 'floor-host' };

const activities: FloorActivities = {
  async stage(input) {
    return { ...input, bucket: `0${input.stage}_done` };
  },
};

function chainLengths(value: string): number[] {
  const lengths = value.split(',').map((s) => Number(s.trim()));
  if (lengths.length === 0 || lengths.some((n) => !Number.isInteger(n) || n < 0))
    throw new InvalidArgumentError('expected whole numbers ≥ 0 separated by commas, e.g. 0,5,10.');
  return lengths;
}

function rssMiB(): string {
  return (process.memoryUsage.rss() / 1024 ** 2).toFixed(0);
}

async function main(): Promise<void> {
  const opts = new Command('temporal-floor')
    .description(
      "What Temporal alone costs per book of the pipeline's shape (activities that do nothing); prints figures, asserts nothing.",
    )
    .option('--books <n>', 'books per run', Number, 200)
    .option('--activities <list>', 'chain lengths to run, comma-separated (the pipeline runs 5)', chainLengths, [0, 5, 10])
    .option('--cached-workflows <n>', 'maxCachedWorkflows, as concurrency.cachedWorkflows', Number, DEFAULT_CACHED_WORKFLOWS)
    .parse(process.argv)
    .opts<{ books: number; activities: number[]; cachedWorkflows: number }>();
  const lengths = opts.activities;

  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const temporal = await startTemporalDevServer({ headless: true, metricsPort });
  installQuietRuntime('ERROR');
  const connection = await NativeConnection.connect({ address: temporal.address });
  const clientConnection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection: clientConnection });
  // The pipeline's arrangement: a workflow worker with local activities, and a worker per activity queue.
  const workers = await Promise.all([
    Worker.create({
      connection,
      taskQueue: QUEUES.books,
      workflowsPath: require.resolve('./floor-workflows'),
      activities,
      maxCachedWorkflows: opts.cachedWorkflows,
    }),
    Worker.create({ connection, taskQueue: QUEUES.grin, activities, maxConcurrentActivityTaskExecutions: 16 }),
    Worker.create({ connection, taskQueue: QUEUES.shared, activities, maxConcurrentActivityTaskExecutions: 4 }),
    Worker.create({ connection, taskQueue: QUEUES.host, activities, maxConcurrentActivityTaskExecutions: 4 }),
  ]);
  const running = Promise.all(workers.map((w) => w.run()));
  try {
    console.log(`books ${opts.books} per run, workflows cached ${opts.cachedWorkflows}, node ${process.version}; activities do nothing`);
    console.log(`worker process RSS with its workers created, before any book: ${rssMiB()} MiB`);
    for (const [round, length] of lengths.entries()) {
      const barcodes = Array.from({ length: opts.books }, (_, i) => `FLOOR${round}${String(i).padStart(7, '0')}`);
      const serverTimeBefore = await scrapeServerTime(metricsUrl);
      const before = { worker: ownCpuSeconds(), server: sampleProcess(temporal.pid).cpuSeconds };
      const started = Date.now();
      await client.workflow.execute('floorBatch', {
        taskQueue: QUEUES.books,
        workflowId: `floor-batch-${round}`,
        args: [{ barcodes, activities: length, queues: [QUEUES.grin, QUEUES.shared, QUEUES.host], bookQueue: QUEUES.books }],
      });
      const seconds = (Date.now() - started) / 1000;
      const after = { worker: ownCpuSeconds(), server: sampleProcess(temporal.pid).cpuSeconds };
      const serverTimeAfter = await scrapeServerTime(metricsUrl);
      let events = 0;
      let actions = 0;
      for (const barcode of barcodes) {
        const cost = await historyCost(client, `floor-book-${barcode}`);
        events += cost.events;
        actions += cost.actions;
      }
      const n = opts.books;
      const perBook = (s: number) => ((s / n) * 1000).toFixed(0);
      console.log(
        `${length} activities: wall ${seconds.toFixed(1)} s (${((n / seconds) * 3600).toFixed(0)} books/hour); CPU per book worker ${perBook(after.worker - before.worker)} ms + server ${perBook(after.server - before.server)} ms = ${perBook(after.worker - before.worker + after.server - before.server)} ms; ${(events / n).toFixed(1)} events, ${(actions / n).toFixed(1)} actions per book; worker RSS now ${rssMiB()} MiB`,
      );
      if (process.env.FLOOR_SERVER_TIME)
        for (const line of formatServerTime(serverTimeBefore, serverTimeAfter, n)) console.log(`  ${line}`);
    }
    console.log(
      `peak RSS: worker process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB, Temporal server ${sampleProcess(temporal.pid).peakRssMiB.toFixed(0)} MiB`,
    );
  } finally {
    for (const worker of workers) worker.shutdown();
    await running;
    await connection.close();
    await clientConnection.close();
    await temporal.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
