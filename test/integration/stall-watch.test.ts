/**
 * The stall watch against a real Temporal dev server: silent through a healthy batch (every check
 * of the deployment finds nothing); a book whose downloads go to a queue no worker polls makes
 * that queue reported (and the book shown as held by it); and once the workers are gone, a batch started on the workflow
 * queue (a task waiting, nobody polling) is reported by the next check after the grace, in the log
 * and in the report.
 */
import { Board } from '../../src/buckets/board';
import { startBatch } from '../../src/cli/batch';
import { bookSettingsFrom } from '../../src/cli/common';
import { createLogger } from '../../src/logging/logger';
import type { StallReport } from '../../src/liveness/stalls';
import { startStallWatch } from '../../src/liveness/watch';
import type { RunningSimulator } from '../../devkit/simulator';
import { batchWorkflowId, bookWorkflowId } from '../../src/workflows/contracts';
import { bookStall } from '../../src/cli/stalls';
import { Writable } from 'node:stream';
import { startTestSimulator, startWorkers, temporalClient, testEnv, type RunningWorkers, type TestEnv } from '../support/pipeline';

jest.setTimeout(300_000);

const GRACE_SECONDS = 15;
let sim: RunningSimulator;
let env: TestEnv;
let workers: RunningWorkers;
const healthyReports: StallReport[] = [];

beforeAll(async () => {
  sim = await startTestSimulator('stall-watch', {
    books: 5,
    seed: 31,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 2, max: 3 },
    pageImageBytes: 16 * 1024,
  });
  // Every second, a queue is stalled after 15 s without a poll, a book after a minute without progress.
  env = testEnv(sim, 'stall-watch', { metrics: { stallCheckSeconds: 1, queueStallSeconds: GRACE_SECONDS, bookStallMinutes: 1 } });
  workers = await startWorkers(env.config, { stallWatch: { intervalMs: 1000, onReport: (r) => healthyReports.push(r) } });
});

afterAll(async () => {
  await workers?.stop().catch(() => undefined);
  await sim?.close();
  env?.cleanup();
});

test('a healthy batch: every check finds no stalled queue or book', async () => {
  const client = await temporalClient();
  const barcodes = sim.barcodes.slice(0, 3);
  const handle = await startBatch(client, env.config, barcodes, {
    batchId: 'healthy',
    settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
  });
  expect(await handle.result()).toMatchObject({ stored: 3, failed: 0 });
  // Watch a few more checks after the batch, with the board settled.
  const seen = healthyReports.length;
  while (healthyReports.length < seen + 3) await new Promise((r) => setTimeout(r, 500));
  expect(healthyReports.length).toBeGreaterThan(3);
  expect(healthyReports.filter((r) => r.queues.length || r.books.length)).toEqual([]);
});

test('a book whose file queue no worker polls: the queue is reported, and `status` shows the book held by it', async () => {
  const client = await temporalClient();
  // The book's downloads go to a shared file queue that no worker polls (its workflow and GRIN calls run as usual).
  const config = {
    ...env.config,
    temporal: { ...env.config.temporal, fileTaskQueuePrefix: `${env.config.temporal.fileTaskQueuePrefix}-nobody` },
  };
  const barcode = sim.barcodes[3];
  const reports: StallReport[] = [];
  const board = await Board.open(config.pipelineDir);
  const watch = startStallWatch({
    client,
    config,
    board,
    logger: createLogger({ level: 'error' }),
    intervalMs: 1000,
    onReport: (r) => reports.push(r),
  });
  try {
    await startBatch(client, config, [barcode], {
      batchId: 'no-file-worker',
      settings: bookSettingsFrom(config, { pollIntervalSeconds: 1 }),
    });
    const named = (r: StallReport) => r.queues.find((q) => q.queue === config.temporal.fileTaskQueuePrefix);
    const started = Date.now();
    while (!reports.some(named)) {
      if (Date.now() - started > 120_000) throw new Error(`no stall reported in 120 s; last report: ${JSON.stringify(reports.at(-1))}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const first = reports.find(named)!;
    expect(first.queues).toEqual([
      expect.objectContaining({ queue: config.temporal.fileTaskQueuePrefix, role: 'shared-file', kind: 'activity', backlog: 1 }),
    ]);
    expect(first.queues[0].starvedMs).toBeGreaterThan(GRACE_SECONDS * 1000);
    // The book waits in the queue: not a stall of its own, but `status` says what holds it.
    expect(first.books).toEqual([]);
    const token = (await board.get(barcode))!;
    expect(token.bucket).toBe('02_converted');
    const verdict = await bookStall(client, config, token);
    expect(verdict?.why).toMatch(
      new RegExp(
        `its fetchArchive waits in a stalled queue: STALLED shared file queue ${config.temporal.fileTaskQueuePrefix}: 1 activity task`,
      ),
    );
  } finally {
    await watch.stop();
    await client.workflow
      .getHandle(batchWorkflowId(config.grin.directory, 'no-file-worker'))
      .terminate()
      .catch(() => undefined);
    await client.workflow
      .getHandle(bookWorkflowId(config.grin.directory, barcode))
      .terminate()
      .catch(() => undefined);
  }
});

test('workers gone: a batch started then waits on the workflow queue and is reported as a stalled queue, in the log and the report', async () => {
  await workers.stop();
  const client = await temporalClient();
  const lines: string[] = [];
  const logger = createLogger({
    level: 'info',
    format: 'json',
    stream: new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  });
  const reports: StallReport[] = [];
  const watch = startStallWatch({
    client,
    config: env.config,
    board: await Board.open(env.config.pipelineDir),
    logger,
    intervalMs: 1000,
    onReport: (r) => reports.push(r),
  });
  try {
    const started = Date.now();
    await startBatch(client, env.config, [sim.barcodes[4]], {
      batchId: 'orphan',
      settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }),
    });
    const named = (r: StallReport) => r.queues.find((q) => q.queue === env.config.temporal.workflowTaskQueue && q.kind === 'workflow');
    while (!reports.some(named)) {
      if (Date.now() - started > 120_000) throw new Error(`no stall reported in 120 s; last report: ${JSON.stringify(reports.at(-1))}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const stall = named(reports.find(named)!)!;
    expect(stall).toMatchObject({ role: 'workflow', backlog: 1 });
    // Reported at the first check past the grace (checks are a second apart; slack for a busy machine).
    expect(stall.starvedMs).toBeGreaterThan(GRACE_SECONDS * 1000);
    expect(stall.starvedMs).toBeLessThan((GRACE_SECONDS + 10) * 1000);
    // Nothing else is stalled: the other queues are empty and no book is quiet for a minute yet.
    const first = reports.find(named)!;
    expect(first.queues).toHaveLength(1);
    expect(first.books).toEqual([]);
    const warned = lines.map((l) => JSON.parse(l) as { level: string; msg?: string; message?: string }).filter((e) => e.level === 'warn');
    expect(warned.map((e) => e.msg ?? e.message)).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^STALLED workflow queue ${env.config.temporal.workflowTaskQueue}: 1 workflow task\\(s\\) waiting and no worker polled it`,
        ),
      ),
    );
  } finally {
    await watch.stop();
    await client.workflow
      .getHandle(batchWorkflowId(env.config.grin.directory, 'orphan'))
      .terminate()
      .catch(() => undefined);
  }
});
