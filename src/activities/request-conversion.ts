/**
 * Stage 01: ask GRIN to convert the book (`_process`). Runs on the GRIN task queue, whose
 * server-side rate limit keeps every worker together under GRIN's request budget, and only when
 * there is room at GRIN for one more of this library's books (grin-pacing.ts).
 */
import { GrinRefusedError, QueueFullError } from '../grin/errors';
import type { ConversionOutcome } from '../grin/types';
import type { ActivityDeps } from './deps';
import { createGrinPacing } from './grin-pacing';
import { ensureConversionWatcher } from './tell-converted-books';
import { lookForConversion, markConverted } from './wait-for-conversion';

export interface RequestConversionResult {
  outcome: ConversionOutcome['kind'];
  /** With `watch`: GRIN already lists the package as converted (its file name); the token is in 02_converted. */
  converted?: string;
}

export interface RequestConversionInput {
  barcode: string;
  queueFullRetrySeconds: number;
  /**
   * The book waits for the conversion watcher (books from the `lean-book` patch on): if GRIN already
   * has the package converted, move the token on to 02_converted now; else make sure a watcher runs.
   */
  watch?: boolean;
}

export function createRequestConversionActivity(deps: ActivityDeps) {
  const paced = createGrinPacing(deps.board, deps.config.grin.pacing);
  return {
    async requestConversion(input: RequestConversionInput): Promise<RequestConversionResult> {
      const result = await paced(input.barcode, input.queueFullRetrySeconds, (requestSeq) => request(input, requestSeq));
      if (!input.watch) return result;
      // One look at the cached listing (the watcher's own, fetched at most once per poll interval);
      // if it fails, the watcher finds the book (the request is never sent again for a listing).
      const seen = await lookForConversion(deps, input.barcode, deps.config.grin.pollIntervalSeconds).catch(() => undefined);
      if (seen?.state === 'converted') {
        await markConverted(deps, input.barcode, seen.filename);
        return { ...result, converted: seen.filename };
      }
      // Only a book that will wait needs the watcher: signalling it for every book costs the server
      // a signal and the watcher a workflow task each.
      await ensureConversionWatcher(deps);
      return result;
    },
  };

  async function request(input: RequestConversionInput, requestSeq: number): Promise<RequestConversionResult> {
    let outcomes: Map<string, ConversionOutcome>;
    try {
      outcomes = await deps.grin.requestConversion([input.barcode]);
    } catch (err) {
      if (err instanceof QueueFullError) {
        // GRIN's 50,000-book queue is full: not the book's fault (benign). Ask again later, never park.
        await deps.board.update(input.barcode, { status: 'waiting: GRIN conversion queue is full' });
        const seconds = Math.max(input.queueFullRetrySeconds, err.retryAfterSeconds ?? 0);
        throw new QueueFullError(err.context, err.partial, err.notSubmitted, seconds);
      }
      throw err;
    }
    const outcome = outcomes.get(input.barcode) ?? { kind: 'unknown', text: 'GRIN did not answer for this barcode' };
    switch (outcome.kind) {
      case 'requested':
      case 'already_converting':
      case 'already_available':
        // The request time is what a lost request is measured from, so it is renewed on every request.
        // The request number says how old the package is at GRIN: a conversion GRIN already had
        // keeps the number of the request that started it.
        await deps.board.move(input.barcode, '01_requested', {
          status: describe(outcome),
          requestSeq: outcome.kind === 'requested' ? requestSeq : ((await deps.board.get(input.barcode))?.requestSeq ?? requestSeq),
          stages: { '01_requested': new Date().toISOString() },
        });
        return { outcome: outcome.kind };
      default:
        throw new GrinRefusedError({ endpoint: `GET /${deps.config.grin.directory}/_process`, barcode: input.barcode }, outcome);
    }
  }
}

function describe(outcome: ConversionOutcome): string {
  switch (outcome.kind) {
    case 'requested':
      return 'conversion requested';
    case 'already_converting':
      return 'GRIN was already converting it';
    case 'already_available':
      return 'GRIN already had it converted';
    default:
      return outcome.kind;
  }
}
