/**
 * The conversion watcher of one GRIN directory, id `grin-watch/<directory>`: once per poll interval,
 * one `watchConversions` look tells every book in 01_requested whose conversion ended (books from
 * the `lean-book` patch on wait for that signal). Waiting books then cost the watcher's few actions
 * per interval in all, instead of one activity attempt each.
 *
 * `requestConversion` signal-with-starts it every time it puts a book in 01_requested, so it may
 * finish when two looks in a row found nothing waiting and no book arrived since the look began
 * (a signal that comes in while it finishes makes Temporal run it on). It continues as new once
 * its history reaches EVENTS_PER_RUN (the books' signals count too). Deterministic code only.
 */
import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { GrinActivities } from '../activities';
import { booksWaitingSignal, type ConversionWatchInput } from './contracts';

/**
 * History length at which a run continues as new: each look costs about 12 events and each book's
 * request signal about 4 (5,000 a day at GRIN's pace), so a run lasts a few hours at most.
 */
const EVENTS_PER_RUN = 2_000;
/** Looks in a row that found nothing waiting before the watcher finishes. */
const IDLE_LOOKS_TO_FINISH = 2;

export async function conversionWatchWorkflow(input: ConversionWatchInput): Promise<void> {
  const { watchConversions } = proxyActivities<GrinActivities>({
    taskQueue: input.grinTaskQueue,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '2 minutes',
    // GRIN or the board unreachable: try again, never give up (books wait for this watcher).
    retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: `${Math.max(input.pollIntervalSeconds, 60)}s` },
  });
  let booksArrived = false;
  setHandler(booksWaitingSignal, () => {
    booksArrived = true;
  });

  let idleLooks = 0;
  while (workflowInfo().historyLength < EVENTS_PER_RUN && !workflowInfo().continueAsNewSuggested) {
    booksArrived = false;
    const { waiting } = await watchConversions({ directory: input.directory, pollIntervalSeconds: input.pollIntervalSeconds });
    idleLooks = waiting === 0 ? idleLooks + 1 : 0;
    if (idleLooks >= IDLE_LOOKS_TO_FINISH && !booksArrived) return;
    // Sleep a poll interval; a book that arrives while nothing waited is looked for at once.
    await condition(() => booksArrived && waiting === 0, input.pollIntervalSeconds * 1000);
  }
  await continueAsNew<typeof conversionWatchWorkflow>(input);
}
