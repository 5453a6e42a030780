/**
 * A host id is unique among live workers. Two workers with one host id (cloned machines share a
 * host name, the default id) would poll one host queue: a book's decrypt could land on the disk
 * that never downloaded it. So a worker refuses to start while another live worker has its id.
 *
 * How it knows: every worker process polls with an identity naming its host id, machine, process
 * and a random id for this start (`workerIdentity`), and before it polls it asks Temporal for the
 * pollers of its host queue and of the workflow queue (`DescribeTaskQueue`; the workflow queue is
 * polled even while every file slot is busy). Temporal is the one thing every host shares (the
 * board folder may not be), and it is where the harm would happen. Another poller with our host id
 * is live when:
 *  - on this machine (same boot id): its process still exists (a worker killed and restarted at
 *    once is not refused for its own ghost), or, in this process, its worker set has not stopped;
 *  - on another machine, or of unknown make: it polled within LIVE_POLL_SECONDS (a live worker's
 *    long poll comes back within about a minute). A worker on another machine that died less than
 *    that ago also refuses the start; the message says to try again after that.
 * Two workers started within the same second on two machines can both miss the other: the check
 * narrows the window, it does not close it. If Temporal cannot answer the question (no permission
 * to describe task queues), the worker warns and starts.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { PipelineError } from './common/errors';

/** A poll older than this is no sign of life (Temporal's long poll returns within about a minute). */
export const LIVE_POLL_SECONDS = 90;

/** The board id is absent from the identities of workers older than the board check (board-identity.ts). */
const IDENTITY = /^grin-pipeline host=(\S+) machine=(\S*) boot=(\S*) pid=(\d+) run=(\S+)(?: board=(\S+))?$/;

export interface WorkerIdentity {
  identity: string;
  hostId: string;
  bootId: string;
  pid: number;
  runId: string;
  /** The id of the board this worker keeps (meta/board-id), when it says. */
  boardId?: string;
}

/** The identity every worker of this process's worker set polls with. */
export function workerIdentity(hostId: string, boardId?: string): WorkerIdentity {
  const bootId = readBootId();
  const runId = randomUUID().slice(0, 8);
  const safeHost = hostId.replace(/\s/g, '_');
  const board = boardId ? ` board=${boardId}` : '';
  return {
    identity: `grin-pipeline host=${safeHost} machine=${hostname().replace(/\s/g, '_')} boot=${bootId} pid=${process.pid} run=${runId}${board}`,
    hostId: safeHost,
    bootId,
    pid: process.pid,
    runId,
    ...(boardId ? { boardId } : {}),
  };
}

/** A grin-pipeline worker's identity read back, or undefined for a worker of another make. */
export function parseIdentity(identity: string): (Omit<WorkerIdentity, 'identity'> & { machine: string }) | undefined {
  const m = IDENTITY.exec(identity);
  if (!m) return undefined;
  const [, hostId, machine, bootId, pidText, runId, boardId] = m;
  return { hostId, machine, bootId, pid: Number(pidText), runId, ...(boardId ? { boardId } : {}) };
}

/**
 * Whether a grin-pipeline worker seen polling is alive: on this machine (same boot id), while its
 * process exists (in this process: while its worker set runs); elsewhere, while it polled lately.
 */
export function pollerAlive(
  other: { bootId: string; pid: number; runId: string },
  ageSeconds: number,
  self: Pick<WorkerIdentity, 'bootId'>,
  live: Liveness = realLiveness,
): boolean {
  if (other.bootId && other.bootId === self.bootId)
    return other.pid === process.pid ? live.runningHere(other.runId) : live.pidAlive(other.pid);
  return ageSeconds <= LIVE_POLL_SECONDS;
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8);
  } catch {
    return '';
  }
}

/** Worker sets of this process that are running (their identities' run ids). */
const runningHere = new Set<string>();

export function markRunning(self: WorkerIdentity): void {
  runningHere.add(self.runId);
}

export function markStopped(self: WorkerIdentity): void {
  runningHere.delete(self.runId);
}

export interface SeenPoller {
  identity: string;
  /** Seconds since its last poll. */
  ageSeconds: number;
  /** Seen on this host's own queue (not only on a queue all hosts share). */
  onHostQueue: boolean;
}

export interface Liveness {
  pidAlive: (pid: number) => boolean;
  runningHere: (runId: string) => boolean;
}

const realLiveness: Liveness = {
  pidAlive: (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  runningHere: (runId) => runningHere.has(runId),
};

/** The first poller that is another live worker with our host id, if any. */
export function otherLiveWorker(
  pollers: readonly SeenPoller[],
  self: WorkerIdentity,
  live: Liveness = realLiveness,
): SeenPoller | undefined {
  return pollers.find((p) => {
    if (p.identity === self.identity) return false;
    const other = parseIdentity(p.identity);
    if (other) {
      if (other.hostId !== self.hostId) return false;
      if (other.bootId && other.bootId === self.bootId) return pollerAlive(other, p.ageSeconds, self, live);
    } else if (!p.onHostQueue) return false; // a worker of another make on a queue all hosts share
    // Another machine, or a worker that does not say who it is (polling our host queue all the same).
    return p.ageSeconds <= LIVE_POLL_SECONDS;
  });
}

/** Another live worker already has this host id. */
export class HostIdInUseError extends PipelineError {
  readonly exitCode = 2;
  constructor(hostId: string, hostQueue: string, other: SeenPoller) {
    super(
      `Host id "${hostId}" is in use by another live worker: ${other.identity} (polled Temporal ${Math.round(other.ageSeconds)} s ago, file queue ${hostQueue}). ` +
        "Two workers with one host id would run each other's books' file stages on the wrong disk. Start this worker with its own --host-id " +
        `(cloned machines share a host name, the default), or stop the other one; if it is already gone, start again after ${LIVE_POLL_SECONDS} s.`,
      { retryable: false },
    );
  }
}

/** The pollers Temporal has seen on the named queues, with their ages. */
export async function pollersOf(
  connection: NativeConnection,
  namespace: string,
  queues: readonly { name: string; type: 'workflow' | 'activity'; host: boolean }[],
): Promise<SeenPoller[]> {
  const now = Date.now();
  const seen: SeenPoller[] = [];
  for (const queue of queues) {
    const res = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: queue.name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType:
        queue.type === 'workflow'
          ? temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
          : temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    for (const p of res.pollers ?? []) {
      const at = p.lastAccessTime ? Number(p.lastAccessTime.seconds ?? 0) * 1000 + Math.floor((p.lastAccessTime.nanos ?? 0) / 1e6) : 0;
      seen.push({ identity: p.identity ?? '', ageSeconds: at ? Math.max(0, (now - at) / 1000) : Infinity, onHostQueue: queue.host });
    }
  }
  return seen;
}

/**
 * Refuses (HostIdInUseError) when another live worker polls with this host id. If Temporal cannot
 * say (no permission to describe task queues, say), `onUnchecked` hears why and the worker starts.
 */
export async function assertHostIdFree(
  connection: NativeConnection,
  opts: { namespace: string; hostQueue: string; workflowQueue: string; self: WorkerIdentity; onUnchecked: (reason: string) => void },
): Promise<void> {
  let pollers: SeenPoller[];
  try {
    pollers = await pollersOf(connection, opts.namespace, [
      { name: opts.hostQueue, type: 'activity', host: true },
      { name: opts.workflowQueue, type: 'workflow', host: false },
    ]);
  } catch (err) {
    opts.onUnchecked(err instanceof Error ? err.message : String(err));
    return;
  }
  const other = otherLiveWorker(pollers, opts.self);
  if (other) throw new HostIdInUseError(opts.self.hostId, opts.hostQueue, other);
}
