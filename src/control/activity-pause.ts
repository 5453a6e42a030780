/**
 * The second half of a pause (the first is the slot gates: src/control/grin-gate.ts, HostBooks):
 * a worker may already have a poll out, holding a slot granted before the pause, and that poll can
 * still bring a task. Such an activity waits at its start while the pause lasts, heartbeating (its
 * earlier heartbeat details kept), so nothing fails and no attempt is spent. It waits at most half
 * its attempt's start-to-close limit (GRIN calls have 2 minutes, a download 7 days); past that it
 * ends as a benign transient wait that names the pause, before its limit would end it as a timeout,
 * and its retry comes back to the gate.
 */
import { Context } from '@temporalio/activity';
import { PipelineError } from '../common/errors';
import { toFailure } from '../activities/failures';

export class OperatorPauseError extends PipelineError {
  constructor(what: string, since: string | undefined, retryAfterSeconds: number) {
    super(`${what} paused by operator${since ? ` since ${since}` : ''}`, {
      retryable: true,
      benign: true,
      waitingFor: `the operator to unpause ${what} (\`grin-pipeline unpause\`)`,
      retryAfterSeconds,
    });
  }
}

export interface PauseCheck {
  /** What the pause holds back, for messages ("downloads", "GRIN requests"). */
  what: string;
  /** The pause in force now: its start time, or undefined when not paused. */
  pausedSince: () => string | undefined;
  /** How often the pause is looked at again (default 1 s). */
  checkMs?: number;
}

/** Waits while the pause lasts (inside an activity). */
export async function waitWhilePaused(check: PauseCheck): Promise<void> {
  if (check.pausedSince() === undefined) return;
  const ctx = Context.current();
  const started = Date.now();
  const maxWaitMs = ctx.info.startToCloseTimeoutMs / 2;
  for (;;) {
    const since = check.pausedSince();
    if (since === undefined) return;
    if (Date.now() - started >= maxWaitMs) throw toFailure(new OperatorPauseError(check.what, since, 30));
    ctx.heartbeat(ctx.info.heartbeatDetails);
    await ctx.sleep(check.checkMs ?? 1000);
  }
}

/** Activities past their pause check and not finished yet (what a pause lets run on). */
export interface RunningCount {
  running: number;
}

/** The same activities, each waiting at its start while `check` says paused; `count` counts those past the wait. */
export function heldWhilePaused<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
  check: PauseCheck,
  count: RunningCount = { running: 0 },
): T {
  const held = {} as Record<string, (...args: never[]) => Promise<unknown>>;
  for (const [name, fn] of Object.entries(activities)) {
    held[name] = async (...args: never[]) => {
      await waitWhilePaused(check);
      count.running++;
      try {
        return await fn(...args);
      } finally {
        count.running--;
      }
    };
  }
  return held as T;
}
