/**
 * Waiting for GRIN to convert, for books from the `lean-book` patch on: instead of one poll per
 * waiting book per interval (an activity attempt each, so a billed action each), one conversion
 * watcher per GRIN directory (workflows/conversion-watcher.ts) runs `watchConversions` once per poll
 * interval. It looks up every book in 01_requested in this worker's cached listings (fetched once
 * per interval however many books wait) and tells each book whose conversion ended, by signal.
 *
 * `requestConversion` makes sure a watcher runs (signal-with-start) whenever it puts a book in
 * 01_requested, so the watcher may stop once nothing waits.
 *
 * Safe to run again: a book told twice takes the first notice (its workflow moves the token), and a
 * book whose workflow is gone is skipped (a new run of it is told at the next look).
 */
import { Context, getClient } from '@temporalio/activity';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { PipelineConfig } from '../config/types';
import {
  booksWaitingSignal,
  conversionSeenSignal,
  conversionWatchWorkflowId,
  bookWorkflowId,
  type ConversionNotice,
  type ConversionWatchInput,
} from '../workflows/contracts';
import { isNotFound } from './batch';
import type { ActivityDeps } from './deps';
import { failureOf } from './failures';
import { lookForConversion } from './wait-for-conversion';
import { BookWaits } from './waiting';

/** Books told at once: thousands in seconds after a long outage, few enough to be polite to the server. */
const SIGNALS_AT_ONCE = 16;

export function createConversionWatchActivities(deps: ActivityDeps) {
  // Each waiting book's token says what it waits for when a listing fails (as a polling book's did).
  const waits = new BookWaits(deps.board);
  const lookFor = async (barcode: string, pollIntervalSeconds: number) => {
    try {
      const seen = await lookForConversion(deps, barcode, pollIntervalSeconds);
      waits.succeeded(barcode);
      return seen;
    } catch (err) {
      // One book's look inside a look for many: converted here, as the interceptor converts an activity's.
      const failure = failureOf(err);
      await waits.failed(barcode, failure);
      throw failure;
    }
  };
  /** Books whose token says they wait for a failing listing, until a look succeeds again. */
  const saidWaiting = new Set<string>();

  return {
    /** One look: tells the books whose conversion ended; answers how many still wait. */
    async watchConversions(input: { directory: string; pollIntervalSeconds: number }): Promise<{ waiting: number; told: number }> {
      const barcodes = await deps.board.listBarcodes('01_requested');
      const ended: { barcode: string; notice: ConversionNotice }[] = [];
      // A listing that fails for one book may still answer for others (`_failed` unreadable: the
      // books `_converted` lists go on), so every book is looked up; the failure ends the look after.
      let failure: { err: unknown } | undefined;
      const unanswered: string[] = [];
      for (const barcode of barcodes) {
        let seen;
        try {
          seen = failure && !deps.conversionListings.answersConvertedOnly ? undefined : await lookFor(barcode, input.pollIntervalSeconds);
        } catch (err) {
          failure ??= { err };
          saidWaiting.add(barcode);
          continue;
        }
        if (!seen) {
          unanswered.push(barcode);
          continue;
        }
        if (seen.state !== 'waiting') ended.push({ barcode, notice: seen });
        else if (saidWaiting.delete(barcode))
          await deps.board.update(barcode, { status: 'waiting for GRIN to convert' }).catch(() => undefined);
      }
      // A listing failed: every book it left unanswered waits for it (its token says so).
      for (const barcode of unanswered) {
        saidWaiting.add(barcode);
        await waits.failed(barcode, failure!.err);
      }
      const client = getClient();
      let told = 0;
      for (let i = 0; i < ended.length; i += SIGNALS_AT_ONCE) {
        await Promise.all(
          ended.slice(i, i + SIGNALS_AT_ONCE).map(async ({ barcode, notice }) => {
            try {
              await client.workflow.getHandle(bookWorkflowId(input.directory, barcode)).signal(conversionSeenSignal, notice);
              told++;
            } catch (err) {
              if (!isNotFound(err)) throw err;
            }
          }),
        );
        Context.current().heartbeat(i);
      }
      // The books that could be told were; the look is tried again for the others.
      if (failure) throw failure.err;
      return { waiting: barcodes.length - ended.length, told };
    },
  };
}

/** The check (below) of the directory's running watcher, once per process, by directory and queues. */
const watcherChecks = new Map<string, Promise<boolean>>();

/** Starts the directory's watcher if none runs, and keeps a running one from finishing before its next look. */
export async function ensureConversionWatcher(deps: Pick<ActivityDeps, 'config'>): Promise<void> {
  const { config } = deps;
  const client = getClient();
  const checkKey = `${config.grin.directory}\n${config.temporal.workflowTaskQueue}\n${config.temporal.grinTaskQueue}`;
  let check = watcherChecks.get(checkKey);
  if (!check) {
    check = replaceWatcherOnOtherQueues(client, config, (line) => Context.current().log.warn(line));
    watcherChecks.set(checkKey, check);
    check.catch(() => watcherChecks.delete(checkKey)); // checked again by the next request
  }
  await check;
  await startConversionWatcher(client, config);
}

/**
 * At a worker's start, with books waiting in 01_requested: a watcher left on other task queues is
 * replaced now, not at the next request (there may be none: every book may already wait). True if
 * it was replaced.
 */
export async function reviveStaleConversionWatcher(client: Client, config: PipelineConfig, warn: (line: string) => void): Promise<boolean> {
  if (!(await replaceWatcherOnOtherQueues(client, config, warn))) return false;
  await startConversionWatcher(client, config);
  return true;
}

function watchInput(config: PipelineConfig): ConversionWatchInput {
  return {
    directory: config.grin.directory,
    pollIntervalSeconds: config.grin.pollIntervalSeconds,
    grinTaskQueue: config.temporal.grinTaskQueue,
  };
}

async function startConversionWatcher(client: Client, config: PipelineConfig): Promise<void> {
  const input = watchInput(config);
  await client.workflow.signalWithStart('conversionWatchWorkflow', {
    workflowId: conversionWatchWorkflowId(input.directory),
    taskQueue: config.temporal.workflowTaskQueue,
    args: [input],
    signal: booksWaitingSignal,
    signalArgs: [],
    staticSummary: `conversion watcher for GRIN directory ${input.directory}`,
  });
}

/**
 * A running watcher keeps the task queues it was started with. If the config's queues changed since
 * (workers restarted with other `temporal.workflowTaskQueue` or `grinTaskQueue`), nobody polls its
 * queues and it would never look again, so the books waiting on it would wait for ever: it is
 * terminated (true), and the caller starts one on the current queues. The watcher holds no state
 * of its own (it reads the board at each look), so nothing is lost.
 */
async function replaceWatcherOnOtherQueues(client: Client, config: PipelineConfig, warn: (line: string) => void): Promise<boolean> {
  const { directory } = config.grin;
  const { workflowTaskQueue, grinTaskQueue } = config.temporal;
  const workflowId = conversionWatchWorkflowId(directory);
  let running: { runId: string; workflowTaskQueue: string; grinTaskQueue: string | undefined };
  try {
    const description = await client.workflow.getHandle(workflowId).describe();
    if (description.status.name !== 'RUNNING') return false;
    // Pinned to this run: a replacement another activity started meanwhile is left alone.
    const started = await startedGrinQueue(client.workflow.getHandle(workflowId, description.runId));
    running = { runId: description.runId, workflowTaskQueue: description.taskQueue, grinTaskQueue: started };
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  const grinQueueDiffers = running.grinTaskQueue !== undefined && running.grinTaskQueue !== grinTaskQueue;
  if (running.workflowTaskQueue === workflowTaskQueue && !grinQueueDiffers) return false;
  const reason =
    `the config's task queues (workflows ${workflowTaskQueue}, GRIN ${grinTaskQueue}) differ from this watcher's ` +
    `(workflows ${running.workflowTaskQueue}, GRIN ${running.grinTaskQueue ?? 'unknown'}); a watcher on the current ones replaces it`;
  warn(`conversion watcher of ${directory} replaced: ${reason}`);
  await client.workflow
    .getHandle(workflowId, running.runId)
    .terminate(reason)
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err; // it finished meanwhile
    });
  return true;
}

/** The GRIN task queue in the input of the watcher's run (its first history event); undefined if unreadable. */
async function startedGrinQueue(handle: WorkflowHandle): Promise<string | undefined> {
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload?.data) return undefined;
  try {
    return (JSON.parse(Buffer.from(payload.data).toString('utf8')) as Partial<ConversionWatchInput>).grinTaskQueue;
  } catch {
    return undefined;
  }
}
