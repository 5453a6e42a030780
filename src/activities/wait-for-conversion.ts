/**
 * Stage 02: wait until GRIN lists the package as converted. Each attempt looks the barcode up in this
 * worker's cached `_converted`/`_failed` listings (fetched at most once per poll interval however many
 * books wait) and, if it is not there yet, fails retryably: Temporal's activity retry is the poll loop,
 * so waiting for days adds no events to the workflow's history.
 */
import { PipelineError } from '../common/errors';
import type { ActivityDeps } from './deps';
import { classified } from './failures';

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

export function createWaitForConversionActivity(deps: ActivityDeps) {
  return {
    async waitForConversion(input: { barcode: string; pollIntervalSeconds: number }): Promise<ConvertedResult> {
      return classified(async () => {
        const seen = await deps.watch.check(input.barcode);
        if (seen.state === 'converted') {
          await deps.board.move(input.barcode, '02_converted', { status: 'ready to download', grinFilename: seen.filename });
          return { filename: seen.filename };
        }
        if (seen.state === 'failed') {
          const e = seen.entry;
          throw new GrinConversionFailed(
            `GRIN could not convert ${input.barcode}` +
              (e.info ? `: ${e.info}` : '') +
              (e.detailedInfo ? ` (${e.detailedInfo})` : '') +
              (e.failedDate ? ` on ${e.failedDate}` : ''),
          );
        }
        if (seen.inProcess === false) {
          // In neither list, in a snapshot taken well after we asked: GRIN dropped the request, or the
          // package left the converted pool before we saw it. Ask again rather than wait forever.
          const token = await deps.board.get(input.barcode);
          const requestedAt = Date.parse(token?.stages['01_requested'] ?? '');
          if (Number.isFinite(requestedAt) && seen.seenAt > requestedAt + input.pollIntervalSeconds * 1000) {
            throw new ConversionRequestLost(input.barcode);
          }
        }
        throw new NotConvertedYet(input.barcode, input.pollIntervalSeconds);
      });
    },
  };
}
