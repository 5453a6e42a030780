/**
 * Settle notices to a batch, sent together. Every book that settles tells its batch; one signal per
 * book made a batch draining a converted pool receive several signals a second, and a signal that
 * arrives while the batch continues as new makes Temporal reject that task and the worker replay the
 * batch's run (docs/benchmarks.md, "Scale"). Notices for the same batch that arrive within
 * `delayMs` of the first go out as one `booksSettled` signal: one event instead of many, and far
 * fewer chances to collide. Each caller's promise settles with that signal's outcome, so a notice is
 * acknowledged only once it was delivered (a failed signal fails every caller, whose activity retries).
 */
import type { BatchNotice, BookSettled } from '../workflows/contracts';

export interface CoalescerOptions {
  /** How long the first notice waits for others to the same batch (default 1,000 ms). */
  delayMs?: number;
  /** Notices sent at once at most (default 200): a full group goes out without waiting. */
  maxNotices?: number;
}

interface Group<C> {
  notices: BookSettled[];
  waiters: { resolve(notice: BatchNotice): void; reject(err: unknown): void }[];
  timer: NodeJS.Timeout;
  /** The client of the first caller (a flush runs outside any activity's context). */
  client: C;
}

export class BatchNoticeCoalescer<C> {
  private readonly groups = new Map<string, Group<C>>();
  private readonly delayMs: number;
  private readonly maxNotices: number;

  constructor(
    private readonly send: (client: C, batchWorkflowId: string, notices: BookSettled[]) => Promise<BatchNotice>,
    opts: CoalescerOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? 1000;
    this.maxNotices = opts.maxNotices ?? 200;
  }

  tell(client: C, batchWorkflowId: string, settled: BookSettled): Promise<BatchNotice> {
    let group = this.groups.get(batchWorkflowId);
    if (!group) {
      const timer = setTimeout(() => void this.flush(batchWorkflowId), this.delayMs);
      timer.unref(); // a worker shutting down does not wait for it: the callers' activities retry
      group = { notices: [], waiters: [], timer, client };
      this.groups.set(batchWorkflowId, group);
    }
    const acknowledged = new Promise<BatchNotice>((resolve, reject) => group.waiters.push({ resolve, reject }));
    group.notices.push(settled);
    if (group.notices.length >= this.maxNotices) void this.flush(batchWorkflowId);
    return acknowledged;
  }

  private async flush(batchWorkflowId: string): Promise<void> {
    const group = this.groups.get(batchWorkflowId);
    if (!group) return;
    this.groups.delete(batchWorkflowId);
    clearTimeout(group.timer);
    try {
      const notice = await this.send(group.client, batchWorkflowId, group.notices);
      for (const w of group.waiters) w.resolve(notice);
    } catch (err) {
      for (const w of group.waiters) w.reject(err);
    }
  }
}
