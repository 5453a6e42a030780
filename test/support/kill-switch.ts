/**
 * The crash tests' kill switch, for the workers they start as child processes. With
 *
 *   GRIN_PIPELINE_KILL_AT=decrypt:after-record,upload:after-archive@BOOK0001
 *
 * the worker process kills itself (SIGKILL: no catch, finally or exit handler runs, exactly like a
 * `kill -9` or a lost machine) the moment the named side effect is done, for every book or only the
 * one after `@`. With GRIN_PIPELINE_KILL_ONCE_DIR=<dir> each point fires once per book: a marker file
 * in <dir>, written before the kill, remembers it across worker restarts. Handed to the activities as
 * `crashPoint` (src/activities/deps.ts); the points are named in src/activities/kill-points.ts.
 */
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { KillPoint } from '../../src/activities/kill-points';

export const KILL_AT_VARIABLE = 'GRIN_PIPELINE_KILL_AT';
export const KILL_ONCE_DIR_VARIABLE = 'GRIN_PIPELINE_KILL_ONCE_DIR';

/** The hook the environment asks for; none when GRIN_PIPELINE_KILL_AT is unset. */
export function killSwitchFromEnv(env: NodeJS.ProcessEnv = process.env): ((point: KillPoint, barcode: string) => void) | undefined {
  const armed = env[KILL_AT_VARIABLE];
  if (!armed) return undefined;
  const entries = armed.split(',').map((entry) => entry.trim().split('@'));
  const onceDir = env[KILL_ONCE_DIR_VARIABLE];
  return (point, barcode) => {
    const hit = entries.some(([name, only]) => name === point && (!only || only === barcode));
    if (!hit || !firstTime(onceDir, point, barcode)) return;
    process.stderr.write(`[kill-point] ${point} ${barcode}: killing worker process ${process.pid}\n`);
    // Synchronous: nothing else runs after it.
    process.kill(process.pid, 'SIGKILL');
  };
}

function firstTime(dir: string | undefined, point: KillPoint, barcode: string): boolean {
  if (!dir) return true;
  try {
    closeSync(openSync(join(dir, `${point.replace(':', '.')}.${barcode}`), 'wx'));
    return true;
  } catch {
    return false; // fired before, in an earlier life of this worker
  }
}
