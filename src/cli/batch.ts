/**
 * `start-batch`: choose the books (a sample of GRIN's `_all_books`, a barcode file, or barcodes on
 * the command line), write the list where the workers can read it, and start the batch workflow.
 * The same selection gets the same default batch id, so running the same command again re-attaches
 * to the batch (running or finished) instead of starting a second one; and re-running never starts
 * a second workflow for a book that is running or stored.
 */
import { barcodesInQueue, GRIN_QUEUES, isGrinQueue } from './grin-queues';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { writeFileAtomic } from '../common/atomic-file';
import { formatBarcodeListProblems, isValidBarcode, parseBarcodeList, type BarcodeListProblem } from '../buckets/barcode';
import type { PipelineConfig } from '../config/types';
import type { GrinApi } from '../grin/types';
import { batchWorkflow, type BatchSummary } from '../workflows/batch';
import { BATCH_STARTS_PER_RUN, BATCH_WORKFLOW_TASK_TIMEOUT_MS, batchWorkflowId, type BookSettings } from '../workflows/contracts';
import { batchStaticDetails, batchSummary } from '../workflows/metadata';
import { GrinBatch, GrinDirectory } from '../workflows/search-attributes';
import { ensureSearchAttributes, UsageError } from './common';
import { defaultBatchId, validateBatchId } from './batch-id';
import { retrying } from './retry';
import { PRIVATE_DIR_MODE } from '../common/file-modes';

export { defaultBatchId, validateBatchId };

export interface BatchSelection {
  /** Books by where GRIN has them now (src/cli/grin-queues.ts). */
  queue?: string;
  sample?: number;
  barcodesFile?: string;
  barcodes?: string[];
  refreshAllBooks?: boolean;
}

/** The expensive `_all_books` listing, cached in the pipeline folder; refreshed on request. */
export async function cachedAllBooks(
  config: PipelineConfig,
  grin: GrinApi,
  refresh = false,
  log: (s: string) => void = () => undefined,
): Promise<string> {
  const dir = join(config.pipelineDir, 'cache');
  const file = join(dir, `${config.grin.directory}_all_books.txt`);
  if (!refresh && existsSync(file)) return file;
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  log(`fetching GRIN's _all_books list for ${config.grin.directory} (cached in ${file})`);
  const lines: string[] = [];
  for await (const barcode of grin.listAllBarcodes()) lines.push(`${barcode}\n`);
  const count = lines.length;
  await writeFileAtomic(file, lines.join(''));
  log(`${count} barcodes in _all_books`);
  return file;
}

/**
 * The lines of the cached listing up to its n-th distinct barcode, every line kept (blank and
 * malformed ones too) so that line numbers in messages are the file's.
 */
async function linesUpToBarcodes(file: string, n: number): Promise<string[]> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const out: string[] = [];
  const seen = new Set<string>();
  for await (const line of rl) {
    out.push(line);
    const candidate = line.trim().split('\t')[0].trim();
    if (isValidBarcode(candidate)) seen.add(candidate);
    if (seen.size >= n) break;
  }
  rl.close();
  return out;
}

/** The books a selection names, and every line that is not one of them (invalid or repeated). */
export interface Selection {
  /** Valid barcodes, first occurrence order, each once. */
  barcodes: string[];
  invalid: BarcodeListProblem[];
  duplicates: BarcodeListProblem[];
  /** Where the list came from, for messages ("batch.txt", "standard input", ...). */
  source: string;
  /**
   * The list is one of GRIN's listings (`--sample`, `--queue`): an operator cannot edit it, so a
   * malformed line is skipped and reported instead of refusing the list.
   */
  fromGrin?: boolean;
}

/** Reads the selection and reports each line's fate; bad lines are returned, not thrown (see `selectBarcodes`). */
export async function readSelection(
  config: PipelineConfig,
  sel: BatchSelection,
  grin: () => GrinApi | Promise<GrinApi>,
  log: (s: string) => void,
): Promise<Selection> {
  const chosen = [sel.queue !== undefined, sel.sample !== undefined, !!sel.barcodesFile, !!sel.barcodes?.length].filter(Boolean).length;
  if (chosen !== 1)
    throw new UsageError('Say which books: exactly one of --queue NAME, --sample N, --barcodes-file FILE, or barcodes as arguments.');
  let text: string;
  let source: string;
  let fromGrin = false;
  if (sel.queue !== undefined) {
    if (!isGrinQueue(sel.queue)) throw new UsageError(`--queue ${sel.queue}: not a queue; use one of ${GRIN_QUEUES.join(', ')}`);
    const queue = sel.queue;
    const picked = await retrying(`GRIN's ${queue} queue`, async () => barcodesInQueue(await grin(), queue), { log });
    log(`--queue ${sel.queue}: ${picked.description}`);
    text = picked.barcodes.join('\n');
    source = `GRIN's ${sel.queue} queue`;
    fromGrin = true;
  } else if (sel.sample !== undefined) {
    if (!Number.isInteger(sel.sample) || sel.sample < 1)
      throw new UsageError(`--sample must be a whole number of books, at least 1 (got ${sel.sample})`);
    const all = await retrying("GRIN's _all_books list", async () => cachedAllBooks(config, await grin(), sel.refreshAllBooks, log), {
      log,
    });
    text = (await linesUpToBarcodes(all, sel.sample)).join('\n');
    source = all;
    fromGrin = true;
  } else if (sel.barcodesFile) {
    source = sel.barcodesFile === '-' ? 'standard input' : sel.barcodesFile;
    if (sel.barcodesFile === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } else {
      if (!existsSync(sel.barcodesFile)) throw new UsageError(`--barcodes-file ${sel.barcodesFile}: no such file`);
      // Node's error for reading a folder does not name it: say it here.
      if (!statSync(sel.barcodesFile).isFile())
        throw new UsageError(`--barcodes-file ${sel.barcodesFile}: not a file (give a file with one barcode per line)`);
      text = await readFile(sel.barcodesFile, 'utf8');
    }
  } else {
    text = sel.barcodes!.join('\n');
    source = 'the command line';
  }
  const { barcodes, problems, duplicates } = parseBarcodeList(text, source);
  return { barcodes, invalid: problems, duplicates, source, ...(fromGrin ? { fromGrin } : {}) };
}

/** Lines shown in full before the rest are only counted (a list of a million lines must stay readable). */
const LINES_SHOWN = 20;

function shownLines(selection: Selection, which: BarcodeListProblem[]): string[] {
  const shown = formatBarcodeListProblems({ source: selection.source, problems: which.slice(0, LINES_SHOWN) }).map((line) => `  ${line}`);
  if (which.length > LINES_SHOWN) shown.push(`  ... and ${which.length - LINES_SHOWN} more`);
  return shown;
}

/** Line numbers shown when malformed lines of a GRIN listing are skipped (the rest are counted). */
const LINE_NUMBERS_SHOWN = 5;

/**
 * Refuses a list with lines that are not barcodes: a typo must not silently shrink a batch. A GRIN
 * listing the operator cannot edit is not refused: its malformed lines are skipped and reported.
 */
export function refuseInvalidLines(selection: Selection, log: (s: string) => void = () => undefined): void {
  const { invalid, source } = selection;
  if (invalid.length === 0) return;
  if (selection.fromGrin) {
    log(skippedLinesMessage(selection));
    return;
  }
  throw new UsageError(
    `${invalid.length} bad line(s) in ${source}; a barcode is 3-50 characters of letters, digits, '_' or '-':\n${shownLines(selection, invalid).join('\n')}` +
      '\nFix or remove them and run the command again; nothing was started.',
  );
}

/** "skipped 3 malformed line(s) of <listing> (lines 4, 9, 12): not barcodes; …". */
export function skippedLinesMessage(selection: Pick<Selection, 'invalid' | 'source'>): string {
  const { invalid, source } = selection;
  const numbers = invalid
    .slice(0, LINE_NUMBERS_SHOWN)
    .map((p) => p.line)
    .join(', ');
  const more = invalid.length > LINE_NUMBERS_SHOWN ? ` and ${invalid.length - LINE_NUMBERS_SHOWN} more` : '';
  const first = invalid[0];
  return (
    `warning: skipped ${invalid.length} malformed line(s) of ${source} (line${invalid.length > 1 ? 's' : ''} ${numbers}${more}): not barcodes, e.g. line ${first.line}: ${first.reason}; ` +
    'the other books are selected as usual'
  );
}

/** Repeated barcodes are harmless (a book is started once) but said, line by line, so counts add up. */
export function reportDuplicates(selection: Selection, log: (s: string) => void): void {
  const { duplicates, source } = selection;
  if (duplicates.length === 0) return;
  log(
    `${duplicates.length} repeated barcode line(s) in ${source}, each book counted once:\n${shownLines(selection, duplicates).join('\n')}`,
  );
}

/** Resolves the selection into a validated, de-duplicated barcode list; bad lines are refused, repeats reported. */
export async function selectBarcodes(
  config: PipelineConfig,
  sel: BatchSelection,
  grin: () => GrinApi | Promise<GrinApi>,
  log: (s: string) => void,
): Promise<string[]> {
  const selection = await readSelection(config, sel, grin, log);
  refuseInvalidLines(selection, log);
  reportDuplicates(selection, log);
  if (selection.barcodes.length === 0) throw new UsageError(`No barcodes in ${selection.source}.`);
  return selection.barcodes;
}

export interface StartBatchOptions {
  batchId: string;
  window?: number;
  startsPerRun?: number;
  /** How often the batch checks on its books in Temporal (default: the config's `timeouts.batchReconcileSeconds`). */
  reconcileIntervalSeconds?: number;
  force?: boolean;
  settings: BookSettings;
}

/** Where the batch's list lives for the workers; one id, one list (an id is never reused for other books). */
async function writeBatchList(config: PipelineConfig, batchId: string, barcodes: string[]): Promise<string> {
  const dir = join(config.pipelineDir, 'batches');
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const file = join(dir, `${batchId}.txt`);
  const text = barcodes.join('\n') + '\n';
  if (existsSync(file)) {
    if ((await readFile(file, 'utf8')) === text) return file;
    throw new UsageError(
      `Batch "${batchId}" already exists with a different list of books (${file}). ` +
        'Choose another --batch-id, or leave it out to get one derived from the selection ' +
        '(or delete that file if the old batch is gone from Temporal).',
    );
  }
  await writeFileAtomic(file, text);
  return file;
}

/**
 * Starts the batch, or attaches to it: a running batch of this id is attached to, and a finished
 * one is not run again (its handle gives its result). A failed or terminated batch starts anew.
 */
export async function startBatch(
  client: Client,
  config: PipelineConfig,
  barcodes: string[],
  opts: StartBatchOptions,
): Promise<WorkflowHandle<typeof batchWorkflow>> {
  validateBatchId(opts.batchId);
  await ensureSearchAttributes(client, config.temporal.namespace);
  const file = await writeBatchList(config, opts.batchId, barcodes);
  const workflowId = batchWorkflowId(config.grin.directory, opts.batchId);
  try {
    return await client.workflow.start(batchWorkflow, {
      workflowId,
      taskQueue: config.temporal.workflowTaskQueue,
      args: [
        {
          batchId: opts.batchId,
          directory: config.grin.directory,
          barcodesFile: file,
          total: barcodes.length,
          window: opts.window ?? config.concurrency.batchWindow,
          force: opts.force,
          settings: opts.settings,
          startsPerRun: opts.startsPerRun ?? BATCH_STARTS_PER_RUN,
          reconcileIntervalSeconds: opts.reconcileIntervalSeconds ?? config.timeouts.batchReconcileSeconds,
        },
      ],
      workflowTaskTimeout: BATCH_WORKFLOW_TASK_TIMEOUT_MS,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      staticSummary: batchSummary(opts.batchId, config.grin.directory, barcodes.length),
      staticDetails: batchStaticDetails(
        opts.batchId,
        config.grin.directory,
        barcodes.length,
        opts.window ?? config.concurrency.batchWindow,
      ),
      typedSearchAttributes: [
        { key: GrinDirectory, value: config.grin.directory },
        { key: GrinBatch, value: opts.batchId },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return client.workflow.getHandle<typeof batchWorkflow>(workflowId);
  }
}

/** What running `start-batch` for this id will do: start it, join it while it runs, or show how it ended. */
export async function batchStanding(
  client: Client,
  config: PipelineConfig,
  batchId: string,
): Promise<'new' | 'running' | 'finished' | 'ended'> {
  try {
    const { status } = await client.workflow.getHandle(batchWorkflowId(config.grin.directory, batchId)).describe();
    if (status.name === 'RUNNING') return 'running';
    return status.name === 'COMPLETED' ? 'finished' : 'ended';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'new';
    throw err;
  }
}

export type { BatchSummary };
