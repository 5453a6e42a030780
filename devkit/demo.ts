#!/usr/bin/env node
/**
 * `npm run demo`: the whole pipeline on one machine with embedded defaults. Starts the Temporal dev
 * server (state in .demo/temporal.db, Web UI on :8233 or --ui-port), the GRIN simulator and a worker, runs a batch
 * of N books with progress shown, and leaves every book in 07_stored with its files in .demo/storage
 * (but for the books `--park N` damages at the simulated GRIN on purpose, which end parked in failed).
 * Ctrl-C stops everything cleanly; running it again continues where it stopped.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import YAML from 'yaml';
import { writeFileAtomic } from '../src/common/atomic-file';
import { PRIVATE_FILE_MODE } from '../src/common/file-modes';
import { Command, InvalidArgumentError } from 'commander';
import { Board } from '../src/buckets/board';
import { deepMerge, loadConfig } from '../src/config/load';
import { simulatedPipelineOverrides } from './devtools/simulated-pipeline';
import { ExitedWhileStarting, findWebUi, startTemporalDevServer, temporalReady, type RunningServer } from './devtools/servers';
import { startSimulator, type RunningSimulator } from './simulator';
import { connectClient, reportAndExit, UsageError } from '../src/cli/common';
import { bookSettingsFrom } from '../src/workflows/book-settings';
import { selectBarcodes, startBatch } from '../src/cli/batch';
import { followBatch, formatCounts } from '../src/cli/progress';
import { createPipelineWorkers, installQuietRuntime, type PipelineWorkers } from '../src/worker';
import { GrinClient } from '../src/grin/client';
import { StaticTokenSource } from '../src/grin/auth';

const DEMO_DIRECTORY = 'DEMO';
const DEMO_TOKEN = 'demo-access-token';
const DEMO_PASSPHRASE = 'demo gpg passphrase from google';

interface DemoOptions {
  sample: number;
  data: string;
  port: number;
  uiPort?: number;
  stay?: boolean;
  park: number;
}

function countFiles(dir: string, suffix: string): number {
  let n = 0;
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith(suffix)) n++;
    }
  };
  walk(dir);
  return n;
}

/**
 * Writes the config the demo runs with as `<data>/config.yaml`, so the CLI can look at the demo's
 * board (`grin-pipeline -c .demo/config.yaml board`). Rewritten every run: the simulator's port is
 * new each time. Secrets stay in files; the config names them (`file:`), as in production.
 */
export async function writeDemoConfig(data: string, overrides: object): Promise<string> {
  const file = join(data, 'config.yaml');
  const header = '# Written by `npm run demo` on every run (the GRIN simulator gets a new port each time); edits are lost.\n';
  await writeFileAtomic(file, header + YAML.stringify(overrides), { mode: PRIVATE_FILE_MODE });
  return file;
}

/** The commands that look around the demo's board, with the config path as the user would type it. */
export function demoCommands(configFile: string, barcode: string, cwd = process.cwd()): string[] {
  const c = relative(cwd, configFile) || configFile;
  return [
    `npx grin-pipeline -c ${c} board                  # books per bucket`,
    `npx grin-pipeline -c ${c} status ${barcode}   # one book (its workflow too while Temporal runs: --stay)`,
    `npx grin-pipeline -c ${c} report --out demo.csv  # a row per book, summary on stderr`,
  ];
}

/**
 * Why the Temporal dev server did not start, from its log: the line that says "address already in
 * use" (the frontend's or the Web UI's port), else undefined.
 */
export function startFailureCause(logFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  const line = text
    .split('\n')
    .reverse()
    .find((l) => /address already in use/i.test(l));
  if (!line) return undefined;
  const address = /(?:listen tcp|bind)[^0-9]*([0-9.:[\]]+:\d+)/i.exec(line)?.[1];
  return `${address ? `${address}: ` : ''}address already in use`;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const data = resolve(opts.data);
  mkdirSync(data, { recursive: true });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const stops: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  const onSignal = () => {
    log('\nstopping (the batch continues where it stopped when you run the demo again)...');
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // 1. Temporal: reuse a dev server already on the port, else start one whose state lives in a file.
    const address = `127.0.0.1:${opts.port}`;
    let uiUrl: string | undefined;
    let ownServer = false;
    if (await temporalReady(address)) {
      log(`using the Temporal server already running at ${address}`);
      // Not ours: its Web UI is wherever it was started with; look rather than guess.
      uiUrl = await findWebUi(opts.port, opts.uiPort);
    } else {
      log(`starting the Temporal dev server on ${address} (state in ${join(data, 'temporal.db')})`);
      const logFile = join(data, 'temporal.log');
      const server: RunningServer & { uiUrl?: string } = await startTemporalDevServer({
        port: opts.port,
        uiPort: opts.uiPort,
        dbFile: join(data, 'temporal.db'),
        logFile,
        log,
      }).catch((err: unknown) => {
        // A port taken by another program is the usual cause: say it in one line, without a stack.
        if (!(err instanceof ExitedWhileStarting)) throw err;
        const cause = startFailureCause(logFile);
        throw new UsageError(
          `the Temporal dev server did not start: ${cause ?? `it exited; see ${logFile}`}` +
            (cause
              ? `; another program holds the port: stop it, or give the demo other ports with --port (and --ui-port); log: ${logFile}`
              : ''),
          1,
        );
      });
      uiUrl = server.uiUrl;
      ownServer = true;
      stops.push(() => server.stop());
    }
    const uiLine = (suffix = '') =>
      uiUrl
        ? `Temporal Web UI: ${uiUrl}${suffix}`
        : `Temporal Web UI: not found for the server at ${address} (no UI answers on port ${opts.uiPort ?? opts.port + 1000}; give its port with --ui-port)`;

    // 2. The GRIN simulator, deterministic, so a second run serves the same books and archives.
    const sim: RunningSimulator = await startSimulator({
      directory: DEMO_DIRECTORY,
      books: Math.max(100, opts.sample),
      seed: 20261129,
      passphrase: DEMO_PASSPHRASE,
      accessTokens: [DEMO_TOKEN],
      initialState: 'all-available',
      conversionDelaySeconds: 5,
      pages: { min: 4, max: 12 },
      pageImageBytes: 64 * 1024,
      dataDir: join(data, 'simulator'),
    });
    stops.push(() => sim.close());
    log(`GRIN simulator at ${sim.baseUrl}/${DEMO_DIRECTORY}`);

    // Secrets go in files, as they would in production; only their paths are in the config.
    const overrides = deepMerge(simulatedPipelineOverrides(sim, data, DEMO_TOKEN), {
      temporal: { address },
      grin: { pollIntervalSeconds: 2, rateLimitPerSecond: 20 },
    }) as object;
    const config = loadConfig({ env: {}, overrides });
    const configFile = await writeDemoConfig(data, overrides);

    // 3. A worker in this process.
    installQuietRuntime('WARN');
    const workers: PipelineWorkers = await createPipelineWorkers(config, { hostId: 'demo' });
    const running = workers.run();
    stops.push(async () => {
      workers.shutdown();
      await running;
    });

    // 4. The batch: the first N books of GRIN's _all_books list.
    const grin = new GrinClient({ baseUrl: sim.baseUrl, directory: DEMO_DIRECTORY, tokens: new StaticTokenSource(DEMO_TOKEN) });
    const barcodes = await selectBarcodes(config, { sample: opts.sample }, () => grin, log);
    // --park: the last N books' archives are damaged at GRIN, so they end parked in `failed` with a reason.
    const damaged = opts.park > 0 ? barcodes.slice(-Math.min(opts.park, barcodes.length)) : [];
    if (damaged.length) {
      const mismatch = damaged.filter((_, i) => i % 2 === 0);
      const notGzip = damaged.filter((_, i) => i % 2 === 1);
      sim.setFaults({ checksumMismatch: { barcodes: mismatch }, ...(notGzip.length ? { notGzip: { barcodes: notGzip } } : {}) });
      log(`--park: damaged archives at GRIN for ${damaged.join(', ')} (these books will be parked in failed)`);
    }
    const client = await connectClient(config);
    const handle = await startBatch(client, config, barcodes, {
      batchId: `demo-${opts.sample}`,
      settings: bookSettingsFrom(config, { queueFullRetrySeconds: 10 }),
    });
    log(`batch of ${barcodes.length} books started: ${handle.workflowId}`);
    log(uiLine('/namespaces/default/workflows'));
    const board = await Board.open(config.pipelineDir);
    const summary = await followBatch(handle, board, barcodes);

    // 5. Summary.
    const counts = await board.counts();
    const storage = join(data, 'storage');
    const stored = (await Promise.all(barcodes.map((b) => board.locate(b)))).filter((b) => b === '07_stored').length;
    log('');
    log(`board (${config.pipelineDir}): ${formatCounts(counts)}`);
    log(
      `storage (${storage}): ${countFiles(storage, '.tar.gz')} archives, ${countFiles(storage, '_ocr.jsonl.gz')} OCR files, ${countFiles(storage, '_marc.json')} MARC files`,
    );
    log(
      `batch: ${summary.started} started, ${summary.alreadyKnown} already known, ${summary.stored} stored, ${summary.failed} parked, ${summary.cancelled} cancelled`,
    );
    // A run over books already stored (e.g. after deleting temporal.db) should fetch nothing again.
    const archiveDownloads = sim.requestLog.filter((r) => r.method === 'GET' && r.path.endsWith('.tar.gz.gpg') && r.status === 200).length;
    log(`GRIN this run: ${sim.requestLog.length} requests, ${archiveDownloads} archive downloads`);
    log(opts.stay || !ownServer || !uiUrl ? uiLine() : uiLine('  (the dev server stops with the demo; add --stay to keep it up)'));
    let code = 0;
    if (stored !== barcodes.length) {
      // Say what the board holds, not what the batch workflow believed: the two can disagree.
      const parked = (await board.list('failed')).tokens.filter((t) => barcodes.includes(t.barcode));
      log(`the board has ${barcodes.length - stored} of ${barcodes.length} books outside 07_stored (${formatCounts(counts)})`);
      for (const t of parked) log(`  ${t.barcode} [${t.lastError?.stage}] ${t.lastError?.message}`);
      if (parked.length) log(`(${parked.length} parked, with the reasons, in ${join(config.pipelineDir, 'failed')})`);
      code = 1;
    } else {
      log(`all ${stored} books are in 07_stored.`);
    }
    log('');
    log(`the demo's config for the CLI: ${relative(process.cwd(), configFile) || configFile} (rewritten each run). Look around with:`);
    for (const line of demoCommands(configFile, barcodes[0])) log(`  ${line}`);
    if (opts.stay) {
      // Parked books too: they are what one most wants to look at in the Web UI.
      log('--stay: the Temporal server, simulator and worker keep running; Ctrl-C stops them.');
      await new Promise<never>(() => undefined); // until the signal handler exits the process
    }
    return code;
  } finally {
    await stopAll();
  }
}

function main(argv: string[]): void {
  const program = new Command('demo')
    .description('Run the whole pipeline locally: Temporal dev server, GRIN simulator, worker, and a batch of books.')
    .option(
      '--sample <n>',
      'number of books',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--sample must be a whole number of at least 1.');
        return n;
      },
      20,
    )
    .option('--stay', 'keep everything running after the batch (to look around in the Web UI) until Ctrl-C')
    .option(
      '--park <n>',
      'damage the archives of the last n books at the simulated GRIN, so they end parked in failed (to see a parked book)',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('--park must be a whole number (0 or more).');
        return n;
      },
      0,
    )
    .option('--data <dir>', 'where the demo keeps its state (Temporal db, board, storage)', '.demo')
    .option(
      '--port <n>',
      'Temporal frontend port',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 64535) throw new InvalidArgumentError('--port must be a TCP port number (1-64535).');
        return n;
      },
      7233,
    )
    .option('--ui-port <n>', 'Temporal Web UI port (default: --port + 1000); for a server already running, where its UI is', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('--ui-port must be a TCP port number (1-65535).');
      return n;
    })
    .parse(argv);
  runDemo(program.opts<DemoOptions>())
    .then((code) => process.exit(code))
    .catch(reportAndExit);
}

if (require.main === module) main(process.argv);
