/**
 * What the Temporal server costs per book on a real cluster (issue 22) beside the dev server: the
 * same batch of N already-converted books (the GRIN simulator as its own process, one in-process
 * worker set, local storage) once on the CLI's dev server with a SQLite file, once on the cluster
 * of devkit/devtools/cluster.ts (PostgreSQL 15, four server processes). Prints, per backend: wall
 * time, the server's CPU per book (the dev server's process; the four services' processes summed,
 * from /proc/<pid>/stat; PostgreSQL's own CPU beside it, since SQLite runs inside the dev server)
 * and the database's growth per book (the SQLite file with its WAL; the
 * temporal and temporal_visibility databases' pg_database_size). Asserts nothing.
 *
 *   npm run bench:cluster -- --books 60 [--backends dev,cluster]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Board } from '../src/buckets/board';
import { startBatch } from '../src/cli/batch';
import { bookSettingsFrom, connectClient } from '../src/cli/common';
import { startSimulatorProcess } from '../devkit/devtools/chaos/processes';
import { processCpuSeconds, startTemporalCluster, TEMPORAL_SERVER_VERSION } from '../devkit/devtools/cluster';
import { startTemporalDevServer } from '../devkit/devtools/servers';
import { createPipelineWorkers, installQuietRuntime } from '../src/worker';
import { benchConfig, convertedBooks } from './bench-setup';

interface Backend {
  name: string;
  address: string;
  cpuSeconds(): number;
  /** The database server's CPU when it is a process of its own (PostgreSQL); SQLite runs inside the dev server. */
  databaseCpuSeconds(): number;
  databaseBytes(): Promise<number>;
  stop(): Promise<void>;
}

async function devServer(dir: string): Promise<Backend> {
  const dbFile = join(dir, 'temporal.db');
  const server = await startTemporalDevServer({ headless: true, dbFile });
  const size = (f: string) => statSync(f, { throwIfNoEntry: false })?.size ?? 0;
  return {
    name: 'dev server (temporal CLI 1.32, SQLite file)',
    address: server.address,
    cpuSeconds: () => processCpuSeconds(server.pid),
    databaseCpuSeconds: () => 0,
    databaseBytes: async () => size(dbFile) + size(`${dbFile}-wal`),
    stop: () => server.stop(),
  };
}

async function cluster(dir: string): Promise<Backend> {
  const c = await startTemporalCluster({ dir: join(dir, 'cluster') });
  return {
    name: `cluster (server ${TEMPORAL_SERVER_VERSION}, four processes, PostgreSQL 15)`,
    address: c.address,
    cpuSeconds: () => c.cpuSeconds(),
    databaseCpuSeconds: () => c.postgres.cpuSeconds(),
    databaseBytes: async () => (await c.postgres.databaseBytes('temporal')) + (await c.postgres.databaseBytes('temporal_visibility')),
    stop: () => c.stop(),
  };
}

async function runOn(kind: string, books: number, opts: { pages: number; pageKib: number }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `grin-cluster-cost-${kind}-`));
  const barcodes = Array.from({ length: books }, (_, i) => `CLU${kind.toUpperCase()}${String(i).padStart(6, '0')}`);
  const [backend, sim] = await Promise.all([
    kind === 'cluster' ? cluster(dir) : devServer(dir),
    startSimulatorProcess({
      ...convertedBooks(barcodes, { pages: opts.pages, pageKib: opts.pageKib, dataDir: join(dir, 'sim') }),
      logFile: join(dir, 'simulator.log'),
      oauth: { clientId: 'cost-client', clientSecret: 'cost-secret', refreshToken: 'cost-refresh' },
    }),
  ]);
  const simulator = { baseUrl: sim.baseUrl, directory: 'TEST', passphrase: 'simulator-passphrase' };
  const config = benchConfig(simulator, dir, { temporalAddress: backend.address, fileActivities: 4, window: books });
  installQuietRuntime('ERROR');
  const workers = await createPipelineWorkers(config, { hostId: `cost-${kind}` });
  const running = workers.run();
  try {
    const client = await connectClient(config);
    // Settle after start-up (namespace registration, the services' own system workflows).
    await new Promise((r) => setTimeout(r, 5000));
    const before = { cpu: backend.cpuSeconds(), dbCpu: backend.databaseCpuSeconds(), db: await backend.databaseBytes() };
    const started = Date.now();
    const summary = await (
      await startBatch(client, config, barcodes, { batchId: 'cost', settings: bookSettingsFrom(config, { pollIntervalSeconds: 1 }) })
    ).result();
    const seconds = (Date.now() - started) / 1000;
    const after = { cpu: backend.cpuSeconds(), dbCpu: backend.databaseCpuSeconds(), db: await backend.databaseBytes() };
    const stored = (await (await Board.open(config.pipelineDir)).counts())['07_stored'];
    console.log(
      `${backend.name}: ${books} books × ${opts.pages} pages × ${opts.pageKib} KiB; stored ${stored} (batch ${summary.stored} stored, ${summary.failed} failed)`,
    );
    const perBook = (s: number) => `${((s / books) * 1000).toFixed(0)} ms per book`;
    console.log(
      `  wall ${seconds.toFixed(1)} s; server CPU ${(after.cpu - before.cpu).toFixed(1)} s = ${perBook(after.cpu - before.cpu)}; database server CPU ${perBook(after.dbCpu - before.dbCpu)}${kind === 'cluster' ? '' : ' (SQLite: inside the server)'}`,
    );
    console.log(
      `  database ${(before.db / 1024 ** 2).toFixed(1)} → ${(after.db / 1024 ** 2).toFixed(1)} MiB: ${((after.db - before.db) / books / 1024).toFixed(1)} KiB per book`,
    );
  } finally {
    workers.shutdown();
    await running;
    await Promise.all([sim.stop(), backend.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opts = new Command('cluster-cost')
    .description(
      'Server CPU and database growth per book on the dev server and on a PostgreSQL-backed cluster; prints figures, asserts nothing.',
    )
    .option('--books <n>', 'books per backend', Number, 60)
    .option('--pages <n>', 'pages per book', Number, 2)
    .option('--page-kib <n>', 'KiB per page image', Number, 16)
    .option('--backends <list>', 'dev, cluster or both (comma-separated, in this order)', 'dev,cluster')
    .parse(process.argv)
    .opts<{ books: number; pages: number; pageKib: number; backends: string }>();
  console.log(
    `node ${process.version}; load average ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  for (const kind of opts.backends.split(',').map((s) => s.trim())) await runOn(kind, opts.books, opts);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
