/**
 * Keeps this library's books at GRIN within what GRIN can hold, across all batches: before a book
 * is requested, the board's tokens are counted (`01_requested` = in GRIN's queue or converted but
 * not yet seen so; `02_converted` = converted, not yet downloaded). GRIN keeps about 5,000
 * converted packages and evicts the oldest, so requesting more than we download in time wastes a
 * conversion slot and sends the book back to GRIN; its queue refuses new requests at 50,000.
 * A book over a cap waits (a transient, benign failure retried after a pause) and says for what.
 *
 * Requests on one worker pass one at a time through the count, the GRIN call and the token move,
 * so they cannot overshoot the cap together. Several workers serving the GRIN queue at once may
 * overshoot by at most one request each.
 */
import pLimit from 'p-limit';
import type { Board } from '../buckets/board';
import { PipelineError } from '../common/errors';

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

export type Pacing = <T>(barcode: string, retryAfterSeconds: number, request: () => Promise<T>) => Promise<T>;

export function createGrinPacing(board: Pick<Board, 'locate' | 'countsOf'>, caps: PacingCaps): Pacing {
  const oneAtATime = pLimit(1);
  return (barcode, retryAfterSeconds, request) =>
    oneAtATime(async () => {
      const bucket = await board.locate(barcode);
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
        const atGrin = n['01_requested'] + n['02_converted'];
        if (atGrin >= caps.maxRequestedNotDownloaded) {
          throw new GrinRoomError(
            `${atGrin} of this library's books are requested and not downloaded yet (grin.pacing.maxRequestedNotDownloaded is ${caps.maxRequestedNotDownloaded})`,
            "room in GRIN's converted pool",
            retryAfterSeconds,
          );
        }
      }
      return request();
    });
}
