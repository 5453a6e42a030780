/**
 * `start-batch`: choose the books (a sample of GRIN's `_all_books`, a barcode file, or barcodes on
 * the command line), write the list where the workers can read it, and start the batch workflow.
 * Re-running never starts a second workflow for a book that is running or stored.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { parseBarcodeList } from '../buckets/barcode';
import type { PipelineConfig } from '../config/types';
import type { GrinApi } from '../grin/types';
import { batchWorkflow, type BatchSummary } from '../workflows/batch';
import { batchWorkflowId, type BookSettings } from '../workflows/contracts';
import { GrinBatch, GrinDirectory } from '../workflows/search-attributes';
import { ensureSearchAttributes, UsageError } from './common';

export interface BatchSelection {
  sample?: number;
  barcodesFile?: string;
  barcodes?: string[];
  refreshAllBooks?: boolean;
}

/** The expensive `_all_books` listing, cached in the pipeline folder; refreshed on request. */
export async function cachedAllBooks(config: PipelineConfig, grin: GrinApi, refresh = false, log: (s: string) => void = () => undefined): Promise<string> {
  const dir = join(config.pipelineDir, 'cache');
  const file = join(dir, `${config.grin.directory}_all_books.txt`);
  if (!refresh && existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  log(`fetching GRIN's _all_books list for ${config.grin.directory} (cached in ${file})`);
  const tmp = `${file}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  let count = 0;
  for await (const barcode of grin.listAllBarcodes()) {
    if (!out.write(`${barcode}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
    count++;
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  await rename(tmp, file);
  log(`${count} barcodes in _all_books`);
  return file;
}

async function firstLines(file: string, n: number): Promise<string[]> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  const out: string[] = [];
  for await (const line of rl) {
    if (line.trim()) out.push(line.trim());
    if (out.length >= n) break;
  }
  rl.close();
  return out;
}

/** Resolves the selection into a validated, de-duplicated barcode list. */
export async function selectBarcodes(config: PipelineConfig, sel: BatchSelection, grin: () => GrinApi | Promise<GrinApi>, log: (s: string) => void): Promise<string[]> {
  const chosen = [sel.sample !== undefined, !!sel.barcodesFile, !!sel.barcodes?.length].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('Say which books: exactly one of --sample N, --barcodes-file FILE, or barcodes as arguments.');
  let text: string;
  let source: string;
  if (sel.sample !== undefined) {
    if (!Number.isInteger(sel.sample) || sel.sample < 1) throw new UsageError(`--sample must be a whole number of books, at least 1 (got ${sel.sample})`);
    const all = await cachedAllBooks(config, await grin(), sel.refreshAllBooks, log);
    text = (await firstLines(all, sel.sample)).join('\n');
    source = all;
  } else if (sel.barcodesFile) {
    source = sel.barcodesFile === '-' ? 'standard input' : sel.barcodesFile;
    if (sel.barcodesFile === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } else {
      if (!existsSync(sel.barcodesFile)) throw new UsageError(`--barcodes-file ${sel.barcodesFile}: no such file`);
      text = await readFile(sel.barcodesFile, 'utf8');
    }
  } else {
    text = sel.barcodes!.join('\n');
    source = 'the command line';
  }
  const { barcodes, problems } = parseBarcodeList(text, source);
  if (problems.length) {
    const shown = problems.slice(0, 10).map((p) => `  line ${p.line}: ${JSON.stringify(p.text)}: ${p.reason}`);
    throw new UsageError(
      `${problems.length} bad line(s) in ${source}; a barcode is 3-50 characters of letters, digits, '_' or '-':\n${shown.join('\n')}` +
        (problems.length > 10 ? `\n  ... and ${problems.length - 10} more` : '') +
        '\nFix or remove them and run the command again; nothing was started.',
    );
  }
  if (barcodes.length === 0) throw new UsageError(`No barcodes in ${source}.`);
  return barcodes;
}

export interface StartBatchOptions {
  batchId: string;
  window?: number;
  startsPerRun?: number;
  force?: boolean;
  settings: BookSettings;
}

export async function startBatch(client: Client, config: PipelineConfig, barcodes: string[], opts: StartBatchOptions): Promise<WorkflowHandle<typeof batchWorkflow>> {
  if (!/^[A-Za-z0-9_.-]{1,80}$/.test(opts.batchId)) throw new UsageError(`--batch-id ${JSON.stringify(opts.batchId)}: use 1-80 letters, digits, '.', '_' or '-'`);
  await ensureSearchAttributes(client, config.temporal.namespace);
  const dir = join(config.pipelineDir, 'batches');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${opts.batchId}.txt`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, barcodes.join('\n') + '\n');
  await rename(tmp, file);
  return client.workflow.start(batchWorkflow, {
    workflowId: batchWorkflowId(config.grin.directory, opts.batchId),
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
        startsPerRun: opts.startsPerRun,
      },
    ],
    // Starting a batch that is already running attaches to it; a finished one may run again, and
    // its books that are already stored or running are skipped by their own id reuse policy.
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: [
      { key: GrinDirectory, value: config.grin.directory },
      { key: GrinBatch, value: opts.batchId },
    ],
  });
}

export function defaultBatchId(now = new Date()): string {
  return `batch-${now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')}`;
}

export type { BatchSummary };
