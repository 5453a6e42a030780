/**
 * The readings the stall detector decides on (src/liveness/stalls.ts), taken from Temporal and the
 * board: each pipeline queue's backlog and pollers (DescribeTaskQueue with stats), the tokens of
 * unsettled books, and, for the few books quiet too long, what their workflow waits on. Thin on
 * purpose: every decision is in stalls.ts.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Board } from '../buckets/board';
import type { BookToken, Bucket } from '../buckets/token';
import type { PipelineConfig } from '../config/types';
import { STAGE_BUCKETS } from '../common/stages';
import { bookWorkflowId } from '../workflows/contracts';
import { pauseLines, readOperatorControl } from '../control/operator-control';
import { pausedQueueRoles } from '../control/paused-queues';
import {
  unpausedQueueStalls,
  bookStalls,
  queueStalls,
  quietLimitMs,
  type ActivityReading,
  type BookReading,
  type BookRules,
  type QueueReading,
  type QueueRole,
  type QueueRules,
  type StallReport,
} from './stalls';

type Timestamp = { seconds?: { toNumber(): number } | number | string | null; nanos?: number | null } | null | undefined;

/** Epoch ms of a protobuf Timestamp (or Duration), undefined when unset. */
export function protoMs(ts: Timestamp): number | undefined {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return ts?.nanos ? ts.nanos / 1e6 : undefined;
  const s = typeof ts.seconds === 'object' ? ts.seconds.toNumber() : Number(ts.seconds);
  return s * 1000 + (ts.nanos ?? 0) / 1e6;
}

export interface WatchedQueue {
  queue: string;
  role: QueueRole;
  kinds: ('workflow' | 'activity')[];
}

/** The pipeline's queues: workflow, GRIN, shared file queue, and each host file queue that an unsettled book's token names. */
export function pipelineQueues(config: PipelineConfig, tokens: readonly Pick<BookToken, 'fileQueue'>[] = []): WatchedQueue[] {
  const { workflowTaskQueue, grinTaskQueue, fileTaskQueuePrefix } = config.temporal;
  const hostQueues = [...new Set(tokens.map((t) => t.fileQueue).filter((q): q is string => !!q && q !== fileTaskQueuePrefix))].sort();
  return [
    { queue: workflowTaskQueue, role: 'workflow', kinds: ['workflow', 'activity'] },
    { queue: grinTaskQueue, role: 'grin', kinds: ['activity'] },
    { queue: fileTaskQueuePrefix, role: 'shared-file', kinds: ['activity'] },
    ...hostQueues.map((queue): WatchedQueue => ({ queue, role: 'host-file', kinds: ['activity'] })),
  ];
}

const TASK_QUEUE_TYPE = {
  workflow: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  activity: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
};

/** Backlog (with the oldest task's age) and recent pollers of each queue, one DescribeTaskQueue per queue and kind. */
export async function readQueues(client: Client, namespace: string, queues: readonly WatchedQueue[]): Promise<QueueReading[]> {
  const reads = queues.flatMap((q) =>
    q.kinds.map(async (kind): Promise<QueueReading> => {
      const res = await client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: q.queue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: TASK_QUEUE_TYPE[kind],
        reportStats: true,
      });
      const count = res.stats?.approximateBacklogCount;
      return {
        queue: q.queue,
        role: q.role,
        kind,
        backlog: count === undefined || count === null ? 0 : Number(count.toString()),
        backlogAgeMs: protoMs(res.stats?.approximateBacklogAge),
        lastPollsMs: (res.pollers ?? []).map((p) => protoMs(p.lastAccessTime)).filter((n): n is number => n !== undefined),
      };
    }),
  );
  return Promise.all(reads);
}

/** Buckets where a book can stall (00_available waits for room at GRIN by design; settled books are done). */
const WATCHED_BUCKETS: readonly Bucket[] = STAGE_BUCKETS.slice(1, -1);

export async function unsettledTokens(board: Board, opts: { requested?: boolean } = {}): Promise<BookToken[]> {
  const buckets = opts.requested === false ? WATCHED_BUCKETS.filter((b) => b !== '01_requested') : WATCHED_BUCKETS;
  const lists = await Promise.all(buckets.map((b) => board.list(b)));
  return lists.flatMap((l) => l.tokens);
}

const PENDING = temporal.api.enums.v1.PendingActivityState;

/** What a book's workflow waits on: its status and pending activities. */
export async function readLive(client: Client, directory: string, barcode: string): Promise<NonNullable<BookReading['live']>> {
  let described;
  try {
    described = await client.workflow.getHandle(bookWorkflowId(directory, barcode)).describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return { workflowStatus: 'NotFound', activities: [] };
    throw err;
  }
  const activities = (described.raw.pendingActivities ?? []).map((a): ActivityReading => {
    const state = Number(a.state);
    const nextAttemptMs = protoMs(a.nextAttemptScheduleTime);
    return {
      type: a.activityType?.name ?? '?',
      state:
        state === PENDING.PENDING_ACTIVITY_STATE_STARTED || state === PENDING.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
          ? 'running'
          : nextAttemptMs !== undefined && nextAttemptMs > 0
            ? 'backoff'
            : 'queued',
      attempt: a.attempt ?? 1,
      lastStartedMs: protoMs(a.lastStartedTime) || undefined,
      lastHeartbeatMs: protoMs(a.lastHeartbeatTime) || undefined,
      nextAttemptMs: nextAttemptMs || undefined,
      lastFailure: a.lastFailure?.message ?? undefined,
    };
  });
  const status = described.status.name;
  return {
    workflowStatus:
      status.charAt(0) +
      status
        .slice(1)
        .toLowerCase()
        .replace(/_(\w)/g, (_, c: string) => c.toUpperCase()),
    activities,
  };
}

export interface StallCheckOptions {
  client: Client;
  config: PipelineConfig;
  board: Board;
  queueRules: QueueRules;
  bookRules: BookRules;
  /** Kept across checks by a periodic caller (see queueStalls). */
  backlogSince?: Map<string, number>;
  /** At most this many quiet books are looked up in Temporal per check (oldest first); default 25. */
  liveLookups?: number;
  /** Read 01_requested too (up to GRIN's queue of 50,000 tokens, judged in days): default true; the watch does it hourly. */
  requested?: boolean;
  now?: () => number;
}

/**
 * One look at the whole deployment: every pipeline queue, every unsettled book's token, and
 * Temporal's view of the books whose tokens are quiet past their limit.
 */
export async function checkStalls(opts: StallCheckOptions): Promise<StallReport> {
  const now = opts.now ?? Date.now;
  const tokens = await unsettledTokens(opts.board, { requested: opts.requested });
  const queueReadings = await readQueues(opts.client, opts.config.temporal.namespace, pipelineQueues(opts.config, tokens));
  // A queue the operator paused waits by design (an unreadable control file hides no stall).
  const control = await readOperatorControl(opts.config.pipelineDir).catch(() => undefined);
  const queues = unpausedQueueStalls(
    queueStalls(queueReadings, now(), opts.queueRules, opts.backlogSince),
    await pausedQueueRoles(opts.config),
  );
  const t = now();
  const quiet = tokens
    .map((token) => ({ token, limit: quietLimitMs(token, opts.bookRules) }))
    .filter(({ token, limit }) => limit !== undefined && t - Date.parse(token.updatedAt) > limit)
    .sort((a, b) => Date.parse(a.token.updatedAt) - Date.parse(b.token.updatedAt))
    .slice(0, opts.liveLookups ?? 25);
  const readings: BookReading[] = await Promise.all(
    quiet.map(async ({ token }) => ({ token, live: await readLive(opts.client, opts.config.grin.directory, token.barcode) })),
  );
  const paused = control ? pauseLines(control) : [];
  return {
    at: new Date(now()).toISOString(),
    queues,
    books: bookStalls(readings, now(), opts.bookRules),
    ...(paused.length ? { paused } : {}),
  };
}
