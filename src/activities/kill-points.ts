/**
 * A test-only crash switch, to prove every file stage is safe to repeat. With
 *
 *   GRIN_PIPELINE_KILL_AT=decrypt:after-record,upload:after-archive@BOOK0001
 *
 * the worker process kills itself (SIGKILL: no catch, finally or exit handler runs, exactly like a
 * `kill -9` or a lost machine) the moment the named side effect is done, for every book or only the
 * one after `@`. With GRIN_PIPELINE_KILL_ONCE_DIR=<dir> each point fires once per book: a marker file
 * in <dir>, written before the kill, remembers it across worker restarts. Unset (always, in
 * production) a kill point does nothing.
 */
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';

/** Every kill point, by activity: each names the side effect just done when it fires. */
export const KILL_POINTS = {
  download: ['after-partial', 'after-rename', 'after-token-move'],
  decrypt: ['after-output', 'after-record', 'after-token-move', 'after-input-removed'],
  extract: ['after-unpack', 'after-token-move'],
  process: ['after-output', 'after-token-move'],
  upload: ['after-part', 'after-archive', 'after-derivatives', 'after-token-update', 'after-token-object'],
  cleanup: ['after-files-removed', 'after-token-move'],
} as const;

type Points = typeof KILL_POINTS;
export type KillPoint = { [A in keyof Points]: `${A}:${Points[A][number]}` }[keyof Points];

export const KILL_AT_VARIABLE = 'GRIN_PIPELINE_KILL_AT';
export const KILL_ONCE_DIR_VARIABLE = 'GRIN_PIPELINE_KILL_ONCE_DIR';

/** Dies here if the switch names this point (for this book). Synchronous: nothing else runs after it. */
export function killPoint(point: KillPoint, barcode: string): void {
  const armed = process.env[KILL_AT_VARIABLE];
  if (!armed) return;
  const hit = armed.split(',').some((entry) => {
    const [name, only] = entry.trim().split('@');
    return name === point && (!only || only === barcode);
  });
  if (!hit || !firstTime(point, barcode)) return;
  process.stderr.write(`[kill-point] ${point} ${barcode}: killing worker process ${process.pid}\n`);
  process.kill(process.pid, 'SIGKILL');
}

function firstTime(point: KillPoint, barcode: string): boolean {
  const dir = process.env[KILL_ONCE_DIR_VARIABLE];
  if (!dir) return true;
  try {
    closeSync(openSync(join(dir, `${point.replace(':', '.')}.${barcode}`), 'wx'));
    return true;
  } catch {
    return false; // fired before, in an earlier life of this worker
  }
}
