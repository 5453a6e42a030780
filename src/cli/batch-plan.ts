/**
 * `start-batch --dry-run`: what a batch would start and what it would skip, and why, without
 * starting or writing anything. It asks Temporal the same question the batch's own idempotent start
 * answers: a book whose workflow is running or finished is not started again (reuse policy
 * ALLOW_DUPLICATE_FAILED_ONLY), one whose last run failed or was terminated is started anew.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { BarcodeListProblem } from '../buckets/barcode';
import type { PipelineConfig } from '../config/types';
import { bookWorkflowId } from '../workflows/contracts';
import { GrinStage } from '../workflows/search-attributes';
import type { Selection } from './batch';

export type PlanReason = 'new' | 'last run ended' | 'already stored' | 'already running' | 'parked' | 'cancelled' | 'invalid' | 'duplicate' | 'over limit' | 'batch finished';

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

/** How one book's workflow stands, in start-batch's terms. */
async function bookPlan(client: Client, directory: string, barcode: string): Promise<PlanLine> {
  try {
    const d = await client.workflow.getHandle(bookWorkflowId(directory, barcode)).describe();
    const stage = d.typedSearchAttributes.get(GrinStage);
    switch (d.status.name) {
      case 'RUNNING':
      case 'PAUSED':
        if (stage === 'failed') return { action: 'skip', reason: 'parked', barcode, detail: 'running, parked in failed: waits for `retry` or `cancel`' };
        return { action: 'skip', reason: 'already running', barcode, detail: `already running${stage ? ` (at ${stage})` : ''}` };
      case 'COMPLETED':
        if (stage === 'cancelled') return { action: 'skip', reason: 'cancelled', barcode, detail: 'cancelled by an operator (its workflow finished)' };
        return { action: 'skip', reason: 'already stored', barcode, detail: 'already stored (its workflow finished)' };
      default:
        return { action: 'start', reason: 'last run ended', barcode, detail: `its last run ended ${d.status.name.toLowerCase()}: started anew` };
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
}

/** Every line of the selection with what start-batch would do with it. Reads Temporal; changes nothing. */
export async function planBatch(client: Client, config: PipelineConfig, selection: Selection, opts: PlanOptions = {}): Promise<PlanLine[]> {
  const inBatch = opts.limit === undefined ? selection.barcodes : selection.barcodes.slice(0, opts.limit);
  const overLimit = selection.barcodes.slice(inBatch.length);
  const books: PlanLine[] = [];
  if (opts.batchFinished) {
    for (const barcode of inBatch) books.push({ action: 'skip', reason: 'batch finished', barcode, detail: 'this batch already finished: it is not run again' });
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
