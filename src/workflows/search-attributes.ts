/**
 * Typed search attributes set on every book workflow so the Temporal Web UI can filter by them,
 * e.g. `GrinStage = "failed" AND GrinDirectory = "PRNC"`, and show them as list columns (a parked
 * book's `GrinParkReason` says why without opening it). Registered by the dev server at start
 * (`devkit/devtools/servers.ts`), by the compose file's one-shot (docker-compose.yml) and, on any other
 * cluster, by `start-batch` when they are missing (`ensureSearchAttributes` in `src/cli/common.ts`).
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributeUpdatePair } from '@temporalio/common';
import { parkReasonText } from './metadata';

/** Names and types, as the `temporal` CLI spells them. */
export const SEARCH_ATTRIBUTES = {
  GrinBarcode: 'Keyword',
  GrinDirectory: 'Keyword',
  GrinStage: 'Keyword',
  GrinBatch: 'Keyword',
  GrinParkReason: 'Keyword',
} as const;

export const GrinBarcode = defineSearchAttributeKey('GrinBarcode', SearchAttributeType.KEYWORD);
export const GrinDirectory = defineSearchAttributeKey('GrinDirectory', SearchAttributeType.KEYWORD);
export const GrinStage = defineSearchAttributeKey('GrinStage', SearchAttributeType.KEYWORD);
export const GrinBatch = defineSearchAttributeKey('GrinBatch', SearchAttributeType.KEYWORD);
/** Set while a book is parked: `<error type> at <stage>: <reason>`, short enough for a list column. */
export const GrinParkReason = defineSearchAttributeKey('GrinParkReason', SearchAttributeType.KEYWORD);

/**
 * The upsert that parks a book in the Web UI's list: `GrinStage = "failed"` and, when `withReason`
 * (the book workflow's patch `park-reason-attribute`), the short reason.
 */
export function parkedSearchAttributes(
  withReason: boolean,
  stage: string,
  message: string,
  type: string | undefined,
): SearchAttributeUpdatePair[] {
  return [
    { key: GrinStage, value: 'failed' },
    ...(withReason ? [{ key: GrinParkReason, value: parkReasonText(stage, message, type) }] : []),
  ];
}

/** The upsert that removes the reason when a parked book is retried (a null value removes the attribute). */
export function unparkedSearchAttributes(): SearchAttributeUpdatePair[] {
  return [{ key: GrinParkReason, value: null }];
}
