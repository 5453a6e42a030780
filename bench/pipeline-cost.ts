/**
 * What one book costs, each process measured on its own: N already-converted books through the
 * real Temporal dev server (its own process), the GRIN simulator (its own process) and one
 * in-process worker with local storage. Prints wall time and books/hour, CPU seconds per book of
 * the worker and of the Temporal server, history events and actions per book, and peak RSS of each
 * process in the batch window (each high-water reset when the batch starts), and a baseline measured
 * in the same run on the same archives (`gpg -d | tar -xz` and a copy of the bytes into a folder,
 * before and after the batch: bench/gpg-tar-baseline.ts), with ours/baseline ratios. Also the local disk's
 * high-water (books and bytes under the processing folder, sampled) and the time to the first
 * stored book, for depth first (issue 9); and where the server's time goes, by request and history
 * task, from its own metrics (bench/server-time.ts). Asserts nothing. `--breakdown` runs it again
 * under the CPU profiler and prints the worker's CPU by component and thread (bench/cpu-breakdown.ts).
 * For the worker's top functions, run it under `node --cpu-prof --cpu-prof-dir DIR` and summarise
 * with bench/profile-top.ts.
 *
 *   npm run build && node dist/bench/pipeline-cost.js --books 100 --pages 10 --page-kib 256
 *   npm run bench:cost -- --sizes                      (issue 23's three sizes, one after the other)
 *   npm run bench:cost -- --sizes --breakdown          (the same, each with the component breakdown)
 *   node dist/bench/pipeline-cost.js --books 2000 --window 2000 --pages 2 --page-kib 64 [--books-on-host 6]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { Board } from '../src/buckets/board';
import { startBatch } from '../src/cli/batch';
import { bookSettingsFrom, connectClient } from '../src/cli/common';
import { startSimulatorProcess } from '../devkit/devtools/chaos/processes';
import { freePort, startS3Server, startTemporalDevServer, type RunningServer } from '../devkit/devtools/servers';
import { batchWorkflowId, bookWorkflowId } from '../src/workflows/contracts';
import { createPipelineWorkers, installQuietRuntime } from '../src/worker';
import { gpgTarBaseline, type S3Target } from './gpg-tar-baseline';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ensureRclone } from '../devkit/devtools/tools';
import { nowUs, profiledExecArgv, reportBreakdown, writeWindow, type ThreadReading } from './cpu-breakdown';
import { THREAD_TAGS_ENV } from './thread-tag';
import { benchConfig, convertedBooks, watchProcessingDir } from './bench-setup';
import { formatServerTime, scrapeServerTime } from './server-time';

const EventType = proto.api.enums.v1.EventType;

export interface ProcessSample {
  cpuSeconds: number;
  peakRssMiB: number;
  rssMiB: number;
}

/** CPU (user + system), peak and current RSS of a process (`'self'`: this one), from /proc (Linux). */
export function sampleProcess(pid: number | 'self'): ProcessSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (field: string) => {
    const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
    return kb ? Number(kb[1]) / 1024 : NaN;
  };
  return { cpuSeconds: ticks / 100, peakRssMiB: mib('VmHWM'), rssMiB: mib('VmRSS') };
}

/**
 * Resets a process's peak RSS (`VmHWM`) to its current RSS (Linux: writing 5 to clear_refs), so a
 * later `sampleProcess` reports the peak of what came after, not of setting up. Quietly does
 * nothing where that is not allowed.
 */
export function resetPeakRss(pid: number | 'self'): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not Linux, or not permitted: the peak then includes the setup.
  }
}

/** CPU seconds of each thread of this process, by thread id, with the thread's name. */
export type ThreadCpu = Map<number, { name: string; cpuSeconds: number }>;

/** A `ThreadCpu` reading of this process now (Linux). */
export function threadCpu(): ThreadCpu {
  const threads: ThreadCpu = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      threads.set(Number(tid), { name, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // The thread ended while being read.
    }
  }
  return threads;
}

/**
 * `threadCpu` readings every `intervalMs` until `stop`, which returns the last reading with each
 * thread that ended meanwhile (a decryption thread the pool let go when idle) at its last sampled
 * figure, so its CPU is not lost from the per-thread split (at most one interval of it is).
 */
export function watchThreadCpu(intervalMs: number): { stop(): ThreadCpu } {
  const lastSeen: ThreadCpu = new Map();
  const sample = () => {
    for (const [tid, t] of threadCpu()) lastSeen.set(tid, t);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const now = threadCpu();
      for (const [tid, t] of lastSeen) if (!now.has(tid)) now.set(tid, t);
      return now;
    },
  };
}

/**
 * Where the worker process's CPU went between two `threadCpu` readings: the main thread (activities,
 * board, HTTP), Node's file-system thread pool, the SDK's Rust core, and each other thread that did
 * at least 1 % of the work (the workflow thread, the decryption thread). Threads that ended between
 * the readings are missing unless the later reading comes from `watchThreadCpu`.
 */
export function formatThreadCpu(before: ThreadCpu, after: ThreadCpu, books: number): string {
  const groups = new Map<string, number>();
  let total = 0;
  for (const [tid, { name, cpuSeconds }] of after) {
    const used = cpuSeconds - (before.get(tid)?.cpuSeconds ?? 0);
    total += used;
    const group = tid === process.pid ? 'main thread' : name === 'node' ? `node thread ${tid}` : `${name} threads`;
    groups.set(group, (groups.get(group) ?? 0) + used);
  }
  const shown = [...groups].filter(([, s]) => s >= total * 0.01).sort((a, b) => b[1] - a[1]);
  return `worker CPU by thread (ms per book): ${shown.map(([g, s]) => `${g} ${((s / books) * 1000).toFixed(0)}`).join(', ')}`;
}

/** CPU seconds (user + system) this process has used, all its threads together. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

export interface HistoryCost {
  events: number;
  actions: number;
  byType: Map<string, number>;
}

/**
 * Events of one execution, and its billable actions as Temporal Cloud counts them (approximately):
 * a workflow start, each activity attempt, each timer, signal sent or received, search-attribute
 * upsert, local activity marker and child start. Workflow tasks and completions are not actions.
 */
export async function historyCost(client: Client, workflowId: string, runId?: string): Promise<HistoryCost> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const byType = new Map<string, number>();
  let actions = 0;
  for (const event of history.events ?? []) {
    const type = EventType[event.eventType ?? 0] ?? String(event.eventType);
    byType.set(type, (byType.get(type) ?? 0) + 1);
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
      case EventType.EVENT_TYPE_TIMER_STARTED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
      case EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
      case EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
      case EventType.EVENT_TYPE_MARKER_RECORDED:
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        actions++;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        // One action per attempt: the scheduled event is the first, each retry shows in `attempt`.
        actions += Math.max(event.activityTaskStartedEventAttributes?.attempt ?? 1, 1);
        break;
    }
  }
  return { events: history.events?.length ?? 0, actions, byType };
}

/** Issue 23's three shapes: books × pages × KiB per page image (≈ 2.6 MB, 41.5 MB and 309 MB archives). */
const SIZES = [
  { books: 100, pages: 10, pageKib: 256 },
  { books: 20, pages: 160, pageKib: 256 },
  { books: 5, pages: 1180, pageKib: 256 },
];

/** `--sizes`: each shape in its own process (so each peak RSS is its own), one after the other. */
function runSizes(rest: string[]): void {
  for (const size of SIZES) {
    const args = [
      process.argv[1],
      '--books',
      String(size.books),
      '--pages',
      String(size.pages),
      '--page-kib',
      String(size.pageKib),
      ...rest,
    ];
    console.log(`\n== ${size.books} books × ${size.pages} pages × ${size.pageKib} KiB ==`);
    const done = spawnSync(process.execPath, [...process.execArgv, ...args], { stdio: 'inherit' });
    if (done.status !== 0) throw new Error(`pipeline-cost ${args.slice(1).join(' ')} exited with ${done.status ?? done.signal}`);
  }
}

/**
 * `--breakdown`: the same bench in a child under the CPU profiler (its profiles, thread tags and
 * batch window into a temporary folder), then the breakdown from what it left.
 */
function runProfiled(keep: boolean): void {
  const dir = mkdtempSync(join(tmpdir(), 'grin-pipeline-cost-prof-'));
  const done = spawnSync(process.execPath, [...process.execArgv, ...profiledExecArgv(dir), ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [THREAD_TAGS_ENV]: dir },
  });
  if (done.status !== 0) throw new Error(`profiled pipeline-cost exited with ${done.status ?? done.signal} (profiles in ${dir})`);
  for (const line of reportBreakdown(dir)) console.log(line);
  if (keep) process.stderr.write(`(profiles kept in ${dir})\n`);
  else rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const sizesAt = process.argv.indexOf('--sizes');
  if (sizesAt >= 0) return runSizes(process.argv.slice(2).filter((a) => a !== '--sizes'));
  const opts = new Command('pipeline-cost')
    .description('Per-book cost of the pipeline, each process measured on its own (prints figures, asserts nothing).')
    .option('--books <n>', 'books in the batch', Number, 100)
    .option('--pages <n>', 'pages per book', Number, 10)
    .option('--page-kib <n>', 'KiB per page image', Number, 256)
    .option('--file-activities <n>', 'file stages in parallel on the worker', Number, 4)
    .option('--window <n>', 'books in flight in the batch (default: all)', Number)
    .option('--books-on-host <n>', 'concurrency.booksOnHost (default: the config default, fileActivities + 2)', Number)
    .option('--cached-workflows <n>', 'concurrency.cachedWorkflows (default: the config default)', Number)
    .option('--sample-ms <n>', 'how often the processing folder is sampled', Number, 500)
    .option('--no-history', 'skip reading every history afterwards (events and actions per book)')
    .option('--keep', 'keep the data folder', false)
    .option('--no-baseline', 'skip the gpg | tar baseline (run on the same archives before and after the batch)')
    .option('--storage <kind>', "the pipeline's storage: local (a folder) or s3 (a moto server; the baseline uploads with rclone)", 'local')
    .option('--breakdown', 'run under the CPU profiler and print the worker CPU by component and thread (bench/cpu-breakdown.ts)', false)
    // Handled before this parser (runSizes); listed so --help shows it.
    .option('--sizes', "issue 23's three shapes one after the other, each in its own process: 100 × 2.6 MB, 20 × 41.5 MB, 5 × 309 MB")
    .parse(process.argv)
    .opts<{
      books: number;
      pages: number;
      pageKib: number;
      fileActivities: number;
      window?: number;
      booksOnHost?: number;
      cachedWorkflows?: number;
      sampleMs: number;
      history: boolean;
      keep: boolean;
      baseline: boolean;
      breakdown: boolean;
      storage: string;
    }>();
  if (opts.storage !== 'local' && opts.storage !== 's3') throw new Error(`--storage ${opts.storage}: local or s3`);
  const profileDir = process.env[THREAD_TAGS_ENV];
  if (opts.breakdown && !profileDir) return runProfiled(opts.keep);

  const dir = mkdtempSync(join(tmpdir(), 'grin-pipeline-cost-'));
  const barcodes = Array.from({ length: opts.books }, (_, i) => `COST${String(i).padStart(8, '0')}`);
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const [temporal, sim] = await Promise.all([
    startTemporalDevServer({ headless: true, metricsPort }),
    startSimulatorProcess({
      ...convertedBooks(barcodes, { pages: opts.pages, pageKib: opts.pageKib, dataDir: join(dir, 'sim') }),
      logFile: join(dir, 'simulator.log'),
      oauth: { clientId: 'cost-client', clientSecret: 'cost-secret', refreshToken: 'cost-refresh' },
    }),
  ]);
  // S3: a moto server, the pipeline's objects under ours/, the baseline's under baseline/.
  let s3: (S3Target & { server: RunningServer }) | undefined;
  if (opts.storage === 's3') {
    const server = await startS3Server({ logFile: join(dir, 's3.log') });
    s3 = {
      server,
      rclone: ensureRclone(),
      endpoint: server.address,
      bucket: 'bench',
      prefix: 'baseline/',
      accessKeyId: 'test',
      secretAccessKey: 'test',
    };
    // The worker's S3 client takes its keys from the SDK's usual sources.
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: s3.bucket }));
    client.destroy();
  }
  const simulator = { baseUrl: sim.baseUrl, directory: 'TEST', passphrase: 'simulator-passphrase' };
  const config = benchConfig(simulator, dir, {
    storage: s3 && {
      kind: 's3',
      bucket: s3.bucket,
      prefix: 'ours/',
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      checksums: 'when_required',
    },
    temporalAddress: temporal.address,
    fileActivities: opts.fileActivities,
    window: opts.window ?? opts.books,
    booksOnHost: opts.booksOnHost,
    cachedWorkflows: opts.cachedWorkflows,
  });
  installQuietRuntime('ERROR');
  const workers = await createPipelineWorkers(config, { hostId: 'cost' });
  const running = workers.run();
  try {
    // The simulator makes each package on first request: fetch each once so making them is not timed.
    const pregen = Date.now();
    for (const barcode of barcodes) {
      const res = await fetch(`${sim.baseUrl}/TEST/${barcode}.tar.gz.gpg`, { headers: { authorization: 'Bearer sim-token' } });
      if (!res.ok) throw new Error(`simulator could not make ${barcode}: HTTP ${res.status}`);
      // Drained, not kept: the bench runs the worker in this process, so a whole body held here
      // would count as the worker's memory.
      for await (const _chunk of res.body ?? []) void _chunk;
    }
    process.stderr.write(`(simulator packages ready in ${((Date.now() - pregen) / 1000).toFixed(1)} s)\n`);
    const passphraseFile = join(dir, 'secrets', 'gpg-passphrase.txt');
    const baselineBefore = opts.baseline
      ? await gpgTarBaseline(join(dir, 'sim', 'archives', 'TEST'), passphraseFile, join(dir, 'baseline-1'), opts.fileActivities, s3)
      : undefined;
    process.stderr.write(
      `(load average before the batch: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})\n`,
    );
    const grinBefore = (await sim.control<{ grinRequests: number }>('stats')).grinRequests;

    const client = await connectClient(config);
    // The peak RSS figures below are the batch window's: each process's high-water is reset here.
    resetPeakRss('self');
    resetPeakRss(temporal.pid);
    resetPeakRss(sim.pid);
    const serverTimeBefore = await scrapeServerTime(metricsUrl);
    const fromUs = nowUs();
    const threadsBefore = threadCpu();
    const threadWatch = watchThreadCpu(opts.sampleMs);
    const before = { worker: ownCpuSeconds(), server: sampleProcess(temporal.pid), simulator: sampleProcess(sim.pid) };
    const s3Before = s3 && sampleProcess(s3.server.pid);
    const disk = watchProcessingDir(config.processingDir, opts.sampleMs);
    const started = Date.now();
    const handle = await startBatch(client, config, barcodes, {
      batchId: 'cost',
      settings: bookSettingsFrom(config, { pollIntervalSeconds: 1 }),
    });
    const summary = await handle.result();
    const seconds = (Date.now() - started) / 1000;
    const after = { worker: ownCpuSeconds(), server: sampleProcess(temporal.pid), simulator: sampleProcess(sim.pid) };
    const s3After = s3 && sampleProcess(s3.server.pid);
    const threadsAfter = threadWatch.stop();
    const toUs = nowUs();
    if (opts.breakdown && profileDir) {
      const reading = (t: ThreadCpu): ThreadReading => [...t].map(([tid, { name, cpuSeconds }]) => [tid, name, cpuSeconds]);
      writeWindow(profileDir, {
        pid: process.pid,
        books: opts.books,
        fromUs,
        toUs,
        threadsBefore: reading(threadsBefore),
        threadsAfter: reading(threadsAfter),
      });
    }
    const diskPeak = await disk.stop();
    const serverTimeAfter = await scrapeServerTime(metricsUrl);
    const grinRequests = (await sim.control<{ grinRequests: number }>('stats')).grinRequests - grinBefore;
    const board = await Board.open(config.pipelineDir);
    const counts = await board.counts();
    // When books reached 07_stored, from their tokens (no polling during the run).
    const storedAt = (await board.list('07_stored')).tokens
      .map((t) => Date.parse(t.stages['07_stored'] ?? ''))
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const storedAfter = (i: number) => (storedAt.length > i ? `${((storedAt[i] - started) / 1000).toFixed(1)} s` : 'n/a');

    // History: every book's execution, and every run of the batch (it continues as new).
    const books: HistoryCost[] = [];
    if (opts.history) for (const barcode of barcodes) books.push(await historyCost(client, bookWorkflowId('TEST', barcode)));
    const batchRuns: HistoryCost[] = [];
    if (opts.history)
      for await (const run of client.workflow.list({ query: `WorkflowId = '${batchWorkflowId('TEST', 'cost')}'` })) {
        batchRuns.push(await historyCost(client, run.workflowId, run.runId));
      }
    const sum = (xs: HistoryCost[], f: (h: HistoryCost) => number) => xs.reduce((n, h) => n + f(h), 0);
    const n = opts.books;
    const ms = (s: number) => ((s / n) * 1000).toFixed(0);
    const byType = new Map<string, number>();
    for (const h of books) for (const [t, c] of h.byType) byType.set(t, (byType.get(t) ?? 0) + c);

    console.log(
      `books ${n} × ${opts.pages} pages × ${opts.pageKib} KiB, converted, limits lifted; file activities ${opts.fileActivities}, window ${opts.window ?? n}, books on host ${config.concurrency.booksOnHost}, workflows cached ${config.concurrency.cachedWorkflows}; node ${process.version}`,
    );
    console.log(`stored ${counts['07_stored']}, parked ${counts.failed} (batch: ${summary.stored} stored, ${summary.failed} failed)`);
    console.log(`wall ${seconds.toFixed(1)} s → ${((counts['07_stored'] / seconds) * 3600).toFixed(0)} books/hour`);
    console.log(
      `first book stored after ${storedAfter(0)}, 10th after ${storedAfter(9)}, half after ${storedAfter(Math.floor(n / 2) - 1)} (from the batch's start)`,
    );
    console.log(
      `local disk high-water (processing folder, ${diskPeak.samples} samples every ≥ ${opts.sampleMs} ms): ${diskPeak.peakBooks} books, ${(diskPeak.peakBytes / 1024 ** 2).toFixed(1)} MiB`,
    );
    console.log(
      `CPU per book: worker ${ms(after.worker - before.worker)} ms, Temporal server ${ms(after.server.cpuSeconds - before.server.cpuSeconds)} ms, together ${ms(after.worker - before.worker + after.server.cpuSeconds - before.server.cpuSeconds)} ms; simulator ${ms(after.simulator.cpuSeconds - before.simulator.cpuSeconds)} ms (GRIN's side, not ours)${s3Before && s3After ? `; S3 server (moto) ${ms(s3After.cpuSeconds - s3Before.cpuSeconds)} ms (storage's side, not ours)` : ''}`,
    );
    console.log(formatThreadCpu(threadsBefore, threadsAfter, n));
    if (opts.history)
      console.log(
        `history per book: ${(sum(books, (h) => h.events) / n).toFixed(1)} events, ${(sum(books, (h) => h.actions) / n).toFixed(1)} actions; batch: ${batchRuns.length} run(s), ${sum(batchRuns, (h) => h.events)} events (largest ${Math.max(...batchRuns.map((h) => h.events))}), ${(sum(batchRuns, (h) => h.actions) / n).toFixed(1)} actions per book`,
      );
    if (opts.history)
      console.log(
        `book events by type (per book): ${[...byType]
          .sort((a, b) => b[1] - a[1])
          .map(([t, c]) => `${t.replace('EVENT_TYPE_', '')} ${(c / n).toFixed(1)}`)
          .join(', ')}`,
      );
    console.log(`GRIN requests per book ${(grinRequests / n).toFixed(2)}`);
    const worker = sampleProcess('self');
    console.log(
      `peak RSS in the batch window (VmHWM): worker process ${worker.peakRssMiB.toFixed(0)} MiB, Temporal server ${after.server.peakRssMiB.toFixed(0)} MiB, simulator ${after.simulator.peakRssMiB.toFixed(0)} MiB`,
    );
    for (const line of formatServerTime(serverTimeBefore, serverTimeAfter, n)) console.log(line);
    if (opts.baseline) {
      const afterRound = await gpgTarBaseline(
        join(dir, 'sim', 'archives', 'TEST'),
        passphraseFile,
        join(dir, 'baseline-2'),
        opts.fileActivities,
        s3,
      );
      for (const [label, b] of [
        ['before the batch', baselineBefore!],
        ['after the batch', afterRound],
      ] as const) {
        console.log(
          `baseline ${label} (gpg -d | tee | tar -xz, then ${s3 ? 'rclone copyto to the same S3 server' : 'cp to a folder'}; ${opts.fileActivities} at a time, same archives): wall ${b.wallSeconds.toFixed(1)} s, ` +
            `CPU ${ms(b.cpuSeconds)} ms per book, largest process peak RSS ${b.peakRssMiB.toFixed(0)} MiB; ` +
            `ours/baseline: wall ${(seconds / b.wallSeconds).toFixed(2)}×, CPU worker ${((after.worker - before.worker) / b.cpuSeconds).toFixed(2)}×, worker + server ${((after.worker - before.worker + after.server.cpuSeconds - before.server.cpuSeconds) / b.cpuSeconds).toFixed(2)}×`,
        );
      }
    }
    console.log(
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    workers.shutdown();
    await running;
    await Promise.all([sim.stop(), temporal.stop(), s3?.server.stop()]);
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`(data kept in ${dir})\n`);
  }
}

// bench/scale.ts imports the measuring functions above.
if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
