/**
 * Free-space guard for the processing disk: downloads wait (heartbeating, status visible in the token)
 * while the disk is fuller than the configured threshold, instead of failing or filling it.
 */
import { statfs } from 'node:fs/promises';
import { PipelineError } from '../common/errors';

export async function diskUsage(path: string): Promise<number> {
  const s = await statfs(path);
  if (!s.blocks) return 0;
  return 1 - s.bavail / s.blocks;
}

/** Resolves once usage is at or below `threshold`; calls `onWait` on every check while above it. */
export async function waitForDiskSpace(opts: {
  path: string;
  threshold: number;
  pollMs?: number;
  usage?: (path: string) => Promise<number>;
  onWait: (usage: number) => Promise<void> | void;
  sleep: (ms: number) => Promise<void>;
}): Promise<boolean> {
  const usage = opts.usage ?? diskUsage;
  let waited = false;
  for (;;) {
    const used = await usage(opts.path);
    if (used <= opts.threshold) return waited;
    waited = true;
    await opts.onWait(used);
    await opts.sleep(opts.pollMs ?? 30_000);
  }
}

/**
 * The processing disk is fuller than the threshold: transient (books wait for space, never park), and
 * a fault every download on this host shares. For a stage that gives its slot back while it waits.
 */
export class DiskFullError extends PipelineError {
  constructor(dir: string, used: number, threshold: number) {
    super(`the processing disk (${dir}) is ${(used * 100).toFixed(1)}% full, above the limit of ${(threshold * 100).toFixed(0)}%`, {
      retryable: true,
      waitingFor: `free space on the processing disk (at most ${(threshold * 100).toFixed(0)}% used; limits.diskUsageThreshold)`,
    });
  }
}
