/**
 * Pause and throttle while running (issue 24, item 6), with real servers: the Temporal dev server,
 * the GRIN simulator over HTTP, the worker set in this process and the CLI as a user types it. A
 * running batch is paused (no new download or conversion request reaches GRIN while it lasts, the
 * board and `status` say so, the stall check does not call the paused queues stalled), throttled to
 * one download in flight, unpaused, and every book is stored with none parked.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { deploymentStalls } from '../../src/cli/stalls';
import type { RunningSimulator } from '../../devkit/simulator';
import { runCli, writeConfigFile } from '../support/cli';
import { startTestSimulator, startWorkers, temporalClient, testEnv, type TestEnv } from '../support/pipeline';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

jest.setTimeout(TEST_PATIENCE_MS);

const KiB = 1024;
let sim: RunningSimulator;
let env: TestEnv;

beforeAll(async () => {
  sim = await startTestSimulator('opctl', {
    books: 12,
    seed: 2026120705,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 4, max: 8 },
    pageImageBytes: 32 * KiB,
  });
  env = testEnv(sim, 'opctl', { metrics: { queueStallSeconds: 1 } });
});

afterAll(async () => {
  await sim?.close();
  env?.cleanup();
});

const archiveGetsSince = (t: number) =>
  sim.requestLog.filter((e) => e.method === 'GET' && e.path.endsWith('.tar.gz.gpg') && e.time >= t).map((e) => e.path);
const conversionRequestsSince = (t: number) => sim.requestLog.filter((e) => e.path.endsWith('/_process') && e.time >= t).map((e) => e.path);

test('a running batch is paused (nothing new reaches GRIN, the views say so), throttled, unpaused, and completes', async () => {
  const configDir = join(env.dir, 'cli');
  mkdirSync(configDir);
  const configFile = writeConfigFile(configDir, env.config);
  // Downloads take a second or two each, so the batch is mid-way when it is paused.
  sim.setFaults({ slowBodyBytesPerSecond: 128 * KiB });
  const workers = await startWorkers(env.config, { controlCheckMs: 200, stallWatch: false });
  try {
    const barcodes = [...sim.barcodes];
    const client = await temporalClient();
    const handle = await startBatch(client, env.config, barcodes, {
      batchId: 'paused',
      window: barcodes.length,
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1, queueFullRetrySeconds: 2 }),
    });
    const board = await Board.open(env.config.pipelineDir);
    const downloaded = async () => (await Promise.all(barcodes.map((b) => board.get(b)))).filter((t) => t?.stages['03_downloaded']).length;
    await waitUntil(async () => (await downloaded()) >= 1, PATIENCE_MS, 'a first book downloaded');

    const paused = await runCli(['-c', configFile, 'pause']);
    expect(paused.exitCode).toBe(0);
    expect(paused.stdout).toMatch(/^GRIN requests paused by operator since \S+/m);
    expect(paused.stdout).toMatch(/^downloads paused by operator since \S+/m);
    // The workers read the pause, and what was already running when it came has finished.
    await waitUntil(
      async () => {
        const s = workers.operatorState();
        return s.grinPaused && s.downloadsPaused && s.grinRunning === 0 && s.downloadsRunning === 0;
      },
      PATIENCE_MS,
      'the workers holding GRIN calls and downloads',
    );
    // The simulator logs a request when its response closes, which may be just after the client has
    // its last byte: what counts is that no request *started* once the workers were idle.
    const idleAt = Date.now();
    const downloadedAtPause = await downloaded();
    await new Promise((r) => setTimeout(r, 8000));
    expect(archiveGetsSince(idleAt)).toEqual([]);
    expect(conversionRequestsSince(idleAt)).toEqual([]);
    expect(await downloaded()).toBe(downloadedAtPause);
    // The pause held something back: books not downloaded yet wait in place, none failed.
    expect(downloadedAtPause).toBeLessThan(barcodes.length);
    expect((await board.counts()).failed).toBe(0);

    const boardView = await runCli(['-c', configFile, 'board']);
    expect(boardView.exitCode).toBe(0);
    expect(boardView.stdout).toMatch(/^downloads paused by operator since \S+/m);
    const waiting = (await Promise.all(barcodes.map((b) => board.get(b)))).find(
      (t) => t && ['00_available', '01_requested', '02_converted'].includes(t.bucket),
    )!;
    expect(waiting).toBeDefined();
    const status = await runCli(['-c', configFile, 'status', waiting.barcode]);
    expect(status.stdout).toMatch(/^waiting\s+(GRIN requests|downloads) paused by operator since \S+/m);
    // The paused queues have work and no poll (queueStallSeconds is 1 here): a named cause, not a stall.
    const report = await deploymentStalls(client, env.config, board);
    expect(report.queues.filter((q) => q.role === 'grin' || q.role === 'shared-file')).toEqual([]);
    expect(report.paused).toHaveLength(2);

    const throttled = await runCli(['-c', configFile, 'throttle', '--downloads', '1', '--grin-rate', '2']);
    expect(throttled.exitCode).toBe(0);
    expect(throttled.stdout).toContain('at most 1 download(s) in flight per host');
    await waitUntil(async () => workers.operatorState().downloadCap === 1, PATIENCE_MS, 'the workers applying the throttle');
    // From the moment no more than one slot is out, no more than one download runs at once.
    let armed = false;
    let mostRunning = 0;
    const sampler = setInterval(() => {
      const s = workers.operatorState();
      if (s.downloadSlots <= 1) armed = true;
      if (armed) mostRunning = Math.max(mostRunning, s.downloadsRunning);
    }, 10);
    try {
      const unpaused = await runCli(['-c', configFile, 'unpause']);
      expect(unpaused.exitCode).toBe(0);
      expect(unpaused.stdout).not.toContain('paused by operator');
      await waitUntil(
        async () => (await board.counts())['07_stored'] === barcodes.length,
        PATIENCE_MS,
        'every book stored after the pause',
      );
    } finally {
      clearInterval(sampler);
    }
    expect(armed).toBe(true);
    expect(mostRunning).toBeLessThanOrEqual(1);
    expect(archiveGetsSince(idleAt).length).toBeGreaterThan(0);
    expect(await handle.result()).toMatchObject({ stored: barcodes.length, failed: 0, cancelled: 0 });

    const reset = await runCli(['-c', configFile, 'throttle', '--reset']);
    expect(reset.stdout).toContain('nothing paused or throttled');
  } finally {
    sim.setFaults({ slowBodyBytesPerSecond: 1e12 });
    await workers.stop();
  }
});

test('pause and throttle refuse bad input with one error line and exit code 2', async () => {
  const configDir = join(env.dir, 'cli-bad');
  mkdirSync(configDir);
  const noBoard = writeConfigFile(configDir, { ...env.config, pipelineDir: join(configDir, 'nowhere') });
  const run = await runCli(['-c', noBoard, 'pause']);
  expect(run.exitCode).toBe(2);
  expect(run.error?.message).toMatch(/^no board at .*nowhere: check -c/);
  const configFile = writeConfigFile(configDir, env.config);
  expect((await runCli(['-c', configFile, 'throttle', '--downloads', '0'])).exitCode).toBe(2);
  expect((await runCli(['-c', configFile, 'throttle', '--reset', '--downloads', '2'])).exitCode).toBe(2);
});
