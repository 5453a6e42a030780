/** What the views (`board`, `status`) say of the operator's pause and throttle (src/control). */
import type { PipelineConfig } from '../config/types';
import { bookPauseLine, pauseLines, readOperatorControl, throttleLine } from '../control/operator-control';

/** Lines for the board: each pause and the throttle in force, or the control file's problem. */
export async function operatorLines(config: Pick<PipelineConfig, 'pipelineDir'>): Promise<string[]> {
  try {
    const control = await readOperatorControl(config.pipelineDir);
    return [...pauseLines(control), throttleLine(control) ?? ''].filter(Boolean);
  } catch (err) {
    return [`operator controls unreadable: ${(err as Error).message}`];
  }
}

/** The pause that holds this book back, if any ("GRIN requests paused by operator since …"). */
export async function bookOperatorLines(config: Pick<PipelineConfig, 'pipelineDir'>, bucket: string): Promise<string[]> {
  const control = await readOperatorControl(config.pipelineDir).catch(() => undefined);
  const line = control && bookPauseLine(control, bucket);
  return line ? [line] : [];
}
