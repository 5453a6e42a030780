/**
 * Batches on the real Temporal dev server: a batch always ends, with exact counts, however its
 * books' news races it.
 *  - Books already stored settle the moment they start, before the batch has heard that their
 *    starts went through (a page of many starts).
 *  - Books settle while the batch continues as new (a handful of starts per run).
 *  - Every book's news is lost: the periodic reconcile alone finishes the batch.
 *  - A book parked in a batch and retried after the batch finished: `batch-status` says where it
 *    is now, and telling the finished batch is not an error in the book's history.
 * The workers run workflow code bundled with `lose-batch-news` (it only touches batches whose id
 * says `lost-news`).
 */
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Board } from '../../src/buckets/board';
import { startBatch, type StartBatchOptions } from '../../src/cli/batch';
import { batchStatus } from '../../src/cli/batch-status';
import { bookSettingsFrom, UsageError } from '../../src/cli/common';
import type { RunningSimulator } from '../../devkit/simulator';
import {
  BATCH_STARTS_PER_RUN,
  BATCH_WORKFLOW_TASK_TIMEOUT_MS,
  batchWorkflowId,
  bookWorkflowId,
  retrySignal,
  type BatchInput,
} from '../../src/workflows/contracts';
import { startWorkers, temporalClient, testEnv, type RunningWorkers, type TestEnv, startTestSimulator } from '../support/pipeline';
import { LOST_NEWS } from '../support/lose-batch-news';
import { PATIENCE_MS, TEST_PATIENCE_MS, waitUntil } from '../support/wait';

// Generous: a busy machine may take many times longer than an idle one; the tests wait for events.
jest.setTimeout(TEST_PATIENCE_MS);

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { EventType } = temporal.api.enums.v1;

let sim: RunningSimulator;
let env: TestEnv;
let workers: RunningWorkers;
let client: Client;
let board: Board;
/** Barcodes not used by an earlier test yet. */
let unused: string[];

beforeAll(async () => {
  sim = await startTestSimulator('batch', {
    books: 200,
    seed: 31,
    initialState: 'all-available',
    conversionDelaySeconds: 1,
    pages: { min: 1, max: 2 },
    pageImageBytes: 4096,
  });
  env = testEnv(sim, 'batch', { grin: { pollIntervalSeconds: 1 } });
  const bundle: WorkflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    workflowInterceptorModules: [require.resolve('../support/lose-batch-news')],
    logger: {
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (m: string) => process.stderr.write(`${m}\n`),
      log: () => undefined,
    },
  });
  // Each settle notice goes out at once (no grouping), so news can beat a page of starts (the race
  // one test below needs); grouping itself is tested in test/unit/batch-notices.test.ts.
  workers = await startWorkers(env.config, { workflowBundle: bundle, batchNotices: { delayMs: 0 } });
  client = await temporalClient();
  board = await Board.open(env.config.pipelineDir);
  unused = [...sim.barcodes];
});

afterAll(async () => {
  await workers?.stop();
  await sim?.close();
  env?.cleanup();
});

function take(n: number): string[] {
  return unused.splice(0, n);
}

/** Books whose tokens are already in 07_stored: each settles as soon as its workflow starts. */
async function alreadyStored(n: number): Promise<string[]> {
  const barcodes = take(n);
  for (const barcode of barcodes) await board.move(barcode, '07_stored', { directory: sim.directory });
  return barcodes;
}

function batch(batchId: string, barcodes: string[], opts: Partial<StartBatchOptions> = {}) {
  return startBatch(client, env.config, barcodes, { batchId, settings: bookSettingsFrom(env.config, { pollIntervalSeconds: 1 }), ...opts });
}

/** Every run of a batch, oldest first, by following its continue-as-new chain from the first run. */
async function runHistories(batchId: string, firstRunId: string): Promise<HistoryEvent[][]> {
  const id = batchWorkflowId(sim.directory, batchId);
  const runs: HistoryEvent[][] = [];
  for (let runId: string | null | undefined = firstRunId; runId;) {
    const events: HistoryEvent[] = (await client.workflow.getHandle(id, runId).fetchHistory()).events ?? [];
    runs.push(events);
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return runs;
}

/** The barcodes a `bookSettled` or `booksSettled` signal event brings news of. */
function settledSignals(e: HistoryEvent): string[] {
  const a = e.workflowExecutionSignaledEventAttributes;
  if (a?.signalName !== 'bookSettled' && a?.signalName !== 'booksSettled') return [];
  const payload = JSON.parse(Buffer.from(a.input!.payloads![0].data!).toString('utf8')) as { barcode: string } | { barcode: string }[];
  return (Array.isArray(payload) ? payload : [payload]).map((n) => n.barcode);
}

function childStarted(e: HistoryEvent): string | undefined {
  const id = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
  return id ? id.slice(id.lastIndexOf('/') + 1) : undefined;
}

function firstRunId(handle: object): string {
  const runId = (handle as { firstExecutionRunId?: string }).firstExecutionRunId;
  if (!runId) throw new Error('expected a freshly started batch');
  return runId;
}

test('a window of 5 and a continue-as-new every 7 starts still stores all 30 books once', async () => {
  const barcodes = take(30);
  const handle = await batch('many-runs', barcodes, { window: 5, startsPerRun: 7 });
  const summary = await handle.result();
  expect(summary).toEqual({ batchId: 'many-runs', total: 30, started: 30, alreadyKnown: 0, stored: 30, failed: 0, cancelled: 0 });
  for (const barcode of barcodes) expect(await board.locate(barcode)).toBe('07_stored');
  // Each book was downloaded once: no book was started twice across runs.
  const gets = sim.requestLog.filter(
    (r) => r.method === 'GET' && r.path.endsWith('.tar.gz.gpg') && r.status === 200 && barcodes.some((b) => r.path.includes(b)),
  );
  expect(gets).toHaveLength(30);
  expect(new Set(gets.map((r) => r.path)).size).toBe(30);
  // The batch really ran as several runs (30 starts / 7 per run).
  const runs = await runHistories('many-runs', firstRunId(handle));
  expect(runs.length).toBeGreaterThanOrEqual(5);
  // Every run has room to replay its history on a busy host (Temporal's default task timeout is 10 s).
  const taskTimeouts = runs.map((events) => Number(events[0].workflowExecutionStartedEventAttributes?.workflowTaskTimeout?.seconds));
  expect(taskTimeouts).toEqual(runs.map(() => BATCH_WORKFLOW_TASK_TIMEOUT_MS / 1000));
});

test('books that settle before their page of starts has resolved are counted, and the batch ends', async () => {
  const barcodes = await alreadyStored(60);
  // One page: 60 starts sent together; each book finds its token stored and settles at once.
  const handle = await batch('settle-early', barcodes, { window: 60 });
  const summary = await handle.result();
  expect(summary).toEqual({ batchId: 'settle-early', total: 60, started: 60, alreadyKnown: 0, stored: 60, failed: 0, cancelled: 0 });

  // The race really happened: news of some books came in before every start of the page had
  // resolved (the batch used to drop exactly these, and never ended).
  const [events] = await runHistories('settle-early', firstRunId(handle));
  // start-batch gave the batch its run size (the workflow's own default is for older batches).
  const input = events[0].workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  expect((JSON.parse(Buffer.from(input!).toString('utf8')) as BatchInput).startsPerRun).toBe(BATCH_STARTS_PER_RUN);
  let lastStart = -1;
  events.forEach((e, i) => {
    if (childStarted(e)) lastStart = i;
  });
  const early = events.slice(0, lastStart).flatMap(settledSignals);
  expect(early.length).toBeGreaterThan(0);
  // Each book's news arrived exactly once.
  expect(events.flatMap(settledSignals).sort()).toEqual([...barcodes].sort());

  // The same command again re-attaches to the finished batch: same result, no new run.
  const again = await batch('settle-early', barcodes, { window: 60 });
  expect(await again.result()).toEqual(summary);
  expect((await client.workflow.getHandle(batchWorkflowId(sim.directory, 'settle-early')).describe()).runId).toBe(firstRunId(handle));
  // The same id for other books is refused: the running batch reads its list by position.
  await expect(batch('settle-early', barcodes.slice(1), { window: 60 })).rejects.toThrow(UsageError);
});

test('books that settle while the batch continues as new are all counted', async () => {
  const barcodes = await alreadyStored(40);
  const handle = await batch('settle-across-runs', barcodes, { window: 10, startsPerRun: 3 });
  const summary = await handle.result();
  expect(summary).toEqual({ batchId: 'settle-across-runs', total: 40, started: 40, alreadyKnown: 0, stored: 40, failed: 0, cancelled: 0 });

  const runs = await runHistories('settle-across-runs', firstRunId(handle));
  expect(runs.length).toBeGreaterThanOrEqual(14); // 40 starts, 3 per run
  // Every book's news reached some run exactly once: none was lost at a continue-as-new...
  const signalled = runs.flatMap((events) => events.flatMap(settledSignals));
  expect(signalled.sort()).toEqual([...barcodes].sort());
  // ...including news of books that an earlier run started (carried over in the state).
  const crossed = runs.flatMap((events) => {
    const startedHere = new Set(events.map(childStarted).filter(Boolean));
    return events.flatMap(settledSignals).filter((b) => !startedHere.has(b));
  });
  expect(crossed.length).toBeGreaterThan(0);
  const rejected = runs.flat().filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED).length;
  process.stderr.write(
    `settle-across-runs: ${runs.length} runs, ${crossed.length} books' news crossed a continue-as-new, ${rejected} workflow tasks rejected (e.g. a signal during continue-as-new)\n`,
  );
});

test("when every book's news is lost, the periodic reconcile still ends the batch with exact counts", async () => {
  const stored = await alreadyStored(12);
  const fresh = take(2); // these go through GRIN and every stage
  const batchId = `${LOST_NEWS}-1`;
  const handle = await batch(batchId, [...stored, ...fresh], { window: 5, startsPerRun: 4, reconcileIntervalSeconds: 1 });
  const summary = await handle.result();
  expect(summary).toEqual({ batchId, total: 14, started: 14, alreadyKnown: 0, stored: 14, failed: 0, cancelled: 0 });
  const runs = await runHistories(batchId, firstRunId(handle));
  // No news arrived by signal: the batch learnt everything from Temporal.
  expect(runs.flat().flatMap(settledSignals)).toEqual([]);
  const reconciles = runs.flat().filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'settledBooks');
  expect(reconciles.length).toBeGreaterThan(0);
});

test('a book parked in a batch and stored by a retry after the batch finished: batch-status counts it stored', async () => {
  const [stuck] = take(1);
  const [done] = await alreadyStored(1);
  const passphraseFile = env.config.grin.gpgPassphrase.file!;
  writeFileSync(passphraseFile, 'not the passphrase');
  let summary;
  try {
    const handle = await batch('retry-later', [stuck, done]);
    summary = await handle.result();
  } finally {
    writeFileSync(passphraseFile, sim.passphrase);
  }
  expect(summary).toEqual({ batchId: 'retry-later', total: 2, started: 2, alreadyKnown: 0, stored: 1, failed: 1, cancelled: 0 });
  await waitUntil(
    async () => {
      const s = await batchStatus(client, env.config, 'retry-later');
      return s.state === 'finished' && s.books.failed === 1 && s.books['07_stored'] === 1;
    },
    PATIENCE_MS,
    'batch-status shows one stored and one parked',
  );

  // After the batch has finished, the operator fixes the passphrase and retries the book.
  const book = client.workflow.getHandle(bookWorkflowId(sim.directory, stuck));
  await book.signal(retrySignal);
  expect(await book.result()).toBe('stored');
  await waitUntil(
    async () => {
      const s = await batchStatus(client, env.config, 'retry-later');
      return s.books['07_stored'] === 2 && s.books.failed === 0;
    },
    PATIENCE_MS,
    'batch-status shows both books stored',
  );
  // What the batch counted when it ended is still reported as such.
  expect((await batchStatus(client, env.config, 'retry-later')).summary).toEqual(summary);

  // Telling the finished batch was an answer ("not running"), not a failed event in the book's history.
  const events = (await book.fetchHistory()).events ?? [];
  expect(events.filter((e) => e.eventType === EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED)).toEqual([]);
  expect(events.filter((e) => e.eventType === EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)).toEqual([]);
  // The notice is a local activity's result, kept in its marker (or an activity's, for older books).
  const notices = events
    .flatMap((e) => [
      e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data,
      ...Object.values(e.markerRecordedEventAttributes?.details ?? {}).flatMap((p) => (p.payloads ?? []).map((x) => x.data)),
    ])
    .filter((data): data is Uint8Array => !!data?.length)
    .map((data) => JSON.parse(Buffer.from(data).toString('utf8')) as unknown);
  expect(notices).toContain('batch-not-running');
});
