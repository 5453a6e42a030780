/**
 * Bookkeeping activities on the board that belong to no single stage: registering a book, parking it
 * in `failed`, taking it back out on `retry`, cancelling it, and reading a batch's barcode list.
 * They run on the workflow task queue (the board folder is shared by all hosts).
 *
 * Run again after a crash (each does at most one token write, atomically, plus file removals):
 * registerBook finds the token it created or moved and only refreshes it; parkBook finds the book
 * already parked for the same reason and leaves it (the attempt count is not counted twice);
 * unparkBook and cancelBook move to the bucket the token is already in, which only rewrites it, and
 * cancelBook removes what is left of the local files; readBatchBarcodes only reads.
 *
 * A token deleted or made unreadable by hand while its book runs is rebuilt, never retried over
 * forever: these activities put a fresh token where the workflow says the book is (unreadable copies
 * are renamed aside for an operator), and `rebuildToken` does so for a stage that met a lost token.
 */
import { Context } from '@temporalio/activity';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { rm } from 'node:fs/promises';
import { BookNotOnBoardError, TokenFileError } from '../buckets/board';
import type { BookToken, Bucket, StageBucket, TokenError } from '../buckets/token';
import { failedStageWords } from '../buckets/token';
import { bookPaths, type ActivityDeps } from './deps';
import { markConverted } from './wait-for-conversion';

export interface RegisterResult {
  /** Where the token was when the workflow started: a new run continues from here. */
  bucket: Bucket;
  created: boolean;
  /** The host queue that ran the book's file stages, where its local files may still be. */
  fileQueue?: string;
  grinFilename?: string;
  /** For a book parked by an earlier run: why, and in which stage. */
  lastError?: Omit<TokenError, 'at'>;
}

/** What the workflow knows of a book whose token is gone or unreadable, to write a fresh one. */
export interface RebuildTokenInput {
  barcode: string;
  directory: string;
  workflowId: string;
  batchId?: string;
  /** The bucket the workflow's run is in (the stage that met the lost token starts from it again). */
  bucket: Bucket;
  fileQueue?: string;
  grinFilename?: string;
  /** Why: the stage's error, for the token's status. */
  reason: string;
}

export function createBoardActivities(deps: ActivityDeps) {
  const { board } = deps;

  /** An info line in the worker's log (the activity's logger, which adds the book's workflow). */
  const logInfo = (message: string, meta: Record<string, unknown>) => {
    try {
      Context.current().log.info(message, meta);
    } catch {
      // outside an activity (unit use)
    }
  };

  /** A warning in the worker's log (the activity's logger). */
  const log = (message: string) => {
    try {
      Context.current().log.warn(message);
    } catch {
      // outside an activity (unit use)
    }
  };

  /** The book's token, or null when it is missing or unreadable (a token lost by hand). */
  const readable = async (barcode: string): Promise<BookToken | null> => {
    try {
      return await board.get(barcode);
    } catch (err) {
      if (err instanceof TokenFileError) return null;
      throw err;
    }
  };

  /**
   * board.move, but a token lost meanwhile is first rebuilt in `to` from what this run knows (the
   * pipeline's directory, the workflow id), so that bookkeeping (park, retry, rewind, cancel) never
   * fails over and over for a file an operator removed or truncated.
   */
  const moveRebuilding = async (barcode: string, to: Bucket, patch: Partial<BookToken>): Promise<BookToken> => {
    try {
      return await board.move(barcode, to, patch);
    } catch (err) {
      if (!(err instanceof TokenFileError || err instanceof BookNotOnBoardError)) throw err;
      const { setAside } = await board.rebuild(barcode, to, {
        directory: deps.config.grin.directory,
        workflowId: currentWorkflowId(),
        processingDir: deps.config.processingDir,
        storage: deps.storage.location,
        status: `token ${err instanceof TokenFileError ? 'was unreadable (set aside)' : 'was missing'}; rebuilt from the workflow`,
      });
      if (setAside.length) log(`token of ${barcode} was unreadable; set aside as ${setAside.join(', ')} and rebuilt in ${to}`);
      return board.move(barcode, to, patch);
    }
  };

  return {
    /**
     * Writes a fresh token for a book whose token was deleted or made unreadable while it ran, in
     * the bucket the workflow says the book is in; the unreadable file is renamed aside. A token
     * that reads fine again (repaired by hand meanwhile) is left as it is.
     */
    async rebuildToken(input: RebuildTokenInput): Promise<{ rebuilt: boolean; setAside: string[] }> {
      const { rebuilt, setAside } = await board.rebuild(input.barcode, input.bucket, {
        directory: input.directory,
        workflowId: input.workflowId,
        ...(input.batchId ? { batchId: input.batchId } : {}),
        ...(input.fileQueue ? { fileQueue: input.fileQueue } : {}),
        ...(input.grinFilename ? { grinFilename: input.grinFilename } : {}),
        processingDir: deps.config.processingDir,
        storage: deps.storage.location,
        status: `token rebuilt from the workflow (${input.reason})`,
      });
      if (rebuilt)
        log(
          `rebuilt the token of ${input.barcode} in ${input.bucket} from its workflow (${input.reason})${setAside.length ? `; set aside ${setAside.join(', ')}` : ''}`,
        );
      return { rebuilt, setAside };
    },

    async registerBook(input: { barcode: string; directory: string; workflowId: string; batchId?: string }): Promise<RegisterResult> {
      // An unreadable token (truncated by hand) is set aside: the book starts over from 00_available,
      // where each stage finds what is already done (GRIN's conversion, files on disk, stored objects).
      try {
        await board.get(input.barcode);
      } catch (err) {
        if (!(err instanceof TokenFileError)) throw err;
        await board.rebuild(input.barcode, '00_available', {
          directory: input.directory,
          workflowId: input.workflowId,
          batchId: input.batchId,
          processingDir: deps.config.processingDir,
          storage: deps.storage.location,
          status: 'token was unreadable (set aside); rebuilt by a new run, which starts over from 00_available',
        });
      }
      const { token, created } = await board.create({
        barcode: input.barcode,
        directory: input.directory,
        workflowId: input.workflowId,
        batchId: input.batchId,
        processingDir: deps.config.processingDir,
        storage: deps.storage.location,
      });
      if (!created && token.bucket === 'cancelled') {
        // A new workflow for a book an operator cancelled (its local files are gone) starts it over.
        const moved = await board.move(input.barcode, '00_available', { workflowId: input.workflowId, status: 'restarted' });
        return { bucket: moved.bucket, created };
      }
      // Anything else continues where the token is; a parked book stays parked until `retry`.
      if (!created) await board.update(input.barcode, { workflowId: input.workflowId, batchId: input.batchId ?? token.batchId });
      const { stage, message, type } = token.lastError ?? {};
      return {
        bucket: token.bucket,
        created,
        fileQueue: token.fileQueue,
        grinFilename: token.grinFilename,
        lastError: token.bucket === 'failed' && stage && message ? { stage, message, type } : undefined,
      };
    },

    /** The conversion watcher said GRIN lists the package: 01_requested → 02_converted (lean books). */
    async markConverted(input: { barcode: string; filename: string }): Promise<void> {
      await markConverted(deps, input.barcode, input.filename);
    },

    /** Parks the book in `failed` with the reason an operator will read. */
    async parkBook(input: { barcode: string; stage: StageBucket; message: string; type?: string }): Promise<void> {
      const current = await readable(input.barcode);
      const already =
        current?.bucket === 'failed' && current.lastError?.stage === input.stage && current.lastError.message === input.message;
      if (already) return;
      await moveRebuilding(input.barcode, 'failed', {
        status: `parked: ${failedStageWords(input.stage)}`,
        attempts: (current?.attempts ?? 0) + 1,
        lastError: { stage: input.stage, message: input.message, type: input.type, at: new Date().toISOString() },
      });
      // Grouped with the other parks of its window; delivery never holds the book (src/notify).
      deps.notifier?.parked({ barcode: input.barcode, stage: input.stage, reason: input.message });
      // The one line an operator reads for a park: where and why, no stack (the cause is known).
      logInfo(`book parked: ${failedStageWords(input.stage)}: ${input.message}`, { barcode: input.barcode, type: input.type });
    },

    /** On `retry`: back to the bucket before the stage that failed, keeping lastError for the record. */
    async unparkBook(input: { barcode: string; backTo: Bucket }): Promise<void> {
      const current = await readable(input.barcode);
      await moveRebuilding(input.barcode, input.backTo, { status: 'retrying', lastError: current?.lastError });
    },

    /**
     * Moves the token back to an earlier bucket when the workflow must redo stages (a lost host, a
     * fresh download after an integrity failure, local files gone), so the board shows where the book is.
     */
    async rewindBook(input: { barcode: string; to: StageBucket; status: string }): Promise<void> {
      await moveRebuilding(input.barcode, input.to, { status: input.status });
    },

    /** On `cancel`: the token goes to `cancelled` and the book's local files are removed. */
    async cancelBook(input: { barcode: string; reason?: string }): Promise<void> {
      await moveRebuilding(input.barcode, 'cancelled', { status: input.reason ?? 'cancelled by operator' });
      const paths = bookPaths(deps.config.processingDir, input.barcode);
      // The unpacked record first: it is what marks the other files complete.
      await rm(paths.unpacked, { force: true });
      await Promise.all(Object.values(paths).map((p) => rm(p, { recursive: true, force: true })));
      deps.hostBooks.release(input.barcode); // no-op on a host that did not hold it (its own reconcile lets go)
    },

    /** Reads barcodes `offset .. offset+limit-1` of a batch list file (one barcode per line). */
    async readBatchBarcodes(input: { file: string; offset: number; limit: number }): Promise<string[]> {
      const lines = createInterface({ input: createReadStream(input.file), crlfDelay: Infinity });
      const out: string[] = [];
      let index = 0;
      for await (const raw of lines) {
        const line = raw.trim();
        if (!line) continue;
        if (index >= input.offset) out.push(line);
        index++;
        if (out.length >= input.limit) break;
      }
      lines.close();
      return out;
    },
  };
}

/** The workflow this activity runs for (empty outside an activity). */
function currentWorkflowId(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.workflowId;
  } catch {
    return undefined;
  }
}
