/**
 * Free-space guard for the processing disk. A download never waits for space while holding a file
 * slot: over the threshold it fails its attempt with a transient DiskFullError (keeping any partial
 * file), so the slot goes to the stages that free space (decrypt removes the encrypted copy, clean-up
 * the rest), and Temporal tries the download again later; the next attempt resumes with Range.
 */
import { statfs } from 'node:fs/promises';
import { PipelineError } from '../common/errors';

export async function diskUsage(path: string): Promise<number> {
  const s = await statfs(path);
  if (!s.blocks) return 0;
  return 1 - s.bavail / s.blocks;
}

const percent = (fraction: number, digits: number) => `${(fraction * 100).toFixed(digits)}%`;

export class DiskFullError extends PipelineError {
  constructor(
    readonly dir: string,
    readonly usage: number,
    readonly threshold: number,
    retryAfterSeconds: number,
  ) {
    super(
      `The processing disk (${dir}) is ${percent(usage, 1)} full, over the ${percent(threshold, 0)} threshold: ` +
        `the download waits (trying again every ${retryAfterSeconds} s) until other books free space or an operator does.`,
      {
        retryable: true,
        waitingFor: `disk space on ${dir} (usage ${percent(usage, 1)} over threshold ${percent(threshold, 0)})`,
        retryAfterSeconds,
      },
    );
  }
}
