/**
 * Free-space guard for the processing disk: downloads wait (heartbeating, status visible in the token)
 * while the disk is fuller than the configured threshold, instead of failing or filling it.
 */
import { statfs } from 'node:fs/promises';

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
