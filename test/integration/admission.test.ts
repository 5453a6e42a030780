/**
 * Admission that cannot wedge, and a host id unique among live workers (issue 20), with real
 * servers: the Temporal dev server, the GRIN simulator over HTTP (its fault switches), the worker
 * set as the worker command runs it (in this process, or as a child process killed with SIGKILL).
 *  (a) a burst of 429s on archive downloads at the start of a batch, one host, default
 *      `concurrency.booksOnHost`: the failed downloads keep no place, every book is stored;
 *  (b) kill -9 of the worker mid-download, leaving `.part` files, then restarts: every book stored;
 *  (c) a small processing disk: books are admitted only as the disk can carry them, all stored;
 *  (d) a second worker with the same host id is refused with one line naming the first;
 *  (e) a book whose local copy is gone from its host (twice) is downloaded again as a host move,
 *      never parked as a damaged archive.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { PEAK_ARCHIVE_SIZES } from '../../src/activities/disk-space';
import { isNotFound } from '../../src/activities/batch';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import type { PipelineConfig } from '../../src/config/types';
import { pollersOf } from '../../src/host-identity';
import { bookWorkflowId, conversionWatchWorkflowId, statusQuery } from '../../src/workflows/contracts';
import type { RunningSimulator } from '../../devkit/simulator';
import { createPipelineWorkers, hostQueueName } from '../../src/worker';
import { superviseFileHostWorker, type SupervisedWorker } from '../support/child-worker';
import {
  startTestSimulator,
  startWorkers,
  temporalAddress,
  temporalClient,
  testEnv,
  workflowBundle,
  type TestEnv,
} from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const KiB = 1024;
/** This case's simulator, envs and child workers. */
let sim: RunningSimulator;
const envs: TestEnv[] = [];
const children: SupervisedWorker[] = [];

// A GRIN directory per case, not per file: the directory's conversion watcher (`grin-watch/<dir>`)
// and its books' workflow ids are then never shared, so what a case leaves (a watcher on its
// stopped task queues, a child worker a failed case left running) cannot reach the next one.
beforeEach(async () => {
  sim = await startTestSimulator('admission', {
    books: 60,
    seed: 2026120720,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 4, max: 8 },
    pageImageBytes: 32 * KiB,
  });
});

afterEach(async () => {
  for (const c of children.splice(0)) await c.stop();
  // Nobody polls the case's queues any more: a watcher still running there would stay for good.
  const client = await temporalClient();
  const watcher = client.workflow.getHandle(conversionWatchWorkflowId(sim.directory));
  const running = await watcher.describe().then(
    (d) => d.status.name === 'RUNNING',
    (err: unknown) => {
      if (isNotFound(err)) return false; // never started (case (d) asks GRIN nothing)
      throw err;
    },
  );
  if (running) await watcher.terminate('admission test case over');
  await client.connection.close();
  await sim.close();
  for (const e of envs.splice(0)) e.cleanup();
});

function newEnv(name: string, overrides: Record<string, unknown> = {}): TestEnv {
  const env = testEnv(sim, name, overrides);
  envs.push(env);
  return env;
}

const settings = (config: PipelineConfig) => bookSettingsFrom(config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 2 });
const faultHits = (fault: string) => sim.requestLog.filter((e) => e.fault === fault).length;

/** Book files directly under the processing folder: [barcode, name] pairs. */
function bookFiles(dir: string): { barcode: string; name: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = /^(.+?)(\.tar\.gz\.gpg\.part|\.tar\.gz\.gpg|\.tar\.gz|_extracted|_unpacked\.json|_derivatives)$/.exec(name);
    return m ? [{ barcode: m[1], name }] : [];
  });
}

/** Bytes of everything under `path`. */
function bytesUnder(path: string): number {
  const s = statSync(path, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let sum = 0;
  for (const name of readdirSync(path)) sum += bytesUnder(join(path, name));
  return sum;
}

/** Writes what a child worker process needs: the config as JSON and the workflow bundle. */
async function childFiles(env: TestEnv): Promise<{ bundleFile: string; dir: string }> {
  const dir = join(env.dir, 'child');
  mkdirSync(dir, { recursive: true });
  const bundleFile = join(dir, 'workflows.js');
  writeFileSync(bundleFile, (await workflowBundle()).code);
  return { bundleFile, dir };
}

const CHILD_SCRIPT = resolve(__dirname, '../support/pipeline-worker-child.ts');

test('(a) a burst of 429s on archive downloads at the start of a batch, one host, booksOnHost by default: every book is stored', async () => {
  const env = newEnv('adm429');
  expect(env.config.concurrency.booksOnHost).toBe(6);
  const barcodes = sim.barcodes.slice(0, 12);
  sim.setFaults({ rateLimitArchive: { barcodes } });
  const workers = await startWorkers(env.config);
  try {
    const client = await temporalClient();
    const before = faultHits('rateLimitArchive');
    const handle = await startBatch(client, env.config, barcodes, {
      batchId: 'burst-429',
      window: barcodes.length,
      settings: settings(env.config),
    });
    // As many failed download attempts as the host has places (under the old bookkeeping each failed
    // book kept one, and the host stopped asking for work), then the burst goes on a little longer.
    await waitUntil(
      async () => faultHits('rateLimitArchive') - before >= env.config.concurrency.booksOnHost,
      PATIENCE_MS,
      'six downloads answered 429',
    );
    await new Promise((r) => setTimeout(r, 5000));
    sim.setFaults({ rateLimitArchive: undefined });
    const board = await Board.open(env.config.pipelineDir);
    await waitUntil(
      async () => (await board.counts())['07_stored'] === barcodes.length,
      PATIENCE_MS,
      'all twelve books stored after the 429 burst',
    );
    expect(await handle.result()).toMatchObject({ stored: barcodes.length, failed: 0 });
  } finally {
    await workers.stop();
  }
});

test('(b) kill -9 of the worker mid-download, leaving .part files, then restarts: every book is stored', async () => {
  // Two places on the host: under the old bookkeeping, two partial downloads left by kills held them for good.
  const env = newEnv('admkill', { concurrency: { fileActivities: 1, booksOnHost: 2 } });
  const { bundleFile, dir } = await childFiles(env);
  const barcodes = sim.barcodes.slice(12, 20);
  const killed = barcodes.slice(0, 3);
  const onceDir = join(dir, 'kill-once');
  mkdirSync(onceDir);
  const partialsSeen = new Set<string>();
  const worker = superviseFileHostWorker({
    config: env.config,
    hostId: 'killed',
    dir,
    script: CHILD_SCRIPT,
    args: [bundleFile],
    // Three books' downloads kill the worker once each, right after their partial file has bytes.
    env: { GRIN_PIPELINE_KILL_AT: killed.map((b) => `download:after-partial@${b}`).join(','), GRIN_PIPELINE_KILL_ONCE_DIR: onceDir },
    beforeRestart: () => {
      for (const f of bookFiles(env.config.processingDir)) if (f.name.endsWith('.part')) partialsSeen.add(f.barcode);
    },
  });
  children.push(worker);
  const client = await temporalClient();
  // A download lost with its worker is noticed by its missing heartbeat (5 s here, not minutes).
  const killSettings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 2, heartbeatTimeoutSeconds: 5 });
  const handle = await startBatch(client, env.config, barcodes, {
    batchId: 'killed-downloads',
    window: barcodes.length,
    settings: killSettings,
  });
  const board = await Board.open(env.config.pipelineDir);
  await waitUntil(
    async () => (await board.counts())['07_stored'] === barcodes.length,
    PATIENCE_MS,
    'all eight books stored after the kills',
  );
  expect(await handle.result()).toMatchObject({ stored: barcodes.length, failed: 0 });
  // The kills did happen, and left partial downloads behind.
  expect(worker.deaths()).toBeGreaterThan(0);
  expect(partialsSeen.size).toBeGreaterThan(0);
  await worker.stop();
});

test('(c) a small processing disk: books are admitted only as the disk can carry them, and all are stored', async () => {
  // Archives here are ~150-300 KiB; the disk takes at most three books at their peak (3 archives each).
  const CAPACITY = 1_500 * KiB;
  const env = newEnv('admdisk', { limits: { diskUsageThreshold: 1, archiveBytesEstimate: 300 * KiB } });
  const processing = env.config.processingDir;
  const used = () => bytesUnder(processing);
  let mostOnDisk = 0;
  const watch = setInterval(() => {
    mostOnDisk = Math.max(mostOnDisk, new Set(bookFiles(processing).map((f) => f.barcode)).size);
  }, 20);
  // Slow transfers (1-2 s each): downloads overlap, as they do with real archives.
  sim.setFaults({ slowBodyBytesPerSecond: 128 * KiB });
  const workers = await startWorkers(env.config, {
    diskBytes: async () => ({ total: CAPACITY, available: Math.max(0, CAPACITY - used()) }),
    diskCheckMs: 200,
    download: { diskUsage: async () => Math.min(1, used() / CAPACITY), diskRetrySeconds: 1 },
  });
  try {
    const barcodes = sim.barcodes.slice(24, 34);
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, barcodes, {
      batchId: 'small-disk',
      window: barcodes.length,
      settings: settings(env.config),
    });
    const board = await Board.open(env.config.pipelineDir);
    await waitUntil(
      async () => (await board.counts())['07_stored'] === barcodes.length,
      PATIENCE_MS,
      'all ten books stored on a small disk',
    );
    expect(await handle.result()).toMatchObject({ stored: barcodes.length, failed: 0 });
    const archives = await Promise.all(barcodes.map(async (b) => (await board.get(b))?.encryptedBytes ?? 0));
    const smallest = Math.min(...archives);
    expect(smallest).toBeGreaterThan(0);
    // No admission beyond n × peak ≤ capacity, whatever the estimate was at the time (never below the smallest archive).
    const fit = Math.floor(CAPACITY / (PEAK_ARCHIVE_SIZES * Math.min(smallest, env.config.limits.archiveBytesEstimate)));
    expect(fit).toBeLessThan(env.config.concurrency.booksOnHost); // the disk, not the limit, is what bounds it here
    expect(mostOnDisk).toBeGreaterThan(0);
    expect(mostOnDisk).toBeLessThanOrEqual(fit);
  } finally {
    clearInterval(watch);
    await workers.stop();
  }
});

test('(d) a second live worker with the same host id is refused, with one line naming the first', async () => {
  const env = newEnv('admtwin');
  const { bundleFile, dir } = await childFiles(env);
  const first = superviseFileHostWorker({ config: env.config, hostId: 'twin', dir, script: CHILD_SCRIPT, args: [bundleFile] });
  children.push(first);
  const hostQueue = hostQueueName(env.config, 'twin');
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  try {
    let firstIdentity = '';
    await waitUntil(
      async () => {
        const pollers = await pollersOf(connection, env.config.temporal.namespace, [{ name: hostQueue, type: 'activity', host: true }]);
        firstIdentity = pollers.find((p) => p.identity.startsWith('grin-pipeline host=twin '))?.identity ?? '';
        return firstIdentity !== '';
      },
      PATIENCE_MS,
      'the first worker polling its host queue',
    );

    // The same host id from another process (as on a cloned machine, whose host name is the same).
    const second = spawn(
      process.execPath,
      ['-r', join(dir, 'ts-hook.cjs'), CHILD_SCRIPT, join(dir, 'worker-config.json'), 'twin', bundleFile],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    second.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    second.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => second.once('exit', done));
    expect(stdout).not.toContain('ready');
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Host id "twin" is in use by another live worker: ${firstIdentity}`);
    expect(lines[0]).toContain('--host-id');

    // In-process too (createPipelineWorkers is what every entry point calls).
    await expect(createPipelineWorkers(env.config, { hostId: 'twin', connection, workflowBundle: await workflowBundle() })).rejects.toThrow(
      /is in use by another live worker/,
    );
    // Another host id starts beside it.
    const other = await startWorkers(env.config, { hostId: 'twin-2', connection });
    await other.stop();
  } finally {
    await first.stop();
    await connection.close();
  }
});

test('(e) a book whose local copy is gone from its host, twice, is downloaded again as a host move, never parked as damaged', async () => {
  const env = newEnv('admlost', { concurrency: { fileActivities: 1, booksOnHost: 2 } });
  const { bundleFile, dir } = await childFiles(env);
  const barcodes = sim.barcodes.slice(34, 37);
  const victim = barcodes[0];
  const onceDir = join(dir, 'kill-once');
  mkdirSync(onceDir);
  const worker = superviseFileHostWorker({
    config: env.config,
    hostId: 'forgetful',
    dir,
    script: CHILD_SCRIPT,
    args: [bundleFile],
    // The worker dies twice during the victim's decrypt (after its output, after its record); while it
    // is down, the victim's local files go (a disk replaced, files removed by hand): each time, the
    // decrypt run again finds the downloaded archive missing.
    env: { GRIN_PIPELINE_KILL_AT: `decrypt:after-output@${victim},decrypt:after-record@${victim}`, GRIN_PIPELINE_KILL_ONCE_DIR: onceDir },
    beforeRestart: () => {
      for (const f of bookFiles(env.config.processingDir))
        if (f.barcode === victim) rmSync(join(env.config.processingDir, f.name), { recursive: true, force: true });
    },
  });
  children.push(worker);
  const client = await temporalClient();
  const lostSettings = bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 2, heartbeatTimeoutSeconds: 5 });
  const handle = await startBatch(client, env.config, barcodes, {
    batchId: 'lost-copies',
    window: barcodes.length,
    settings: lostSettings,
  });
  expect(await handle.result()).toMatchObject({ stored: barcodes.length, failed: 0 });
  expect(worker.deaths()).toBe(2);
  const status = await client.workflow.getHandle(bookWorkflowId(sim.directory, victim)).query(statusQuery);
  expect(status.state).toBe('stored');
  // Each miss counted as a lost host (the integrity path would have counted none, and parked on the second).
  expect(status.hostMoves).toBe(2);
  await worker.stop();
});
