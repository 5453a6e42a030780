/**
 * Typed search attributes set on every book workflow so the Temporal Web UI can filter by them,
 * e.g. `GrinStage = "failed" AND GrinDirectory = "PRNC"`. Registered by the dev server at start
 * (`src/devtools/servers.ts`) and, on any other cluster, by `start-batch` when they are missing
 * (`ensureSearchAttributes` in `src/cli/common.ts`).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Names and types, as the `temporal` CLI spells them. */
export const SEARCH_ATTRIBUTES = {
  GrinBarcode: 'Keyword',
  GrinDirectory: 'Keyword',
  GrinStage: 'Keyword',
  GrinBatch: 'Keyword',
} as const;

export const GrinBarcode = defineSearchAttributeKey('GrinBarcode', SearchAttributeType.KEYWORD);
export const GrinDirectory = defineSearchAttributeKey('GrinDirectory', SearchAttributeType.KEYWORD);
export const GrinStage = defineSearchAttributeKey('GrinStage', SearchAttributeType.KEYWORD);
export const GrinBatch = defineSearchAttributeKey('GrinBatch', SearchAttributeType.KEYWORD);
