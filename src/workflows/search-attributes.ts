/**
 * Typed search attributes set on every book workflow so the Temporal Web UI can filter by them,
 * e.g. `GrinStage = "failed" AND GrinDirectory = "PRNC"`. Names and types are registered by the dev
 * server at start (`src/devtools/servers.ts`) and by `grin-pipeline setup` on other clusters.
 */
export const SEARCH_ATTRIBUTES = {
  GrinBarcode: 'Keyword',
  GrinDirectory: 'Keyword',
  GrinStage: 'Keyword',
  GrinBatch: 'Keyword',
} as const;

import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const GrinBarcode = defineSearchAttributeKey('GrinBarcode', SearchAttributeType.KEYWORD);
export const GrinDirectory = defineSearchAttributeKey('GrinDirectory', SearchAttributeType.KEYWORD);
export const GrinStage = defineSearchAttributeKey('GrinStage', SearchAttributeType.KEYWORD);
export const GrinBatch = defineSearchAttributeKey('GrinBatch', SearchAttributeType.KEYWORD);
