/**
 * Stage 02: wait until GRIN lists the package as converted. Each attempt looks the barcode up in this
 * worker's cached `_converted`/`_failed` listings (fetched at most once per poll interval however many
 * books wait) and, if it is not there yet, fails retryably: Temporal's activity retry is the poll loop,
 * so waiting for days adds no events to the workflow's history.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityDeps } from './deps';
import { classified } from './failures';

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
          throw ApplicationFailure.nonRetryable(
            `GRIN could not convert ${input.barcode}` +
              (e.info ? `: ${e.info}` : '') +
              (e.detailedInfo ? ` (${e.detailedInfo})` : '') +
              (e.failedDate ? ` on ${e.failedDate}` : ''),
            'GrinConversionFailed',
          );
        }
        if (seen.inProcess === false) {
          // In neither list, in a snapshot taken well after we asked: GRIN dropped the request, or the
          // package left the converted pool before we saw it. Ask again rather than wait forever.
          const token = await deps.board.get(input.barcode);
          const requestedAt = Date.parse(token?.stages['01_requested'] ?? '');
          if (Number.isFinite(requestedAt) && seen.seenAt > requestedAt + input.pollIntervalSeconds * 1000) {
            throw ApplicationFailure.nonRetryable(
              `${input.barcode} is neither converted nor in GRIN's conversion queue; requesting it again`,
              'ConversionRequestLost',
            );
          }
        }
        throw ApplicationFailure.create({
          message: `${input.barcode} is not converted yet`,
          type: 'NotConvertedYet',
          nextRetryDelay: `${input.pollIntervalSeconds}s`,
        });
      });
    },
  };
}
