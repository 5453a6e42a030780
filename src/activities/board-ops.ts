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
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { rm } from 'node:fs/promises';
import type { Bucket, StageBucket, TokenError } from '../buckets/token';
import { bookPaths, type ActivityDeps } from './deps';
import { classified } from './failures';
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

export function createBoardActivities(deps: ActivityDeps) {
  const { board } = deps;
  return {
    async registerBook(input: { barcode: string; directory: string; workflowId: string; batchId?: string }): Promise<RegisterResult> {
      return classified(async () => {
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
      });
    },

    /** The conversion watcher said GRIN lists the package: 01_requested → 02_converted (lean books). */
    async markConverted(input: { barcode: string; filename: string }): Promise<void> {
      await classified(() => markConverted(deps, input.barcode, input.filename));
    },

    /** Parks the book in `failed` with the reason an operator will read. */
    async parkBook(input: { barcode: string; stage: StageBucket; message: string; type?: string }): Promise<void> {
      await classified(async () => {
        const current = await board.get(input.barcode);
        const already = current?.bucket === 'failed' && current.lastError?.stage === input.stage && current.lastError.message === input.message;
        if (already) return;
        await board.move(input.barcode, 'failed', {
          status: `parked: ${input.stage} failed`,
          attempts: (current?.attempts ?? 0) + 1,
          lastError: { stage: input.stage, message: input.message, type: input.type, at: new Date().toISOString() },
        });
      });
    },

    /** On `retry`: back to the bucket before the stage that failed, keeping lastError for the record. */
    async unparkBook(input: { barcode: string; backTo: Bucket }): Promise<void> {
      await classified(async () => {
        const current = await board.get(input.barcode);
        await board.move(input.barcode, input.backTo, { status: 'retrying', lastError: current?.lastError });
      });
    },

    /**
     * Moves the token back to an earlier bucket when the workflow must redo stages (a lost host, a
     * fresh download after an integrity failure, local files gone), so the board shows where the book is.
     */
    async rewindBook(input: { barcode: string; to: StageBucket; status: string }): Promise<void> {
      await classified(async () => {
        await board.move(input.barcode, input.to, { status: input.status });
      });
    },

    /** On `cancel`: the token goes to `cancelled` and the book's local files are removed. */
    async cancelBook(input: { barcode: string; reason?: string }): Promise<void> {
      await classified(async () => {
        await board.move(input.barcode, 'cancelled', { status: input.reason ?? 'cancelled by operator' });
        const paths = bookPaths(deps.config.processingDir, input.barcode);
        // The unpacked record first: it is what marks the other files complete.
        await rm(paths.unpacked, { force: true });
        await Promise.all(Object.values(paths).map((p) => rm(p, { recursive: true, force: true })));
        deps.hostBooks.release(input.barcode); // no-op on a host that did not hold it (its own reconcile lets go)
      });
    },

    /** Reads barcodes `offset .. offset+limit-1` of a batch list file (one barcode per line). */
    async readBatchBarcodes(input: { file: string; offset: number; limit: number }): Promise<string[]> {
      return classified(async () => {
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
      });
    },
  };
}
