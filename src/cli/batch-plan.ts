/**
 * `start-batch --dry-run`: what a batch would start and what it would skip, and why, without
 * starting or writing anything. It asks Temporal the same question the batch's own idempotent start
 * answers: a book whose workflow is running or finished is not started again (reuse policy
 * ALLOW_DUPLICATE_FAILED_ONLY), one whose last run failed or was terminated is started anew.
 * A long list (more than DESCRIBE_UP_TO books) is not asked about book by book: the board says
 * which books are stored, cancelled or on their way (one listing per bucket), and one visibility
 * query says which book workflows are running.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Board } from '../buckets/board';
import type { BarcodeListProblem } from '../buckets/barcode';
import { boardIndex } from './board-index';
import type { PipelineConfig } from '../config/types';
import { bookWorkflowId } from '../workflows/contracts';
import { GrinStage } from '../workflows/search-attributes';
import type { Selection } from './batch';

export type PlanReason =
  | 'new'
  | 'last run ended'
  | 'already stored'
  | 'already running'
  | 'parked'
  | 'cancelled'
  | 'invalid'
  | 'duplicate'
  | 'over limit'
  | 'batch finished';

export interface PlanLine {
  action: 'start' | 'skip';
  reason: PlanReason;
  /** The barcode, or for an invalid line its text. */
  barcode: string;
  /** Line in the source, for lines the list itself rejects. */
  line?: number;
  detail: string;
}

/** Books described at once: quick for thousands of books, polite to the server. */
const DESCRIBES_AT_ONCE = 16;

/** Up to this many books, each is described in Temporal (exact); beyond, the board and one list query answer. */
export const DESCRIBE_UP_TO = 2000;

/** How one book's workflow stands, in start-batch's terms. */
async function bookPlan(client: Client, directory: string, barcode: string): Promise<PlanLine> {
  try {
    const d = await client.workflow.getHandle(bookWorkflowId(directory, barcode)).describe();
    const stage = d.typedSearchAttributes.get(GrinStage);
    switch (d.status.name) {
      case 'RUNNING':
      case 'PAUSED':
        if (stage === 'failed')
          return { action: 'skip', reason: 'parked', barcode, detail: 'running, parked in failed: waits for `retry` or `cancel`' };
        return { action: 'skip', reason: 'already running', barcode, detail: `already running${stage ? ` (at ${stage})` : ''}` };
      case 'COMPLETED':
        if (stage === 'cancelled')
          return { action: 'skip', reason: 'cancelled', barcode, detail: 'cancelled by an operator (its workflow finished)' };
        return { action: 'skip', reason: 'already stored', barcode, detail: 'already stored (its workflow finished)' };
      default:
        return {
          action: 'start',
          reason: 'last run ended',
          barcode,
          detail: `its last run ended ${d.status.name.toLowerCase()}: started anew`,
        };
    }
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { action: 'start', reason: 'new', barcode, detail: 'no workflow yet' };
    throw err;
  }
}

function listLine(problem: BarcodeListProblem, reason: 'invalid' | 'duplicate'): PlanLine {
  return { action: 'skip', reason, barcode: problem.text, line: problem.line, detail: problem.reason };
}

export interface PlanOptions {
  /** Only the first N books of the selection. */
  limit?: number;
  /** The batch of this id has already finished: re-running the command starts nothing. */
  batchFinished?: boolean;
  /** Books asked about one by one up to this many (default DESCRIBE_UP_TO); more are planned from the board. */
  describeUpTo?: number;
}

/** Every line of the selection with what start-batch would do with it. Reads Temporal; changes nothing. */
export async function planBatch(
  client: Client,
  config: PipelineConfig,
  board: Board,
  selection: Selection,
  opts: PlanOptions = {},
): Promise<PlanLine[]> {
  const inBatch = opts.limit === undefined ? selection.barcodes : selection.barcodes.slice(0, opts.limit);
  const overLimit = selection.barcodes.slice(inBatch.length);
  let books: PlanLine[] = [];
  if (opts.batchFinished) {
    for (const barcode of inBatch)
      books.push({ action: 'skip', reason: 'batch finished', barcode, detail: 'this batch already finished: it is not run again' });
  } else if (inBatch.length > (opts.describeUpTo ?? DESCRIBE_UP_TO)) {
    books = await planFromBoard(client, config, board, inBatch); // a million lines: never spread as arguments
  } else {
    for (let i = 0; i < inBatch.length; i += DESCRIBES_AT_ONCE) {
      const chunk = inBatch.slice(i, i + DESCRIBES_AT_ONCE);
      books.push(...(await Promise.all(chunk.map((barcode) => bookPlan(client, config.grin.directory, barcode)))));
    }
  }
  return [
    ...books,
    ...overLimit.map((barcode): PlanLine => ({ action: 'skip', reason: 'over limit', barcode, detail: `beyond --limit ${opts.limit}` })),
    ...selection.invalid.map((p) => listLine(p, 'invalid')),
    ...selection.duplicates.map((p) => listLine(p, 'duplicate')),
  ];
}

/**
 * The plan for a long list: where the board has each book, and whether Temporal runs its workflow.
 * A book neither on the board nor running is new (a finished workflow whose token was lost is
 * started again, and continues from what Temporal and storage hold).
 */
async function planFromBoard(client: Client, config: PipelineConfig, board: Board, barcodes: string[]): Promise<PlanLine[]> {
  const [where, running] = await Promise.all([boardIndex(board), runningBooks(client, config.grin.directory)]);
  return barcodes.map((barcode): PlanLine => {
    const bucket = where.get(barcode);
    if (bucket === '07_stored')
      return { action: 'skip', reason: 'already stored', barcode, detail: 'already stored (07_stored on the board)' };
    if (bucket === 'cancelled') return { action: 'skip', reason: 'cancelled', barcode, detail: 'cancelled by an operator (on the board)' };
    if (running.has(barcode)) {
      if (bucket === 'failed')
        return { action: 'skip', reason: 'parked', barcode, detail: 'running, parked in failed: waits for `retry` or `cancel`' };
      return { action: 'skip', reason: 'already running', barcode, detail: `already running${bucket ? ` (at ${bucket})` : ''}` };
    }
    if (bucket)
      return {
        action: 'start',
        reason: 'last run ended',
        barcode,
        detail: `in ${bucket} on the board with no running workflow: started anew, from there`,
      };
    return { action: 'start', reason: 'new', barcode, detail: 'not on the board and no running workflow' };
  });
}

/** Barcodes of this directory's running book workflows (one visibility query, paged). */
async function runningBooks(client: Client, directory: string): Promise<Set<string>> {
  const prefix = bookWorkflowId(directory, '');
  const running = new Set<string>();
  for await (const info of client.workflow.list({ query: "WorkflowType = 'bookWorkflow' AND ExecutionStatus = 'Running'" })) {
    if (info.workflowId.startsWith(prefix)) running.add(info.workflowId.slice(prefix.length));
  }
  return running;
}

/** One line per book: `start  BARCODE  why` / `skip   BARCODE  why` (list problems with their line number). */
export function formatPlanLine(line: PlanLine): string {
  const where = line.line !== undefined ? `line ${line.line}: ${JSON.stringify(line.barcode)}` : line.barcode;
  return `${line.action.padEnd(5)} ${where}  ${line.detail}`;
}

/** `3 would start (2 new, 1 last run ended); 4 skipped (2 already stored, 1 invalid, 1 duplicate)`. */
export function summarizePlan(lines: PlanLine[]): string {
  const count = (action: PlanLine['action'], verb: string) => {
    const byReason = new Map<PlanReason, number>();
    for (const line of lines) if (line.action === action) byReason.set(line.reason, (byReason.get(line.reason) ?? 0) + 1);
    const total = [...byReason.values()].reduce((a, b) => a + b, 0);
    const parts = [...byReason].map(([reason, n]) => `${n} ${reason}`).join(', ');
    return `${total} ${verb}${parts ? ` (${parts})` : ''}`;
  };
  return `${count('start', 'would start')}; ${count('skip', 'skipped')}`;
}
