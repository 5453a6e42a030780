/**
 * The operator's live controls (issue 24, item 6): pause GRIN requests and/or downloads, and
 * throttle GRIN's request rate and the downloads in flight per host, without restarting workers.
 * They live in one small file on the board, `meta/operator-control.json`, because every host
 * already shares the board: the CLI writes it atomically, every worker re-reads it every few
 * seconds (src/control/control-watch.ts). A missing file means no pause and the config's figures.
 * An unreadable file is reported, and workers keep the last controls they read.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file';
import { PRIVATE_DIR_MODE } from '../common/file-modes';
import { PipelineError } from '../common/errors';

/** What a pause holds back: GRIN calls on the GRIN queue (requests, listings, checks), or downloads. */
export type PauseTarget = 'grin' | 'downloads';
export const PAUSE_TARGETS: readonly PauseTarget[] = ['grin', 'downloads'];

export interface PauseEntry {
  /** When the operator paused it (ISO time). */
  since: string;
}

export interface OperatorThrottle {
  /** GRIN-queue calls started per second by each host (at most grin.rateLimitPerSecond). */
  grinRatePerSecond?: number;
  /** Downloads in flight on each host (at most concurrency.booksOnHost). */
  downloadsPerHost?: number;
  /** When the throttle was last set. */
  since?: string;
}

export interface OperatorControl {
  pause: Partial<Record<PauseTarget, PauseEntry>>;
  throttle: OperatorThrottle;
}

export const NO_CONTROL: OperatorControl = Object.freeze({ pause: {}, throttle: {} });

/** An operator-control file that cannot be read or makes no sense: said plainly, never guessed. */
export class OperatorControlError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: true });
  }
}

export function operatorControlFile(pipelineDir: string): string {
  return join(pipelineDir, 'meta', 'operator-control.json');
}

/** The controls in force (NO_CONTROL when the file is missing). */
export async function readOperatorControl(pipelineDir: string): Promise<OperatorControl> {
  const file = operatorControlFile(pipelineDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return NO_CONTROL;
    throw new OperatorControlError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parseOperatorControl(text, file);
}

export function parseOperatorControl(text: string, file = 'operator-control.json'): OperatorControl {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new OperatorControlError(
      `${file} is not JSON; remove it (\`grin-pipeline unpause\` and \`grin-pipeline throttle --reset\` write a fresh one)`,
    );
  }
  const obj = (raw ?? {}) as { pause?: Record<string, { since?: unknown }>; throttle?: Record<string, unknown> };
  const pause: OperatorControl['pause'] = {};
  for (const target of PAUSE_TARGETS) {
    const since = obj.pause?.[target]?.since;
    if (typeof since === 'string' && !Number.isNaN(Date.parse(since))) pause[target] = { since };
  }
  const throttle: OperatorThrottle = {};
  const rate = obj.throttle?.grinRatePerSecond;
  if (typeof rate === 'number' && Number.isFinite(rate) && rate > 0) throttle.grinRatePerSecond = rate;
  const downloads = obj.throttle?.downloadsPerHost;
  if (typeof downloads === 'number' && Number.isInteger(downloads) && downloads >= 1) throttle.downloadsPerHost = downloads;
  if (typeof obj.throttle?.since === 'string') throttle.since = obj.throttle.since;
  return { pause, throttle };
}

/** Reads the controls, applies `change` and writes the result atomically; returns what was written. */
export async function updateOperatorControl(
  pipelineDir: string,
  change: (current: OperatorControl) => OperatorControl,
): Promise<OperatorControl> {
  const current = await readOperatorControl(pipelineDir).catch((err: unknown) => {
    // A damaged file is replaced: the command that writes it says what is in force now.
    if (err instanceof OperatorControlError) return NO_CONTROL;
    throw err;
  });
  const next = change({ pause: { ...current.pause }, throttle: { ...current.throttle } });
  await mkdir(join(pipelineDir, 'meta'), { recursive: true, mode: PRIVATE_DIR_MODE });
  await writeFileAtomic(operatorControlFile(pipelineDir), JSON.stringify({ ...next, updatedAt: new Date().toISOString() }, null, 2) + '\n');
  return next;
}

const WHAT: Record<PauseTarget, string> = { grin: 'GRIN requests', downloads: 'downloads' };

/** "GRIN requests paused by operator since …" lines (empty when nothing is paused). */
export function pauseLines(control: OperatorControl): string[] {
  return PAUSE_TARGETS.filter((t) => control.pause[t]).map(
    (t) => `${WHAT[t]} paused by operator since ${control.pause[t]!.since} (\`grin-pipeline unpause\` resumes them)`,
  );
}

/** "throttled by operator: …" line, or none. */
export function throttleLine(control: OperatorControl): string | undefined {
  const { grinRatePerSecond, downloadsPerHost, since } = control.throttle;
  const parts = [
    grinRatePerSecond !== undefined ? `GRIN calls at most ${grinRatePerSecond}/s per host` : '',
    downloadsPerHost !== undefined ? `at most ${downloadsPerHost} download(s) in flight per host` : '',
  ].filter(Boolean);
  if (!parts.length) return undefined;
  return `throttled by operator${since ? ` since ${since}` : ''}: ${parts.join(', ')} (\`grin-pipeline throttle --reset\` goes back to the config)`;
}

/** The pause that holds back a book in this bucket, if any: GRIN requests before conversion, downloads once converted. */
export function pauseFor(control: OperatorControl, bucket: string): { target: PauseTarget; since: string } | undefined {
  const target: PauseTarget | undefined =
    bucket === '00_available' || bucket === '01_requested' ? 'grin' : bucket === '02_converted' ? 'downloads' : undefined;
  const entry = target ? control.pause[target] : undefined;
  return target && entry ? { target, since: entry.since } : undefined;
}

/** "waiting: GRIN requests paused by operator since …" for one book, or none. */
export function bookPauseLine(control: OperatorControl, bucket: string): string | undefined {
  const p = pauseFor(control, bucket);
  return p ? `${WHAT[p.target]} paused by operator since ${p.since}` : undefined;
}
