/**
 * Keeps this library's books at GRIN within what GRIN can hold, across all batches. Before a book
 * is requested:
 *  - GRIN's queue: the `01_requested` tokens (in GRIN's queue or converted but not yet seen so)
 *    stay under `maxInGrinQueue` (GRIN refuses new requests at 50,000);
 *  - GRIN's converted pool: GRIN keeps about 5,000 converted packages and evicts the oldest,
 *    downloaded or not, so a package is lost once that many newer ones are converted. Every request
 *    gets the next number of a request sequence (kept in the pipeline folder, on the token as
 *    `requestSeq`); a new request waits while the oldest book still at GRIN (`01_requested` or
 *    `02_converted`, not downloaded) and the new one would span more than
 *    `maxRequestedNotDownloaded` requests. That also caps the books requested and not downloaded,
 *    and unlike that count alone it holds when downloads finish out of order.
 * A book over a cap waits (a transient, benign failure retried after a pause) and says for what.
 *
 * Requests on one worker pass one at a time through the check, the GRIN call and the token move,
 * so they cannot overshoot together. Workers on several hosts may overshoot by about one request
 * each (they share the sequence file without a lock). Packages GRIN converted for other reasons
 * (requests from outside the pipeline) are not counted: keep the cap below GRIN's pool by that much.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Board } from '../buckets/board';
import type { BookToken } from '../buckets/token';
import { writeFileAtomic } from '../common/atomic-file';
import { PipelineError } from '../common/errors';
import { PRIVATE_DIR_MODE } from '../common/file-modes';

export interface PacingCaps {
  maxRequestedNotDownloaded: number;
  maxInGrinQueue: number;
}

/** A book waits for room at GRIN: not its fault, never parks. */
export class GrinRoomError extends PipelineError {
  constructor(message: string, waitingFor: string, retryAfterSeconds: number) {
    super(message, { retryable: true, benign: true, waitingFor, retryAfterSeconds });
  }
}

/** Runs `request` when there is room at GRIN; `request` gets the book's request number to record. */
export type Pacing = <T>(barcode: string, retryAfterSeconds: number, request: (requestSeq: number) => Promise<T>) => Promise<T>;

type PacingBoard = Pick<Board, 'root' | 'locate' | 'countsOf' | 'get' | 'list'>;

/** The file holding the number of the last request made (the pipeline folder is shared by all hosts). */
export function requestSequenceFile(board: Pick<Board, 'root'>): string {
  return join(board.root, 'meta', 'grin-request-seq');
}

export function createGrinPacing(board: PacingBoard, caps: PacingCaps): Pacing {
  const oneAtATime = pLimit(1);
  const file = requestSequenceFile(board);
  /** The oldest book at GRIN as last found; checked with one read, searched again only once it left. */
  let oldest: { barcode: string; seq: number } | null = null;

  async function lastSeq(): Promise<number> {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '0';
      throw err;
    });
    const n = Number.parseInt(text.trim(), 10);
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  }

  async function oldestAtGrin(): Promise<{ barcode: string; seq: number } | null> {
    if (oldest) {
      const token = await board.get(oldest.barcode);
      if (token && atGrin(token) && token.requestSeq === oldest.seq) return oldest;
    }
    oldest = null;
    for (const bucket of ['01_requested', '02_converted'] as const) {
      for (const token of (await board.list(bucket)).tokens) {
        // Tokens from before request numbers existed are not counted: their age is unknown.
        if (typeof token.requestSeq === 'number' && (!oldest || token.requestSeq < oldest.seq))
          oldest = { barcode: token.barcode, seq: token.requestSeq };
      }
    }
    return oldest;
  }

  return (barcode, retryAfterSeconds, request) =>
    oneAtATime(async () => {
      const bucket = await board.locate(barcode);
      const last = await lastSeq();
      const next = last + 1;
      // A book already counted (a retried or repeated request) takes no new room.
      if (bucket !== '01_requested' && bucket !== '02_converted') {
        const n = await board.countsOf(['01_requested', '02_converted'] as const);
        if (n['01_requested'] >= caps.maxInGrinQueue) {
          throw new GrinRoomError(
            `${n['01_requested']} of this library's books are requested and not converted yet (grin.pacing.maxInGrinQueue is ${caps.maxInGrinQueue})`,
            "room in GRIN's conversion queue",
            retryAfterSeconds,
          );
        }
        const atGrinCount = n['01_requested'] + n['02_converted'];
        if (atGrinCount >= caps.maxRequestedNotDownloaded) {
          throw new GrinRoomError(
            `${atGrinCount} of this library's books are requested and not downloaded yet (grin.pacing.maxRequestedNotDownloaded is ${caps.maxRequestedNotDownloaded})`,
            "room in GRIN's converted pool",
            retryAfterSeconds,
          );
        }
        const first = await oldestAtGrin();
        if (first && next - first.seq + 1 > caps.maxRequestedNotDownloaded) {
          throw new GrinRoomError(
            `book ${first.barcode} is not downloaded yet and ${last - first.seq} books were requested after it; one more would leave its package ` +
              `among the oldest GRIN evicts (grin.pacing.maxRequestedNotDownloaded is ${caps.maxRequestedNotDownloaded})`,
            `book ${first.barcode} to be downloaded (room in GRIN's converted pool)`,
            retryAfterSeconds,
          );
        }
      }
      const result = await request(next);
      // Numbered only once GRIN took the request; a crash before this line reuses the number (harmless).
      await mkdir(join(board.root, 'meta'), { recursive: true, mode: PRIVATE_DIR_MODE });
      await writeFileAtomic(file, `${next}\n`);
      return result;
    });
}

function atGrin(token: BookToken): boolean {
  return token.bucket === '01_requested' || token.bucket === '02_converted';
}
