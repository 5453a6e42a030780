/**
 * Batch ids: checked before anything starts, and derived from the selection when not given. Kept
 * apart from batch.ts so that commands which only name a batch load no Temporal client.
 */
import { createHash } from 'node:crypto';
import { UsageError } from './common';

const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/;

/** A batch id names a file under pipelineDir/batches and a workflow id: no paths, no surprises. */
export function validateBatchId(id: string, what = '--batch-id'): string {
  if (!BATCH_ID.test(id) || id.includes('..')) {
    throw new UsageError(
      `${what} ${JSON.stringify(id)}: use 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..' (e.g. first-10k).`,
    );
  }
  return id;
}

/**
 * The default batch id: the same books in the same order give the same id, so the same command run
 * twice re-attaches to its batch. E.g. `batch-30-3f2a9c0d1e` for 30 books.
 */
export function defaultBatchId(directory: string, barcodes: string[]): string {
  const hash = createHash('sha256')
    .update(`${directory}\n${barcodes.join('\n')}\n`)
    .digest('hex');
  return `batch-${barcodes.length}-${hash.slice(0, 10)}`;
}
