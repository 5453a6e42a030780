/**
 * Stage 02: wait until GRIN lists the package as converted. Each attempt looks the barcode up in this
 * worker's cached `_converted`/`_failed` listings (fetched at most once per poll interval however many
 * books wait) and, if it is not there yet, fails retryably: Temporal's activity retry is the poll loop,
 * so waiting for days adds no events to the workflow's history. (Books from the `lean-book` patch on
 * wait for the conversion watcher's signal instead: tell-converted-books.ts.)
 */
import { PipelineError } from '../common/errors';
import type { ActivityDeps } from './deps';
import type { ConversionNotice } from '../workflows/contracts';

/** Not converted yet: the normal answer while a book waits, so benign; ask again in a poll interval. */
export class NotConvertedYet extends PipelineError {
  constructor(barcode: string, pollIntervalSeconds: number) {
    super(`${barcode} is not converted yet`, { retryable: true, benign: true, retryAfterSeconds: pollIntervalSeconds });
  }
}

/** GRIN lists the book in `_failed`: its conversion failed, and asking again will not change that. */
export class GrinConversionFailed extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/**
 * In neither listing long after the request: GRIN dropped it, or the package left the pool unseen.
 * Not retryable here; the book workflow requests the conversion again.
 */
export class ConversionRequestLost extends PipelineError {
  constructor(barcode: string) {
    super(`${barcode} is neither converted nor in GRIN's conversion queue; requesting it again`, { retryable: false });
  }
}

export interface ConvertedResult {
  filename: string;
}

/** Where a requested book stands at GRIN, from this worker's cached listings. */
export type ConversionSeen = ConversionNotice | { state: 'waiting' };

/**
 * What GRIN's listings say of a book in 01_requested. `lost`: in neither list, in a snapshot taken
 * well after we asked (GRIN dropped the request, or the package left the converted pool unseen).
 */
export async function lookForConversion(
  deps: Pick<ActivityDeps, 'conversionListings' | 'board'>,
  barcode: string,
  pollIntervalSeconds: number,
): Promise<ConversionSeen> {
  const seen = await deps.conversionListings.check(barcode);
  if (seen.state === 'converted') return { state: 'converted', filename: seen.filename };
  if (seen.state === 'failed') {
    const e = seen.entry;
    const message =
      `GRIN could not convert ${barcode}` +
      (e.info ? `: ${e.info}` : '') +
      (e.detailedInfo ? ` (${e.detailedInfo})` : '') +
      (e.failedDate ? ` on ${e.failedDate}` : '');
    return { state: 'failed', message };
  }
  if (seen.inProcess === false) {
    const token = await deps.board.get(barcode);
    const requestedAt = Date.parse(token?.stages['01_requested'] ?? '');
    if (Number.isFinite(requestedAt) && seen.seenAt > requestedAt + pollIntervalSeconds * 1000) {
      return { state: 'lost', message: new ConversionRequestLost(barcode).message };
    }
  }
  return { state: 'waiting' };
}

/** The token's move once GRIN lists the package as converted (also the watcher's books, from their workflow). */
export async function markConverted(deps: Pick<ActivityDeps, 'board'>, barcode: string, filename: string): Promise<void> {
  await deps.board.move(barcode, '02_converted', { status: 'ready to download', grinFilename: filename });
}

export function createWaitForConversionActivity(deps: ActivityDeps) {
  return {
    async waitForConversion(input: { barcode: string; pollIntervalSeconds: number }): Promise<ConvertedResult> {
      const seen = await lookForConversion(deps, input.barcode, input.pollIntervalSeconds);
      switch (seen.state) {
        case 'converted':
          await markConverted(deps, input.barcode, seen.filename);
          return { filename: seen.filename };
        case 'failed':
          throw new GrinConversionFailed(seen.message);
        case 'lost':
          // Not retryable here; the book workflow requests the conversion again.
          throw new ConversionRequestLost(input.barcode);
        case 'waiting':
          throw new NotConvertedYet(input.barcode, input.pollIntervalSeconds);
      }
    },
  };
}
