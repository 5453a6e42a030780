/**
 * What the file stages look at to recognise work already done when they run again after a crash:
 * whether local files exist, and how far the book's token has got on the board.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_NAME } from '../common/atomic-file';
import { STAGE_BUCKETS, type BookToken, type StageBucket } from '../buckets/token';
import { PipelineError } from '../common/errors';

/** Size of a file, or undefined when there is none. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** True when the token is in `bucket` or a later stage bucket (not parked, not cancelled). */
export function reached(token: BookToken | null, bucket: StageBucket): boolean {
  const at = token ? (STAGE_BUCKETS as readonly string[]).indexOf(token.bucket) : -1;
  return at >= STAGE_BUCKETS.indexOf(bucket);
}

/**
 * A local file a stage needs is gone (removed by hand, or a disk replaced): no retry of this stage can
 * bring it back, but a fresh download can, so the workflow downloads the book again.
 */
export class LocalCopyMissingError extends PipelineError {
  constructor(barcode: string, path: string, what: string) {
    super(`The ${what} of ${barcode} is missing from the processing folder (${path}); the book will be downloaded again.`, {
      retryable: false,
      redownload: true,
    });
  }
}

export async function requireLocalFile(barcode: string, path: string, what: string): Promise<void> {
  if (!(await exists(path))) throw new LocalCopyMissingError(barcode, path, what);
}

/** Removes temp files a crash left beside the book's files (e.g. of its unpacked record). */
export async function removeTempFiles(dir: string, barcode: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const mine = names.filter((name) => name.startsWith(`.${barcode}_`) && TEMP_NAME.test(name));
  await Promise.all(mine.map((name) => rm(join(dir, name), { force: true })));
}
