/**
 * The scale proof (issue 9): one batch of N books (10,000 for the proof) end to end at GRIN's pace.
 * Tiny archives; books NOT converted beforehand, so each goes through request → conversion →
 * download → decrypt → extract → process → upload. Every part is its own process: the GRIN
 * simulator (daily conversion limit and converted pool as GRIN's, on a clock fast enough that a
 * simulated day passes in `--day-minutes` real minutes), the Temporal dev server (SQLite file, so
 * its storage can be measured; `--in-memory` is faster) and one worker (`dist/src/worker.js`, as a
 * library runs it, restarted by this process if it exits by itself, as a supervisor would; each
 * such exit is printed). This process only starts the batch, watches the board and reads Temporal
 * and the simulator. `grin.pacing.maxRequestedNotDownloaded` is the pool minus `--pacing-margin`.
 * A smaller run keeps the proportions with smaller GRIN limits, e.g. 1,000 books with
 * `--conversions-per-day 500 --pool-cap 500 --pacing-margin 50`.
 *
 * Prints: wall and books/hour; books stored per interval (is the rate flat?); worker and Temporal
 * server peak RSS; batch runs and the largest run's history; history events and actions per book;
 * GRIN requests per book; the `board` CLI's time on every token; books evicted from GRIN's pool
 * before they were downloaded; Temporal's database size. Asserts nothing.
 *
 *   npm run bench:scale -- --books 10000 --day-minutes 20
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import pLimit from 'p-limit';
import { Board } from '../src/buckets/board';
import { startBatch } from '../src/cli/batch';
import { bookSettingsFrom, connectClient } from '../src/cli/common';
import { deepMerge, loadConfig } from '../src/config/load';
import { startSimulatorProcess } from '../devkit/devtools/chaos/processes';
import type { SimulatorControlStats } from '../devkit/simulator/control';
import { startTemporalDevServer } from '../devkit/devtools/servers';
import { batchWorkflowId, bookWorkflowId } from '../src/workflows/contracts';
import { simulatedPipelineOverrides } from '../devkit/devtools/simulated-pipeline';
import { historyCost, sampleProcess, type HistoryCost, type ProcessSample } from './pipeline-cost';

/** Compiled entry points (this file runs from dist/bench/). */
const WORKER_CLI = join(__dirname, '..', 'src', 'worker.js');
const CLIENT_CLI = join(__dirname, '..', 'src', 'client.js');

interface Options {
  books: number;
  dayMinutes: number;
  conversionsPerDay: number;
  poolCap: number;
  pacingMargin: number;
  pollSeconds: number;
  window?: number;
  fileActivities: number;
  cachedWorkflows?: number;
  sampleSeconds: number;
  maxMinutes: number;
  inMemory: boolean;
  keep: boolean;
}

interface Sample {
  seconds: number;
  stored: number;
  failed: number;
  atGrin: number;
  workerRssMiB: number;
  serverRssMiB: number;
  grin: SimulatorControlStats['library'];
}

const mib = (n: number) => `${n.toFixed(0)} MiB`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A process that has exited has no /proc entry: its figures are unknown, not an error. */
function sampleOrNothing(pid: number | undefined): ProcessSample {
  try {
    return sampleProcess(pid ?? -1);
  } catch {
    return { cpuSeconds: NaN, peakRssMiB: NaN, rssMiB: NaN };
  }
}

/** The worker as a library runs it: under a supervisor that starts it again when it exits (README, "Workers"). */
class SupervisedWorker {
  private child?: ChildProcess;
  private stopping = false;
  readonly exits: string[] = [];
  /** CPU of incarnations that have exited (as last sampled), the current one's last sample, the highest peak. */
  private cpuOfExited = 0;
  private last: ProcessSample = { cpuSeconds: 0, peakRssMiB: 0, rssMiB: 0 };
  private peakRssMiB = 0;

  constructor(
    private readonly args: string[],
    private readonly logFile: string,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    const out = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, this.args, { stdio: ['ignore', out, out] });
    this.child = child;
    this.last = { cpuSeconds: 0, peakRssMiB: 0, rssMiB: 0 };
    child.once('exit', (code, signal) => {
      this.cpuOfExited += this.last.cpuSeconds;
      if (this.stopping) return;
      const why = `worker pid ${child.pid} exited by itself: ${signal ?? `code ${code}`}`;
      this.exits.push(why);
      this.log(`${why}; started again in 2 s, as a supervisor would (see ${this.logFile})`);
      setTimeout(() => this.stopping || this.start(), 2000);
    });
  }

  /** CPU of every incarnation so far (up to the last sample of those that exited), peak RSS of the largest. */
  sample(): ProcessSample {
    const now = sampleOrNothing(this.child?.pid);
    if (Number.isFinite(now.cpuSeconds)) {
      this.last = now;
      this.peakRssMiB = Math.max(this.peakRssMiB, now.peakRssMiB);
    }
    return { cpuSeconds: this.cpuOfExited + this.last.cpuSeconds, peakRssMiB: this.peakRssMiB, rssMiB: now.rssMiB };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(force);
  }
}

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Wall seconds of one CLI command (node start-up included, as an operator sees it), and its output lines. */
function timeCli(args: string[]): { seconds: number; lines: number; status: number | null } {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, [CLIENT_CLI, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, lines: run.stdout.split('\n').filter(Boolean).length, status: run.status };
}

async function main(): Promise<void> {
  const opts = new Command('scale')
    .description("A batch of N unconverted books end to end at GRIN's pace, each process on its own (prints figures, asserts nothing).")
    .option('--books <n>', 'books in the batch', Number, 1000)
    .option('--day-minutes <m>', "real minutes per simulated day (GRIN's clock)", Number, 20)
    .option('--conversions-per-day <n>', "GRIN's conversions per simulated day", Number, 5000)
    .option('--pool-cap <n>', "GRIN's converted pool (oldest package evicted beyond it)", Number, 5000)
    .option(
      '--pacing-margin <n>',
      'grin.pacing.maxRequestedNotDownloaded = pool cap minus this (conversions the library asks for outside the pipeline)',
      Number,
      500,
    )
    .option(
      '--poll-seconds <s>',
      "how often waiting books look at GRIN's converted list, in real seconds (the config's 300 s scaled to the fast clock would be a few seconds: each waiting book's poll is an activity attempt, and that many would swamp this machine)",
      Number,
      15,
    )
    .option('--window <n>', 'books in flight in the batch (default: the config default, concurrency.batchWindow)', Number)
    .option('--file-activities <n>', 'file stages in parallel on the worker', Number, 4)
    .option('--cached-workflows <n>', 'concurrency.cachedWorkflows (default: the config default)', Number)
    .option('--sample-seconds <s>', 'seconds between samples of the board and the processes', Number, 60)
    .option('--max-minutes <m>', 'stop waiting after this long and report what was done', Number, 60)
    .option('--in-memory', "Temporal's state in memory instead of a SQLite file (faster; no database size)", false)
    .option('--keep', 'keep the data folder', false)
    .parse(process.argv)
    .opts<Options>();

  const clockSpeed = 86_400 / (opts.dayMinutes * 60);
  const pollSeconds = opts.pollSeconds;
  const maxRequestedNotDownloaded = opts.poolCap - opts.pacingMargin;
  const dir = mkdtempSync(join(tmpdir(), 'grin-pipeline-scale-'));
  const barcodes = Array.from({ length: opts.books }, (_, i) => `SCALE${String(i).padStart(7, '0')}`);
  const dbFile = join(dir, 'temporal.db');
  const [temporal, sim] = await Promise.all([
    startTemporalDevServer({ headless: true, dbFile: opts.inMemory ? undefined : dbFile, logFile: join(dir, 'temporal.log') }),
    startSimulatorProcess({
      barcodes,
      seed: 9,
      initialState: 'all-new',
      pages: { min: 1, max: 1 },
      pageImageBytes: 4096,
      conversionsPerDay: opts.conversionsPerDay,
      poolCap: opts.poolCap,
      clockSpeed,
      dataDir: join(dir, 'sim'),
      logFile: join(dir, 'simulator.log'),
      oauth: { clientId: 'scale-client', clientSecret: 'scale-secret', refreshToken: 'scale-refresh' },
    }),
  ]);
  const simulator = { baseUrl: sim.baseUrl, directory: 'TEST', passphrase: 'simulator-passphrase' };
  // A config file as a library writes one: the worker process and the `board` CLI read it.
  // GRIN's request rate (a real-time limit) is lifted as in the other benches; GRIN's pace is the simulator's.
  const raw = deepMerge(simulatedPipelineOverrides(simulator, dir, 'sim-token'), {
    temporal: { address: temporal.address },
    grin: { pollIntervalSeconds: pollSeconds, rateLimitPerSecond: 200, pacing: { maxRequestedNotDownloaded } },
    concurrency: {
      fileActivities: opts.fileActivities,
      grinActivities: 16,
      batchWindow: opts.window,
      cachedWorkflows: opts.cachedWorkflows,
    },
  });
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(raw, null, 2));
  const config = loadConfig({ file: configFile, env: {} });

  const workerLog = join(dir, 'worker.log');
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const worker = new SupervisedWorker([WORKER_CLI, '-c', configFile, '--host-id', 'scale', '--log-level', 'warn'], workerLog, log);
  worker.start();
  const watchWorker = setInterval(() => worker.sample(), 5_000);
  log(
    `data ${dir}; GRIN day = ${opts.dayMinutes} real min (clock ×${clockSpeed.toFixed(1)}), ${opts.conversionsPerDay}/day, pool ${opts.poolCap}; pacing cap ${maxRequestedNotDownloaded}; poll ${pollSeconds} s; window ${config.concurrency.batchWindow}`,
  );

  const board = await Board.open(config.pipelineDir);
  const samples: Sample[] = [];
  const stats = () => sim.control<SimulatorControlStats>('stats');
  let started = Date.now();
  const sample = async (): Promise<Sample> => {
    const counts = await board.counts();
    const s: Sample = {
      seconds: (Date.now() - started) / 1000,
      stored: counts['07_stored'],
      failed: counts.failed,
      atGrin: counts['01_requested'] + counts['02_converted'],
      workerRssMiB: worker.sample().rssMiB,
      serverRssMiB: sampleOrNothing(temporal.pid).rssMiB,
      grin: (await stats()).library,
    };
    samples.push(s);
    log(
      `${s.seconds.toFixed(0)} s: stored ${s.stored}, failed ${s.failed}, at GRIN ${s.atGrin} (queue ${s.grin.queued}, pool ${s.grin.pool}, converted ${s.grin.conversionsCompleted}, evicted before download ${s.grin.evictedBeforeDownload}); RSS worker ${mib(s.workerRssMiB)}, server ${mib(s.serverRssMiB)}`,
    );
    return s;
  };

  let finished = false;
  try {
    const client = await connectClient(config);
    const grinBefore = (await stats()).grinRequests;
    const cpuBefore = {
      worker: worker.sample().cpuSeconds,
      server: sampleOrNothing(temporal.pid).cpuSeconds,
      simulator: sampleOrNothing(sim.pid).cpuSeconds,
    };
    const load1 = loadavg();
    started = Date.now();
    const handle = await startBatch(client, config, barcodes, { batchId: 'scale', settings: bookSettingsFrom(config) });
    let timer: NodeJS.Timeout | undefined;
    const sampling = setInterval(
      () => void sample().catch((err: unknown) => log(`sample failed: ${String(err)}`)),
      opts.sampleSeconds * 1000,
    );
    const outcome = await Promise.race([
      handle.result().then((summary) => ({ summary })),
      new Promise<{ error: string }>(
        (resolve) => (timer = setTimeout(() => resolve({ error: `not finished after ${opts.maxMinutes} min` }), opts.maxMinutes * 60_000)),
      ),
    ]).finally(() => {
      clearInterval(sampling);
      clearTimeout(timer);
    });
    const wall = (Date.now() - started) / 1000;
    finished = 'summary' in outcome;
    const last = await sample();
    const load2 = loadavg();
    const workerNow = worker.sample();
    const serverNow = sampleOrNothing(temporal.pid);
    const simNow = sampleOrNothing(sim.pid);
    const grin = await stats();
    const grinRequests = grin.grinRequests - grinBefore;

    // The board as an operator reads it: the counts, and every stored book's token listed.
    const boardCounts = timeCli(['-c', configFile, 'board']);
    const boardList = timeCli(['-c', configFile, 'board', '--bucket', '07_stored']);
    const startup = timeCli(['--help']);
    const inProcess = Date.now();
    await board.counts();
    const countsMs = Date.now() - inProcess;

    // Histories: every run of the batch (it continues as new) and every book.
    const batchRuns: HistoryCost[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${batchWorkflowId('TEST', 'scale')}'` })) {
      batchRuns.push(await historyCost(client, run.workflowId, run.runId));
    }
    const limit = pLimit(8);
    const books = (
      await Promise.all(barcodes.map((b) => limit(() => historyCost(client, bookWorkflowId('TEST', b)).catch(() => undefined))))
    ).filter((h): h is HistoryCost => !!h);
    const sum = (xs: HistoryCost[], f: (h: HistoryCost) => number) => xs.reduce((n, h) => n + f(h), 0);
    const n = opts.books;
    const stored = last.stored;

    console.log(
      `scale: ${n} books × 1 page × 4 KiB, NOT converted beforehand; GRIN ${opts.conversionsPerDay} conversions/day, pool ${opts.poolCap}, day = ${opts.dayMinutes} real min (clock ×${clockSpeed.toFixed(1)}); pacing maxRequestedNotDownloaded ${maxRequestedNotDownloaded}; poll ${pollSeconds} s; window ${config.concurrency.batchWindow}; file activities ${opts.fileActivities}; workflows cached ${config.concurrency.cachedWorkflows}; node ${process.version}`,
    );
    console.log(
      `date ${new Date().toISOString()}; load average at start ${load1.map((l) => l.toFixed(2)).join(' ')}, at end ${load2.map((l) => l.toFixed(2)).join(' ')}`,
    );
    console.log(
      finished
        ? `batch: ${JSON.stringify((outcome as { summary: unknown }).summary)}`
        : `NOT FINISHED: ${(outcome as { error: string }).error}`,
    );
    const workerLogText = readFileSync(workerLog, 'utf8');
    const occurrences = (text: string) => workerLogText.split(text).length - 1;
    console.log(
      `worker: ${worker.exits.length} exit(s) by itself, each followed by a restart${worker.exits.length ? ` (${worker.exits.join('; ')})` : ''}; its log: ${occurrences('Workflow task duration exceeded')} workflow tasks over 5 s, ${occurrences('Script execution timed out')} timed out in the sandbox, ${occurrences('async hook stack has become corrupted')} Node crash(es) "async hook stack has become corrupted"`,
    );
    console.log(`stored ${stored}, parked ${last.failed}; wall ${wall.toFixed(0)} s → ${fmt((stored / wall) * 3600)} books/hour overall`);
    console.log('books stored over time (per interval; books/hour in that interval):');
    let prev = { seconds: 0, stored: 0 };
    for (const s of samples) {
      const rate = s.seconds > prev.seconds ? ((s.stored - prev.stored) / (s.seconds - prev.seconds)) * 3600 : 0;
      console.log(
        `  ${String(Math.round(s.seconds)).padStart(6)} s  stored ${String(s.stored).padStart(6)}  +${String(s.stored - prev.stored).padStart(5)}  ${fmt(rate).padStart(7)} books/h  at GRIN ${String(s.atGrin).padStart(5)}  GRIN converted ${String(s.grin.conversionsCompleted).padStart(6)}  RSS worker ${mib(s.workerRssMiB)} server ${mib(s.serverRssMiB)}`,
      );
      prev = s;
    }
    console.log(
      `CPU per stored book: worker ${(((workerNow.cpuSeconds - cpuBefore.worker) / stored) * 1000).toFixed(0)} ms, Temporal server ${(((serverNow.cpuSeconds - cpuBefore.server) / stored) * 1000).toFixed(0)} ms; simulator ${(((simNow.cpuSeconds - cpuBefore.simulator) / stored) * 1000).toFixed(0)} ms (GRIN's side)`,
    );
    console.log(
      `peak RSS: worker ${mib(workerNow.peakRssMiB)}, Temporal server ${mib(serverNow.peakRssMiB)}, simulator ${mib(simNow.peakRssMiB)}`,
    );
    console.log(
      `batch: ${batchRuns.length} run(s), largest ${fmt(Math.max(...batchRuns.map((h) => h.events)))} events, ${fmt(sum(batchRuns, (h) => h.events))} in all, ${(sum(batchRuns, (h) => h.actions) / n).toFixed(2)} actions per book`,
    );
    console.log(
      `books: ${(sum(books, (h) => h.events) / books.length).toFixed(1)} events per book (largest ${Math.max(...books.map((h) => h.events))}), ${(sum(books, (h) => h.actions) / books.length).toFixed(1)} actions per book incl. each poll while waiting (largest ${Math.max(...books.map((h) => h.actions))}); ${books.length} histories read`,
    );
    console.log(
      `GRIN requests per book ${(grinRequests / n).toFixed(2)} (${fmt(grinRequests)}${grin.grinRequests >= 199_000 ? '; the simulator keeps 200,000 log entries: an undercount' : ''}); ${grin.tokenRequests} token requests`,
    );
    console.log(
      `GRIN: ${grin.library.conversionsCompleted} conversions, ${grin.library.downloads} downloads, pool evictions ${grin.library.evictions}, evicted before download ${grin.library.evictedBeforeDownload}; most of ours requested and not downloaded at once ${grin.library.undownloadedHighWater}, queue high-water ${grin.library.queueHighWater}, 429 refusals ${grin.library.queueFullRefusals}`,
    );
    console.log(
      `board CLI: \`board\` ${boardCounts.seconds.toFixed(2)} s (exit ${boardCounts.status}), \`board --bucket 07_stored\` ${boardList.seconds.toFixed(2)} s for ${boardList.lines} tokens (exit ${boardList.status}); the CLI's start-up alone (\`--help\`) ${startup.seconds.toFixed(2)} s; counts in process ${countsMs} ms`,
    );
    if (!opts.inMemory)
      console.log(
        `Temporal database (SQLite, dev server): ${(fileSize(dbFile) / 2 ** 20).toFixed(0)} MiB + WAL ${(fileSize(`${dbFile}-wal`) / 2 ** 20).toFixed(0)} MiB → ${((fileSize(dbFile) + fileSize(`${dbFile}-wal`)) / n / 1024).toFixed(1)} KiB per book`,
      );
  } finally {
    clearInterval(watchWorker);
    await worker.stop();
    await Promise.all([sim.stop(), temporal.stop()]);
    // An unfinished run keeps its logs and board to look at.
    if (!opts.keep && finished) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`(data kept in ${dir})\n`);
  }
  if (!finished) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
