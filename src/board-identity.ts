/**
 * The board across hosts (issue 22): the board is ONE folder every worker mounts. Board bookkeeping
 * runs on whichever host runs a book's workflow task, and the GRIN request sequence lives in the
 * board's meta/ folder, so two hosts with two different folders would each keep half a board (and
 * two sequences). The rule, checked at every worker start:
 *  - the board has an id, `meta/board-id`, written once (a temp file hard-linked into place: of two
 *    workers creating it at once on one board, exactly one wins and both read the winner's id);
 *  - every worker polls with an identity that carries its board id (host-identity.ts);
 *  - before it polls, a worker asks Temporal for the pollers of the queues all hosts share and
 *    refuses to start (BoardMismatchError, exit 2) while another live worker reports another board
 *    id: its board folder is not ours (a mount missing, a path mistyped, a copy).
 * A board without an id gets one at the first start, also when other workers are polling: the
 * others' boards have ids (they wrote them at their start), so if ours is a different folder, the
 * new id differs and the worker is refused; if it is the same folder, they wrote the id before us.
 * Workers of a release before this check say no board id and are not compared.
 * The moves on the board need a filesystem where rename and link are atomic for every host:
 * a local disk (one host), NFSv4 within one export, or a cluster filesystem (docs/cluster.md).
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { NativeConnection } from '@temporalio/worker';
import { tempPathFor } from './common/atomic-file';
import { PipelineError } from './common/errors';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './common/file-modes';
import { parseIdentity, pollerAlive, pollersOf, type Liveness, type SeenPoller, type WorkerIdentity } from './host-identity';

export const BOARD_ID_FILE = join('meta', 'board-id');
const BOARD_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** `meta/board-id` cannot be read, written or holds something that is no board id. */
export class BoardIdError extends PipelineError {
  readonly exitCode = 2;
  constructor(file: string, problem: string) {
    super(
      `Board id ${file}: ${problem}. Check that the board folder (pipelineDir) is mounted and writable on this host; a damaged id can be removed only when no worker runs.`,
      { retryable: false },
    );
  }
}

/** The board's id, written now if the board has none (atomically: one id per board, ever). */
export async function ensureBoardId(pipelineDir: string): Promise<string> {
  const file = join(pipelineDir, BOARD_ID_FILE);
  const read = async (): Promise<string | undefined> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new BoardIdError(file, `cannot be read (${(err as Error).message})`);
    }
    const id = text.trim();
    if (!BOARD_ID.test(id)) throw new BoardIdError(file, `holds ${JSON.stringify(id.slice(0, 80))}, not a board id`);
    return id;
  };
  const existing = await read();
  if (existing) return existing;
  const id = `board-${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  // Named as every temp file on the board, so a kill -9 here leaves what `reconcile` removes.
  const temp = tempPathFor(file);
  try {
    await mkdir(join(pipelineDir, 'meta'), { recursive: true, mode: PRIVATE_DIR_MODE });
    const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(`${id}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // link() fails if the name exists: whoever links first names the board, the others read it.
    await link(temp, file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } catch (err) {
    throw err instanceof PipelineError ? err : new BoardIdError(file, `cannot be written (${(err as Error).message})`);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const settled = await read();
  if (!settled) throw new BoardIdError(file, 'vanished right after it was written');
  return settled;
}

/** The first poller that is another live worker keeping another board, if any. */
export function otherBoardWorker(
  pollers: readonly SeenPoller[],
  self: WorkerIdentity,
  live?: Liveness,
): (SeenPoller & { boardId: string; hostId: string }) | undefined {
  for (const p of pollers) {
    if (p.identity === self.identity) continue;
    const other = parseIdentity(p.identity);
    if (!other?.boardId || !self.boardId || other.boardId === self.boardId) continue;
    if (pollerAlive(other, p.ageSeconds, self, live)) return { ...p, boardId: other.boardId, hostId: other.hostId };
  }
  return undefined;
}

/** Another live worker keeps another board: this worker's board folder is not the one all hosts share. */
export class BoardMismatchError extends PipelineError {
  readonly exitCode = 2;
  constructor(pipelineDir: string, self: WorkerIdentity, other: SeenPoller & { boardId: string; hostId: string }) {
    super(
      `This worker's board ${pipelineDir} (id ${self.boardId}) is not the board of live worker host "${other.hostId}" (id ${other.boardId}; ${other.identity}, polled Temporal ${Math.round(other.ageSeconds)} s ago). ` +
        'Every worker of one pipeline must mount the same board folder (pipelineDir): mount the shared board here (or fix the path) and start again; ' +
        'if that host is gone for good, start again after it has stopped polling.',
      { retryable: false },
    );
  }
}

/**
 * Refuses (BoardMismatchError) while another live worker on the queues every host polls keeps
 * another board. If Temporal cannot say, `onUnchecked` hears why and the worker starts.
 */
export async function assertSameBoard(
  connection: NativeConnection,
  opts: {
    namespace: string;
    pipelineDir: string;
    workflowQueue: string;
    grinQueue: string;
    sharedFileQueue: string;
    self: WorkerIdentity;
    onUnchecked: (reason: string) => void;
  },
): Promise<void> {
  let pollers: SeenPoller[];
  try {
    pollers = await pollersOf(connection, opts.namespace, [
      { name: opts.workflowQueue, type: 'workflow', host: false },
      { name: opts.workflowQueue, type: 'activity', host: false },
      { name: opts.grinQueue, type: 'activity', host: false },
      { name: opts.sharedFileQueue, type: 'activity', host: false },
    ]);
  } catch (err) {
    opts.onUnchecked(err instanceof Error ? err.message : String(err));
    return;
  }
  const other = otherBoardWorker(pollers, opts.self);
  if (other) throw new BoardMismatchError(opts.pipelineDir, opts.self, other);
}
